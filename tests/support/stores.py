"""Store backends for the contract suite: the memory backend, and one that yields a lot.

The yielding variant wraps every operation of every sub-store (and every lock) so that it
gives the event loop a turn before and after it runs: concurrent operations then
interleave wherever a real network store (Redis) would let them.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from rooms.clock import Clock
from rooms.store import Store, create_memory_store

SUBSTORES = (
    "queues",
    "calls",
    "stats",
    "tokens",
    "rooms",
    "presence",
    "resume",
    "identification",
    "consents",
)


class Yielding:
    """Proxy whose coroutine methods yield to the loop before and after the real call."""

    def __init__(self, inner: object) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if not inspect.iscoroutinefunction(value):
            return value

        async def call(*args: Any, **kwargs: Any) -> Any:
            await asyncio.sleep(0)
            try:
                return await value(*args, **kwargs)
            finally:
                await asyncio.sleep(0)

        return call


class YieldingLocks:
    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def hold(self, name: str) -> AbstractAsyncContextManager[None]:
        @asynccontextmanager
        async def held() -> AsyncIterator[None]:
            await asyncio.sleep(0)
            async with self._inner.hold(name):
                await asyncio.sleep(0)
                yield
            await asyncio.sleep(0)

        return held()


def yielding_memory_store(clock: Clock) -> Store:
    store = create_memory_store(clock)
    for name in SUBSTORES:
        setattr(store, name, Yielding(getattr(store, name)))
    store.locks = YieldingLocks(store.locks)
    return store


BACKENDS: dict[str, Callable[[Clock], Store]] = {
    "memory": create_memory_store,
    "memory-yielding": yielding_memory_store,
}
