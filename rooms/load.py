"""Gather a line's LineLoad (the estimate's inputs) from the store."""

from __future__ import annotations

from datetime import datetime

from rooms.estimate import RECENT_WINDOW, LineLoad
from rooms.lines import ServiceLine
from rooms.store import Store

__all__ = ["line_load"]


async def line_load(
    store: Store, line: ServiceLine, now: datetime, wrapup_seconds: float
) -> LineLoad:
    """Available professionals, mean talk time plus wrap-up, and the recent answers."""
    staff = await store.presence.count(line.id, now)
    mean = await store.stats.mean_talk_time(line.id)
    recent = await store.stats.recent_answers(line.id, now - RECENT_WINDOW)
    return LineLoad(staff, line.talk_seconds(mean) + wrapup_seconds, tuple(recent))
