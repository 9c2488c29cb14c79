"""Staff presence per line: which professionals' consoles are signed in, and available.

A console is *available* (counts for the line, may answer) or *away* (signed in, not
counted). Only available consoles make a line answerable.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

__all__ = ["MemoryPresenceStore", "PresenceCounts", "PresenceStore"]


@dataclass(frozen=True)
class PresenceCounts:
    """A line's signed-in consoles by status."""

    available: int = 0
    away: int = 0


class PresenceStore(Protocol):
    """Professionals' consoles, each announced with its lines until it expires."""

    async def announce(
        self,
        presence_id: str,
        lines: tuple[str, ...],
        expires_at: datetime,
        available: bool = True,
    ) -> None:
        """Mark a console as online for `lines` until `expires_at` (renew to stay)."""
        ...

    async def withdraw(self, presence_id: str) -> None:
        """The console has gone."""
        ...

    async def count(self, line_id: str, now: datetime) -> int:
        """Available consoles for `line_id` at `now` (away ones are not counted)."""
        ...

    async def counts(self, line_id: str, now: datetime) -> PresenceCounts:
        """Consoles for `line_id` at `now`, available and away."""
        ...


class MemoryPresenceStore:
    """In-process PresenceStore."""

    def __init__(self) -> None:
        self._presence: dict[str, tuple[tuple[str, ...], datetime, bool]] = {}

    async def announce(
        self,
        presence_id: str,
        lines: tuple[str, ...],
        expires_at: datetime,
        available: bool = True,
    ) -> None:
        self._presence[presence_id] = (tuple(lines), expires_at, available)

    async def withdraw(self, presence_id: str) -> None:
        self._presence.pop(presence_id, None)

    async def count(self, line_id: str, now: datetime) -> int:
        return (await self.counts(line_id, now)).available

    async def counts(self, line_id: str, now: datetime) -> PresenceCounts:
        for presence_id in [k for k, (_, until, _) in self._presence.items() if until <= now]:
            del self._presence[presence_id]
        available = away = 0
        for lines, _, is_available in self._presence.values():
            if line_id in lines:
                if is_available:
                    available += 1
                else:
                    away += 1
        return PresenceCounts(available, away)
