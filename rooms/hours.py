"""Opening hours of a service line in local wall-clock time.

Ranges are local wall-clock times of the line's time zone ("09:00-15:00" is 09:00-15:00
Helsinki time in winter and in summer). Each range on a date becomes a period of real time
that starts at the first instant the local clock shows the start and ends at the first instant
it shows the end. So across daylight-saving changes:

- a wall time that does not exist (spring forward, 03:00-04:00 in Helsinki) maps to the
  moment of the change: "02:00-05:00" that night is open 02:00 EET to 05:00 EEST (2 h);
- a wall time that occurs twice (fall back, 03:00-04:00) maps to its first occurrence:
  "02:00-05:00" that night is open 02:00 EEST to 05:00 EET (4 h).

`always_open` overrides everything, including exceptions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rooms.errors import ConfigError

__all__ = ["DEFAULT_TIMEZONE", "WEEKDAYS", "OpeningHours", "TimeRange"]

DEFAULT_TIMEZONE = "Europe/Helsinki"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SEARCH_DAYS = 400

_RANGE_RE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_END_OF_DAY = time(0, 0)

_Period = tuple[datetime, datetime]


@dataclass(frozen=True)
class TimeRange:
    """A local wall-clock range within one day, start inclusive, end exclusive.

    `end == time(0, 0)` means the end of the day ("24:00"); otherwise `start < end`.
    """

    start: time
    end: time

    def __post_init__(self) -> None:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("TimeRange times must be naive wall-clock times")
        if self.end != _END_OF_DAY and self.start >= self.end:
            raise ValueError(f"TimeRange start {self.start} must be before end {self.end}")

    @property
    def ends_at_midnight(self) -> bool:
        """True when the range runs to the end of the day ("24:00")."""
        return self.end == _END_OF_DAY

    @classmethod
    def parse(cls, text: str) -> TimeRange:
        """Parse "HH:MM-HH:MM"; "24:00" is allowed as the end. Raises ValueError."""
        m = _RANGE_RE.match(text)
        if m is None:
            raise ValueError(f'expected "HH:MM-HH:MM", got {text!r}')
        sh, sm, eh, em = (int(g) for g in m.groups())
        if not (0 <= sh <= 23 and 0 <= sm <= 59):
            raise ValueError(f"invalid start time in {text!r}")
        if (eh, em) == (24, 0):
            end = _END_OF_DAY
        elif 0 <= eh <= 23 and 0 <= em <= 59 and (eh, em) != (0, 0):
            end = time(eh, em)
        else:
            raise ValueError(f"invalid end time in {text!r}")
        start = time(sh, sm)
        if end != _END_OF_DAY and start >= end:
            raise ValueError(f"start must be before end in {text!r}")
        return cls(start, end)

    def __str__(self) -> str:
        end = "24:00" if self.ends_at_midnight else self.end.strftime("%H:%M")
        return f"{self.start.strftime('%H:%M')}-{end}"


def _require_aware(at: datetime) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"naive datetime not allowed: {at!r}")


def _first_instant(day: date, wall: time, tz: ZoneInfo) -> datetime:
    """First UTC instant at which the local clock in `tz` shows `day` `wall` or later."""
    local = datetime.combine(day, wall, tzinfo=tz)  # fold=0: first occurrence if ambiguous
    utc0 = local.astimezone(UTC)
    if utc0.astimezone(tz).replace(tzinfo=None) == local.replace(tzinfo=None):
        return utc0
    # `wall` falls in a gap: find the transition between the two candidate instants.
    new_offset = utc0.astimezone(tz).utcoffset()
    lo = int(local.replace(fold=1).astimezone(UTC).timestamp())
    hi = int(utc0.timestamp())
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, tz).utcoffset() == new_offset:
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, UTC)


@dataclass(frozen=True)
class OpeningHours:
    """Weekly opening hours with date exceptions, in a line's own time zone.

    `weekly` maps weekday (0 = Monday) to ranges; `exceptions` maps a date to ranges that
    replace that weekday's (an empty tuple closes the whole day).
    """

    timezone: ZoneInfo
    weekly: Mapping[int, tuple[TimeRange, ...]] = field(default_factory=dict)
    exceptions: Mapping[date, tuple[TimeRange, ...]] = field(default_factory=dict)
    always_open: bool = False

    @classmethod
    def always(cls, timezone: ZoneInfo | None = None) -> OpeningHours:
        """Hours of a line that never closes."""
        return cls(timezone or ZoneInfo(DEFAULT_TIMEZONE), always_open=True)

    def ranges_on(self, day: date) -> tuple[TimeRange, ...]:
        """The wall-clock ranges that apply on local date `day`."""
        if day in self.exceptions:
            return self.exceptions[day]
        return self.weekly.get(day.weekday(), ())

    def _periods(self, day: date) -> list[_Period]:
        """Non-empty UTC periods of local date `day`, sorted by start."""
        out: list[_Period] = []
        for r in self.ranges_on(day):
            start = _first_instant(day, r.start, self.timezone)
            if r.ends_at_midnight:
                end = _first_instant(day + timedelta(days=1), _END_OF_DAY, self.timezone)
            else:
                end = _first_instant(day, r.end, self.timezone)
            if start < end:
                out.append((start, end))
        out.sort()
        return out

    def _periods_around(self, at: datetime) -> list[_Period]:
        day = at.astimezone(self.timezone).date()
        out: list[_Period] = []
        for offset in (-1, 0, 1):
            out.extend(self._periods(day + timedelta(days=offset)))
        return out

    def _containing(self, at: datetime) -> _Period | None:
        for start, end in self._periods_around(at):
            if start <= at < end:
                return start, end
        return None

    def is_open(self, at: datetime) -> bool:
        """Whether the line is open at the aware datetime `at`."""
        _require_aware(at)
        return self.always_open or self._containing(at) is not None

    def next_opening(self, at: datetime) -> datetime | None:
        """When the line next opens after `at`, in the line's time zone.

        None if it is open at `at` (or always open), or does not open within 400 days.
        """
        _require_aware(at)
        if self.is_open(at):
            return None
        first_day = at.astimezone(self.timezone).date() - timedelta(days=1)
        best: datetime | None = None
        for n in range(SEARCH_DAYS + 2):
            starts = [s for s, _ in self._periods(first_day + timedelta(days=n)) if s > at]
            if best is not None:
                # One day past the first hit guards against clocks turned back over midnight.
                return min([best, *starts]).astimezone(self.timezone)
            if starts:
                best = min(starts)
        return None if best is None else best.astimezone(self.timezone)

    def closes_at(self, at: datetime) -> datetime | None:
        """When the open period containing `at` ends (adjacent periods merged).

        None if closed at `at`, always open, or open for the whole 400-day horizon.
        """
        _require_aware(at)
        if self.always_open:
            return None
        current = self._containing(at)
        if current is None:
            return None
        end = current[1]
        limit = at + timedelta(days=SEARCH_DAYS)
        while end <= limit:
            extended = max((e for s, e in self._periods_around(end) if s <= end < e), default=None)
            if extended is None:
                return end.astimezone(self.timezone)
            end = extended
        return None

    @classmethod
    def from_config(cls, cfg: Mapping[str, object], holidays: Iterable[date] = ()) -> OpeningHours:
        """Build from a config table (keys `timezone`, `always_open`, `hours`, `exceptions`,
        `ignore_holidays`; other keys are ignored).

        `holidays` close the line for the day unless `ignore_holidays` is true or the
        line's own `exceptions` name that date. Raises ConfigError.
        """
        tz = _parse_timezone(cfg.get("timezone", DEFAULT_TIMEZONE))
        always_open = _parse_bool(cfg, "always_open")
        ignore_holidays = _parse_bool(cfg, "ignore_holidays")
        weekly = _parse_weekly(cfg.get("hours", {}))
        own = _parse_exceptions(cfg.get("exceptions", {}))
        exceptions: dict[date, tuple[TimeRange, ...]] = {}
        if not ignore_holidays:
            for day in holidays:
                exceptions[day] = ()
        exceptions.update(own)
        return cls(
            timezone=tz,
            weekly=MappingProxyType(weekly),
            exceptions=MappingProxyType(exceptions),
            always_open=always_open,
        )


def _parse_timezone(value: object) -> ZoneInfo:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"timezone: expected an IANA time zone name, got {value!r}")
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"timezone: unknown time zone {value!r}") from exc


def _parse_bool(cfg: Mapping[str, object], key: str) -> bool:
    value = cfg.get(key, False)
    if not isinstance(value, bool):
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    return value


def _parse_ranges(value: object, where: str) -> tuple[TimeRange, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ConfigError(f'{where}: expected a list of "HH:MM-HH:MM" strings, got {value!r}')
    ranges: list[TimeRange] = []
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise ConfigError(f'{where}[{i}]: expected "HH:MM-HH:MM", got {item!r}')
        try:
            ranges.append(TimeRange.parse(item))
        except ValueError as exc:
            raise ConfigError(f"{where}[{i}]: {exc}") from exc
    return tuple(sorted(ranges, key=lambda r: r.start))


def _parse_weekly(value: object) -> dict[int, tuple[TimeRange, ...]]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"hours: expected a table of weekdays, got {value!r}")
    weekly: dict[int, tuple[TimeRange, ...]] = {}
    for key, ranges in value.items():
        if key not in WEEKDAYS:
            raise ConfigError(f"hours.{key}: unknown weekday (use {', '.join(WEEKDAYS)})")
        weekly[WEEKDAYS.index(key)] = _parse_ranges(ranges, f"hours.{key}")
    return weekly


def _parse_exceptions(value: object) -> dict[date, tuple[TimeRange, ...]]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"exceptions: expected a table of dates, got {value!r}")
    out: dict[date, tuple[TimeRange, ...]] = {}
    for key, ranges in value.items():
        if isinstance(key, date) and not isinstance(key, datetime):
            day = key
        else:
            try:
                day = date.fromisoformat(str(key))
            except ValueError as exc:
                raise ConfigError(f"exceptions.{key}: expected a YYYY-MM-DD date") from exc
        out[day] = _parse_ranges(ranges, f"exceptions.{key}")
    return out
