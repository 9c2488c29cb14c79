"""The public LineStatus of a service line (see docs/protocol.md, `line.watch`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rooms.estimate import LineLoad, estimate_wait_seconds
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
    staff_online: int  # available consoles (the same as staff_available)
    next_opening: NextOpening | None
    closes_at: datetime | None
    answerable: bool = False
    reason: str | None = None  # why not accepting: closed, full, unstaffed
    warning: str | None = None  # "unstaffed": accepting although nobody is available
    next_staffed: NextOpening | None = None
    time_zone: str = ""
    weekly_hours: tuple[tuple[int, tuple[tuple[str, str], ...]], ...] | None = None

    def to_json(self) -> dict[str, object]:
        """The protocol's LineStatus object."""
        return {
            "id": self.id,
            "open": self.open,
            "accepting": self.accepting,
            "queueLength": self.queue_length,
            "estimatedWaitSeconds": self.estimated_wait_seconds,
            "staffOnline": self.staff_online,
            "staffAvailable": self.staff_online,
            "answerable": self.answerable,
            "reason": self.reason,
            "warning": self.warning,
            "nextStaffed": None if self.next_staffed is None else self.next_staffed.to_json(),
            "nextOpening": None if self.next_opening is None else self.next_opening.to_json(),
            "closesAt": None if self.closes_at is None else self.closes_at.isoformat(),
            "timeZone": self.time_zone,
            "weeklyHours": None
            if self.weekly_hours is None
            else [
                {
                    "weekday": weekday,
                    "ranges": [{"opens": a, "closes": b} for a, b in ranges],
                }
                for weekday, ranges in self.weekly_hours
            ],
        }


def line_status(
    line: ServiceLine,
    now: datetime,
    queue_length: int,
    load: LineLoad,
) -> LineStatus:
    """Status of `line` at `now`; `load.staff_available` counts the *available* consoles.

    The estimate is for a new caller (position queue_length + 1); it is computed even
    when the line is not accepting.
    """
    staff_online = load.staff_available
    is_open = line.hours.is_open(now)
    next_at = None if is_open else line.hours.next_opening(now)
    answerable = is_open and staff_online > 0
    reason: str | None = None
    warning: str | None = None
    if not is_open:
        reason = "closed"
    elif queue_length >= line.max_queue:
        reason = "full"
    elif not answerable:
        if line.queue_when_unstaffed:
            warning = "unstaffed"
        else:
            reason = "unstaffed"
    next_staffed = None
    if is_open and not answerable:
        closes = line.hours.closes_at(now)
        staffed_at = line.hours.next_opening(closes) if closes is not None else None
        next_staffed = None if staffed_at is None else NextOpening.from_datetime(staffed_at)
    return LineStatus(
        id=line.id,
        open=is_open,
        accepting=reason is None,
        queue_length=queue_length,
        estimated_wait_seconds=estimate_wait_seconds(queue_length + 1, load),
        staff_online=staff_online,
        next_opening=None if next_at is None else NextOpening.from_datetime(next_at),
        closes_at=line.hours.closes_at(now) if is_open else None,
        answerable=answerable,
        reason=reason,
        warning=warning,
        next_staffed=next_staffed,
        time_zone=line.hours.timezone.key,
        weekly_hours=weekly_hours(line),
    )


def weekly_hours(line: ServiceLine) -> tuple[tuple[int, tuple[tuple[str, str], ...]], ...] | None:
    """The line's regular weekly hours, Monday first; None when open around the clock."""
    if line.hours.always_open:
        return None
    return tuple(
        (
            weekday,
            tuple(
                (
                    r.start.strftime("%H:%M"),
                    "24:00" if r.ends_at_midnight else r.end.strftime("%H:%M"),
                )
                for r in line.hours.weekly.get(weekday, ())
            ),
        )
        for weekday in range(7)
    )
