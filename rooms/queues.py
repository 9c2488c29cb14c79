"""Per-line FIFO queues of waiting callers, behind a small async store interface."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from rooms.errors import AlreadyQueuedError, QueueFullError

__all__ = ["MemoryQueueStore", "QueueEntry", "QueueStore"]


@dataclass(frozen=True)
class QueueEntry:
    """One waiting caller, known only by an opaque ticket (the participant id).

    ``owner`` is the node that holds the caller's connection; ``lease_expires`` is when the
    entry counts as abandoned unless that node renews it (a node that dies stops renewing).
    """

    ticket: str
    line_id: str
    enqueued_at: datetime
    owner: str = ""
    lease_expires: datetime | None = None

    def expired(self, now: datetime) -> bool:
        return self.lease_expires is not None and self.lease_expires <= now


class QueueStore(Protocol):
    """FIFO queues keyed by line id. Implementations must make each call atomic."""

    async def enqueue(
        self,
        line_id: str,
        ticket: str,
        enqueued_at: datetime,
        max_length: int,
        owner: str = "",
        lease_expires: datetime | None = None,
    ) -> int:
        """Append `ticket`; return its 1-based position.

        Raises AlreadyQueuedError if it is already in the queue, QueueFullError if the
        queue holds `max_length` or more.
        """
        ...

    async def remove(self, line_id: str, ticket: str) -> QueueEntry | None:
        """Take `ticket` out of the queue; None if it was not there."""
        ...

    async def get(self, line_id: str, ticket: str) -> QueueEntry | None:
        """The entry of `ticket`, or None if it is not queued."""
        ...

    async def renew(self, line_id: str, ticket: str, owner: str, lease_expires: datetime) -> bool:
        """Extend the lease (and set the owner) of a queued entry; False if not queued."""
        ...

    async def take_expired(self, line_id: str, now: datetime) -> list[QueueEntry]:
        """Remove and return the entries whose lease has run out."""
        ...

    async def pop_next(self, line_id: str) -> QueueEntry | None:
        """Take the first (longest-waiting) entry; None if the queue is empty."""
        ...

    async def position(self, line_id: str, ticket: str) -> int | None:
        """1-based position of `ticket`, or None if it is not queued."""
        ...

    async def tickets(self, line_id: str) -> list[str]:
        """All tickets in queue order."""
        ...

    async def entries(self, line_id: str) -> list[QueueEntry]:
        """All entries in queue order."""
        ...

    async def length(self, line_id: str) -> int:
        """Number of waiting entries."""
        ...


class MemoryQueueStore:
    """In-process QueueStore (one node). Empty queues are dropped."""

    def __init__(self) -> None:
        self._queues: dict[str, OrderedDict[str, QueueEntry]] = {}

    async def enqueue(
        self,
        line_id: str,
        ticket: str,
        enqueued_at: datetime,
        max_length: int,
        owner: str = "",
        lease_expires: datetime | None = None,
    ) -> int:
        """Append `ticket`; return its 1-based position."""
        queue = self._queues.get(line_id)
        if queue is not None and ticket in queue:
            raise AlreadyQueuedError(f"ticket already queued in line {line_id!r}")
        length = 0 if queue is None else len(queue)
        if length >= max_length:
            raise QueueFullError(f"queue of line {line_id!r} is full ({length}/{max_length})")
        if queue is None:
            queue = self._queues[line_id] = OrderedDict()
        queue[ticket] = QueueEntry(ticket, line_id, enqueued_at, owner, lease_expires)
        return len(queue)

    async def remove(self, line_id: str, ticket: str) -> QueueEntry | None:
        """Take `ticket` out of the queue; None if it was not there."""
        queue = self._queues.get(line_id)
        if queue is None:
            return None
        entry = queue.pop(ticket, None)
        self._drop_if_empty(line_id)
        return entry

    async def get(self, line_id: str, ticket: str) -> QueueEntry | None:
        """The entry of `ticket`, or None if it is not queued."""
        queue = self._queues.get(line_id)
        return None if queue is None else queue.get(ticket)

    async def renew(self, line_id: str, ticket: str, owner: str, lease_expires: datetime) -> bool:
        """Extend the lease (and set the owner) of a queued entry; False if not queued."""
        queue = self._queues.get(line_id)
        if queue is None or ticket not in queue:
            return False
        queue[ticket] = replace(queue[ticket], owner=owner, lease_expires=lease_expires)
        return True

    async def take_expired(self, line_id: str, now: datetime) -> list[QueueEntry]:
        """Remove and return the entries whose lease has run out."""
        queue = self._queues.get(line_id)
        if queue is None:
            return []
        gone = [entry for entry in queue.values() if entry.expired(now)]
        for entry in gone:
            del queue[entry.ticket]
        self._drop_if_empty(line_id)
        return gone

    async def pop_next(self, line_id: str) -> QueueEntry | None:
        """Take the first (longest-waiting) entry; None if the queue is empty."""
        queue = self._queues.get(line_id)
        if not queue:
            return None
        _, entry = queue.popitem(last=False)
        self._drop_if_empty(line_id)
        return entry

    async def position(self, line_id: str, ticket: str) -> int | None:
        """1-based position of `ticket`, or None if it is not queued (O(n))."""
        queue = self._queues.get(line_id)
        if queue is None or ticket not in queue:
            return None
        for index, key in enumerate(queue, start=1):
            if key == ticket:
                return index
        return None  # pragma: no cover - unreachable

    async def tickets(self, line_id: str) -> list[str]:
        """All tickets in queue order."""
        return list(self._queues.get(line_id, ()))

    async def entries(self, line_id: str) -> list[QueueEntry]:
        """All entries in queue order."""
        return list(self._queues.get(line_id, {}).values())

    async def length(self, line_id: str) -> int:
        """Number of waiting entries."""
        return len(self._queues.get(line_id, ()))

    def _drop_if_empty(self, line_id: str) -> None:
        if not self._queues.get(line_id):
            self._queues.pop(line_id, None)
