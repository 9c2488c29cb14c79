"""The store bundle the gateway holds, and the factory for the in-memory backend."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from rooms.calls import CallRecordStore, MemoryCallRecordStore
from rooms.clock import Clock
from rooms.consent import ConsentLog, MemoryConsentLog
from rooms.estimate import LineStatsStore, MemoryLineStatsStore
from rooms.identification import IdentificationFlowStore, MemoryIdentificationFlowStore
from rooms.locks import LockStore, MemoryLockStore
from rooms.presence import MemoryPresenceStore, PresenceStore
from rooms.queues import MemoryQueueStore, QueueStore
from rooms.resume import MemoryResumeStore, ResumeStore
from rooms.roomstore import MemoryRoomStore, RoomStore
from rooms.tokens import MemoryOneTimeTokenStore, OneTimeTokenStore

__all__ = ["Store", "create_memory_store"]


@dataclass
class Store:
    """All shared state behind small interfaces; memory or (later) Redis backends.

    Everything that must outlive a socket or be read by another node lives here: queue
    entries, rooms and participants, staff presence, resume tokens, used one-time token
    ids, call records, the consent log, line statistics and identification flows in
    progress. Changes to one line or one room are serialised with ``locks``.
    """

    queues: QueueStore
    calls: CallRecordStore
    stats: LineStatsStore
    tokens: OneTimeTokenStore
    rooms: RoomStore
    presence: PresenceStore
    resume: ResumeStore
    locks: LockStore
    consents: ConsentLog
    identification: IdentificationFlowStore
    on_close: Callable[[], Awaitable[None]] | None = field(default=None, repr=False)

    async def close(self) -> None:
        """Release backend resources (e.g. a Redis connection pool). Idempotent."""
        on_close, self.on_close = self.on_close, None
        if on_close is not None:
            await on_close()


def create_memory_store(clock: Clock) -> Store:
    """A Store whose state lives in this process (single node, the default)."""
    return Store(
        queues=MemoryQueueStore(),
        calls=MemoryCallRecordStore(),
        stats=MemoryLineStatsStore(),
        tokens=MemoryOneTimeTokenStore(clock),
        rooms=MemoryRoomStore(),
        presence=MemoryPresenceStore(),
        resume=MemoryResumeStore(),
        locks=MemoryLockStore(),
        consents=MemoryConsentLog(),
        identification=MemoryIdentificationFlowStore(),
    )
