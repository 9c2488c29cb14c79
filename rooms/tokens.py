"""One-time token ids: each may be used once until it expires (replay protection)."""

from __future__ import annotations

import heapq
from datetime import datetime
from typing import Protocol

from rooms.clock import Clock

__all__ = ["MemoryOneTimeTokenStore", "OneTimeTokenStore"]


class OneTimeTokenStore(Protocol):
    """Remembers consumed token ids until they expire (Redis: SET NX with expiry)."""

    async def consume(self, token_id: str, expires_at: datetime) -> bool:
        """True the first time `token_id` is seen, False afterwards.

        An id may be forgotten once `expires_at` has passed; a token already past
        `expires_at` is never accepted.
        """
        ...

    async def used(self, token_id: str) -> bool:
        """True if `token_id` has been consumed (and not yet forgotten)."""
        ...


class MemoryOneTimeTokenStore:
    """In-process OneTimeTokenStore that purges expired ids as it goes."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._expiry: dict[str, datetime] = {}
        self._heap: list[tuple[datetime, str]] = []

    async def consume(self, token_id: str, expires_at: datetime) -> bool:
        """True the first time `token_id` is seen (and not yet expired), else False."""
        if expires_at.tzinfo is None or expires_at.utcoffset() is None:
            raise ValueError("expires_at must be time-zone aware")
        now = self._clock.now()
        self._purge(now)
        if expires_at <= now or token_id in self._expiry:
            return False
        self._expiry[token_id] = expires_at
        heapq.heappush(self._heap, (expires_at, token_id))
        return True

    async def used(self, token_id: str) -> bool:
        """True if `token_id` has been consumed (and not yet forgotten)."""
        self._purge(self._clock.now())
        return token_id in self._expiry

    def __len__(self) -> int:
        return len(self._expiry)

    def _purge(self, now: datetime) -> None:
        while self._heap and self._heap[0][0] <= now:
            _, token_id = heapq.heappop(self._heap)
            self._expiry.pop(token_id, None)
