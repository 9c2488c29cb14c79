"""Per-line FIFO queues of waiting callers, behind a small async store interface."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from rooms.errors import AlreadyQueuedError, QueueFullError

__all__ = ["MemoryQueueStore", "QueueEntry", "QueueStore"]


@dataclass(frozen=True)
class QueueEntry:
    """One waiting caller, known only by an opaque ticket."""

    ticket: str
    line_id: str
    enqueued_at: datetime


class QueueStore(Protocol):
    """FIFO queues keyed by line id. Implementations must make each call atomic."""

    async def enqueue(
        self, line_id: str, ticket: str, enqueued_at: datetime, max_length: int
    ) -> int:
        """Append `ticket`; return its 1-based position.

        Raises AlreadyQueuedError if it is already in the queue, QueueFullError if the
        queue holds `max_length` or more.
        """
        ...

    async def remove(self, line_id: str, ticket: str) -> QueueEntry | None:
        """Take `ticket` out of the queue; None if it was not there."""
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

    async def length(self, line_id: str) -> int:
        """Number of waiting entries."""
        ...


class MemoryQueueStore:
    """In-process QueueStore (one node). Empty queues are dropped."""

    def __init__(self) -> None:
        self._queues: dict[str, OrderedDict[str, QueueEntry]] = {}

    async def enqueue(
        self, line_id: str, ticket: str, enqueued_at: datetime, max_length: int
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
        queue[ticket] = QueueEntry(ticket, line_id, enqueued_at)
        return len(queue)

    async def remove(self, line_id: str, ticket: str) -> QueueEntry | None:
        """Take `ticket` out of the queue; None if it was not there."""
        queue = self._queues.get(line_id)
        if queue is None:
            return None
        entry = queue.pop(ticket, None)
        self._drop_if_empty(line_id)
        return entry

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

    async def length(self, line_id: str) -> int:
        """Number of waiting entries."""
        return len(self._queues.get(line_id, ()))

    def _drop_if_empty(self, line_id: str) -> None:
        if not self._queues.get(line_id):
            self._queues.pop(line_id, None)
