"""Staff presence per line: how many professionals can answer a line right now."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

__all__ = ["MemoryPresenceStore", "PresenceStore"]


class PresenceStore(Protocol):
    """Professionals' consoles, each announced with its lines until it expires."""

    async def announce(
        self, presence_id: str, lines: tuple[str, ...], expires_at: datetime
    ) -> None:
        """Mark a console as online for `lines` until `expires_at` (renew to stay)."""
        ...

    async def withdraw(self, presence_id: str) -> None:
        """The console has gone."""
        ...

    async def count(self, line_id: str, now: datetime) -> int:
        """Consoles online for `line_id` at `now`."""
        ...


class MemoryPresenceStore:
    """In-process PresenceStore."""

    def __init__(self) -> None:
        self._presence: dict[str, tuple[tuple[str, ...], datetime]] = {}

    async def announce(
        self, presence_id: str, lines: tuple[str, ...], expires_at: datetime
    ) -> None:
        self._presence[presence_id] = (tuple(lines), expires_at)

    async def withdraw(self, presence_id: str) -> None:
        self._presence.pop(presence_id, None)

    async def count(self, line_id: str, now: datetime) -> int:
        for presence_id in [k for k, (_, until) in self._presence.items() if until <= now]:
            del self._presence[presence_id]
        return sum(1 for lines, _ in self._presence.values() if line_id in lines)
