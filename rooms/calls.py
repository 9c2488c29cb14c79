"""Anonymous records of finished calls: line, times, outcome, end reason, counts by role."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

__all__ = ["CallOutcome", "CallRecord", "CallRecordStore", "MemoryCallRecordStore"]


class CallOutcome(StrEnum):
    """How a queued call ended."""

    ANSWERED = "answered"
    ABANDONED = "abandoned"  # the caller left the queue
    REJECTED = "rejected"  # refused: line closed or queue full
    # Lower-case aliases, so `CallOutcome.answered` works as well.
    answered = "answered"
    abandoned = "abandoned"
    rejected = "rejected"


@dataclass(frozen=True)
class CallRecord:
    """A finished call. Holds nothing that identifies a person (no names, addresses)."""

    call_id: str
    line_id: str
    queued_at: datetime
    answered_at: datetime | None
    ended_at: datetime
    outcome: CallOutcome
    end_reason: str
    participants: dict[str, int] = field(default_factory=dict)  # counts by role, no one named
    identified: str | None = None  # the assurance level if the resident identified, no more

    def __post_init__(self) -> None:
        stamps = [self.queued_at, self.ended_at]
        if self.answered_at is not None:
            stamps.append(self.answered_at)
        if any(t.tzinfo is None or t.utcoffset() is None for t in stamps):
            raise ValueError("CallRecord times must be time-zone aware")
        if self.ended_at < self.queued_at:
            raise ValueError("CallRecord ended_at is before queued_at")
        if (self.answered_at is not None) != (self.outcome is CallOutcome.ANSWERED):
            raise ValueError("CallRecord answered_at must be set exactly when answered")

    @property
    def wait_seconds(self) -> float | None:
        """Seconds from queued to answered; None if never answered."""
        if self.answered_at is None:
            return None
        return (self.answered_at - self.queued_at).total_seconds()

    @property
    def talk_seconds(self) -> float | None:
        """Seconds from answered to ended; None if never answered."""
        if self.answered_at is None:
            return None
        return (self.ended_at - self.answered_at).total_seconds()


class CallRecordStore(Protocol):
    """Append-only store of call records."""

    async def add(self, record: CallRecord) -> None:
        """Store a finished call."""
        ...

    async def recent(self, line_id: str | None = None, limit: int = 100) -> list[CallRecord]:
        """Up to `limit` records (of `line_id`, or all lines), most recently added first."""
        ...


class MemoryCallRecordStore:
    """In-process CallRecordStore keeping only the newest `max_records` records."""

    def __init__(self, max_records: int = 10000) -> None:
        if max_records < 1:
            raise ValueError("max_records must be >= 1")
        self._records: deque[CallRecord] = deque(maxlen=max_records)

    async def add(self, record: CallRecord) -> None:
        """Store a finished call, dropping the oldest when full."""
        self._records.append(record)

    async def recent(self, line_id: str | None = None, limit: int = 100) -> list[CallRecord]:
        """Up to `limit` records (of `line_id`, or all lines), most recently added first."""
        out: list[CallRecord] = []
        if limit <= 0:
            return out
        for record in reversed(self._records):
            if line_id is None or record.line_id == line_id:
                out.append(record)
                if len(out) >= limit:
                    break
        return out
