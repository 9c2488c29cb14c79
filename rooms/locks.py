"""Named locks that serialise every change to one line or one room.

The memory backend uses asyncio locks; a shared backend takes a lock in the store (Redis:
``SET NX`` with a token, compare-and-delete to release), so that concurrent join, answer,
leave and hang-up on any node cannot interleave.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

__all__ = ["LockStore", "MemoryLockStore", "line_lock", "room_lock"]


def line_lock(line_id: str) -> str:
    return f"line:{line_id}"


def room_lock(room_id: str) -> str:
    return f"room:{room_id}"


class LockStore(Protocol):
    """Mutual exclusion by name."""

    def hold(self, name: str) -> AbstractAsyncContextManager[None]:
        """Hold the lock called `name` for the duration of an ``async with``."""
        ...


class MemoryLockStore:
    """In-process locks; a lock nobody holds or waits for is forgotten."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, name: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(name, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[name] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[name]
            if users <= 1:
                del self._locks[name]
            else:
                self._locks[name] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)
