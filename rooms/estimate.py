"""Wait estimates: a running mean of talk time per line and a simple queue model."""

from __future__ import annotations

import math
from typing import Protocol

__all__ = ["EWMA_ALPHA", "LineStatsStore", "MemoryLineStatsStore", "estimate_wait_seconds"]

EWMA_ALPHA = 0.2


class LineStatsStore(Protocol):
    """Per-line talk-time statistics (counts and durations only)."""

    async def record_talk_time(self, line_id: str, seconds: float) -> None:
        """Fold one answered call's talk time into the line's mean."""
        ...

    async def mean_talk_time(self, line_id: str) -> float | None:
        """Exponentially weighted mean talk time (alpha 0.2); None before any call."""
        ...


class MemoryLineStatsStore:
    """In-process LineStatsStore. The first sample sets the mean."""

    def __init__(self, alpha: float = EWMA_ALPHA) -> None:
        if not 0 < alpha <= 1:
            raise ValueError("alpha must be in (0, 1]")
        self._alpha = alpha
        self._means: dict[str, float] = {}

    async def record_talk_time(self, line_id: str, seconds: float) -> None:
        """mean <- alpha * seconds + (1 - alpha) * mean."""
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"talk time must be a finite number >= 0, got {seconds!r}")
        old = self._means.get(line_id)
        self._means[line_id] = (
            seconds if old is None else self._alpha * seconds + (1 - self._alpha) * old
        )

    async def mean_talk_time(self, line_id: str) -> float | None:
        """The line's current mean talk time, or None before any call."""
        return self._means.get(line_id)


def estimate_wait_seconds(position: int, mean_talk_seconds: float, staff_online: int) -> int:
    """Expected wait in seconds for the caller at `position` (1 = next), whole minutes.

    Model: the queue is first in, first out and each of the `staff_online` professionals
    (at least one is assumed) frees up on average every `mean_talk_seconds`, so callers
    leave the queue at a rate of staff_online / mean_talk_seconds and the caller at
    `position` waits position * mean_talk_seconds / staff_online. The result is rounded
    up to a multiple of 60; 0 when position <= 0.
    """
    if position <= 0:
        return 0
    if not math.isfinite(mean_talk_seconds) or mean_talk_seconds < 0:
        raise ValueError(f"mean_talk_seconds must be finite and >= 0, got {mean_talk_seconds!r}")
    seconds = position * mean_talk_seconds / max(1, staff_online)
    # Round away float noise (e.g. 360.0000000001) before rounding up to minutes.
    return math.ceil(round(seconds, 6) / 60) * 60
