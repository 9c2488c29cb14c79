"""The public LineStatus of a service line (see docs/protocol.md, `line.watch`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rooms.estimate import estimate_wait_seconds
from rooms.lines import ServiceLine

__all__ = ["LineStatus", "NextOpening", "line_status"]


@dataclass(frozen=True)
class NextOpening:
    """When a closed line opens next, in the line's own time zone (weekday 0 = Monday)."""

    at: datetime
    weekday: int
    time: str
    date: str

    @classmethod
    def from_datetime(cls, at: datetime) -> NextOpening:
        """Describe the local aware datetime `at`."""
        return cls(at, at.weekday(), at.strftime("%H:%M"), at.date().isoformat())

    def to_json(self) -> dict[str, object]:
        """`{"at", "weekday", "time", "date"}` as in the protocol."""
        return {
            "at": self.at.isoformat(),
            "weekday": self.weekday,
            "time": self.time,
            "date": self.date,
        }


@dataclass(frozen=True)
class LineStatus:
    """Whether a line is open and accepting callers, its queue and estimated wait."""

    id: str
    open: bool
    accepting: bool
    queue_length: int
    estimated_wait_seconds: int
    staff_online: int
    next_opening: NextOpening | None
    closes_at: datetime | None

    def to_json(self) -> dict[str, object]:
        """The protocol's LineStatus object."""
        return {
            "id": self.id,
            "open": self.open,
            "accepting": self.accepting,
            "queueLength": self.queue_length,
            "estimatedWaitSeconds": self.estimated_wait_seconds,
            "staffOnline": self.staff_online,
            "nextOpening": None if self.next_opening is None else self.next_opening.to_json(),
            "closesAt": None if self.closes_at is None else self.closes_at.isoformat(),
        }


def line_status(
    line: ServiceLine,
    now: datetime,
    queue_length: int,
    staff_online: int,
    mean_talk_seconds: float | None,
) -> LineStatus:
    """Status of `line` at `now`.

    The estimate is for a new caller (position queue_length + 1), using the line's
    default handling time until a mean talk time is known; it is computed even when
    the line is not accepting.
    """
    is_open = line.hours.is_open(now)
    mean = line.talk_seconds(mean_talk_seconds)
    next_at = None if is_open else line.hours.next_opening(now)
    return LineStatus(
        id=line.id,
        open=is_open,
        accepting=is_open and queue_length < line.max_queue,
        queue_length=queue_length,
        estimated_wait_seconds=estimate_wait_seconds(queue_length + 1, mean, staff_online),
        staff_online=staff_online,
        next_opening=None if next_at is None else NextOpening.from_datetime(next_at),
        closes_at=line.hours.closes_at(now) if is_open else None,
    )
