"""The waiting list staff see per line (`StaffQueue` in docs/protocol.md): no identities."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from rooms.presence import PresenceCounts
from rooms.queues import QueueEntry

__all__ = ["StaffQueue", "waiting_id"]


def waiting_id(key: bytes, ticket: str) -> str:
    """An opaque id for a waiting caller, stable while they wait; not their participant id."""
    return "w-" + hmac.new(key, ticket.encode(), hashlib.sha256).hexdigest()[:12]


@dataclass(frozen=True)
class StaffQueue:
    """A line's waiting callers in order, and its consoles by status."""

    line: str
    waiting: tuple[tuple[str, datetime], ...]  # (waiting id, queued at), first answered next
    staff_available: int
    staff_away: int

    @classmethod
    def build(
        cls, line: str, entries: Sequence[QueueEntry], counts: PresenceCounts, key: bytes
    ) -> StaffQueue:
        return cls(
            line,
            tuple((waiting_id(key, e.ticket), e.enqueued_at) for e in entries),
            counts.available,
            counts.away,
        )

    def to_json(self, now: datetime) -> dict[str, object]:
        """The protocol's StaffQueue, with each caller's waiting time at `now`."""
        return {
            "line": self.line,
            "waiting": [
                {
                    "id": wid,
                    "position": position,
                    "waitedSeconds": max(0, int((now - queued_at).total_seconds())),
                }
                for position, (wid, queued_at) in enumerate(self.waiting, start=1)
            ],
            "staffAvailable": self.staff_available,
            "staffAway": self.staff_away,
        }
