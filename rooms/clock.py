"""Injectable wall clocks: real (`SystemClock`) and controllable (`FakeClock`) for tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["Clock", "FakeClock", "SystemClock"]


def _require_aware(dt: datetime) -> datetime:
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"naive datetime not allowed: {dt!r}")
    return dt.astimezone(UTC)


class Clock(Protocol):
    """Source of the current time."""

    def now(self) -> datetime:
        """Return the current time as an aware UTC datetime."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """Return the current time as an aware UTC datetime."""
        return datetime.now(UTC)


class FakeClock:
    """A clock that only moves when told to; for tests."""

    def __init__(self, start: datetime) -> None:
        self._now = _require_aware(start)

    def now(self) -> datetime:
        """Return the fake current time (aware, UTC)."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by `seconds` (negative moves it back)."""
        self._now += timedelta(seconds=seconds)

    def set(self, dt: datetime) -> None:
        """Jump to the aware datetime `dt`."""
        self._now = _require_aware(dt)
