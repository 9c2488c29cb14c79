"""Opening hours: weekday boundaries, next opening, exceptions, holidays, DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from rooms import ConfigError, FakeClock, OpeningHours, TimeRange

HEL = ZoneInfo("Europe/Helsinki")


def hel(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=HEL)


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=UTC)


def office(**extra: object) -> OpeningHours:
    """Mon 12-15, Tue-Fri 09-15, closed at weekends."""
    cfg: dict[str, object] = {
        "timezone": "Europe/Helsinki",
        "hours": {
            "mon": ["12:00-15:00"],
            "tue": ["09:00-15:00"],
            "wed": ["09:00-11:30", "12:30-15:00"],
            "thu": ["09:00-15:00"],
            "fri": ["09:00-15:00"],
        },
    }
    cfg.update(extra)
    return OpeningHours.from_config(cfg)


def test_time_range_parse_and_str() -> None:
    assert TimeRange.parse("09:00-15:30") == TimeRange(time(9), time(15, 30))
    r = TimeRange.parse("18:00-24:00")
    assert r.end == time(0) and r.ends_at_midnight
    assert str(r) == "18:00-24:00"
    with pytest.raises(ValueError):
        TimeRange(time(15), time(9))


@pytest.mark.parametrize(
    "text", ["9-15", "15:00-09:00", "10:00-10:00", "24:00-24:00", "09:60-10:00", "09:00-24:01"]
)
def test_time_range_parse_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        TimeRange.parse(text)


def test_weekday_boundaries_with_fake_clock() -> None:
    hours = office()
    clock = FakeClock(hel(2026, 11, 23, 11, 59, 59))  # Monday
    assert not hours.is_open(clock.now())
    clock.advance(1)
    assert hours.is_open(clock.now())  # 12:00:00 inclusive
    clock.set(hel(2026, 11, 23, 14, 59, 59))
    assert hours.is_open(clock.now())
    clock.advance(1)
    assert not hours.is_open(clock.now())  # 15:00:00 exclusive
    # Lunch break on Wednesday.
    assert hours.is_open(hel(2026, 11, 25, 11, 29))
    assert not hours.is_open(hel(2026, 11, 25, 12, 0))
    assert hours.next_opening(hel(2026, 11, 25, 12, 0)) == hel(2026, 11, 25, 12, 30)
    # Saturday is closed all day.
    assert not hours.is_open(hel(2026, 11, 28, 12, 0))


def test_is_open_uses_line_timezone_not_utc() -> None:
    hours = office()
    # Tuesday 07:30 UTC is 09:30 in Helsinki (winter, +02:00).
    assert hours.is_open(utc(2026, 11, 24, 7, 30))
    assert not hours.is_open(utc(2026, 11, 24, 6, 59))


def test_next_opening_from_friday_evening_is_monday_noon() -> None:
    hours = office()
    nxt = hours.next_opening(hel(2026, 11, 27, 18, 0))
    assert nxt == hel(2026, 11, 30, 12, 0)
    assert nxt is not None
    assert nxt.isoformat() == "2026-11-30T12:00:00+02:00"
    assert nxt.weekday() == 0
    assert nxt.tzinfo == HEL


def test_next_opening_is_none_when_open_and_strictly_after_when_closed() -> None:
    hours = office()
    assert hours.next_opening(hel(2026, 11, 24, 10, 0)) is None
    # One microsecond before opening: the next opening is that same day.
    assert hours.next_opening(hel(2026, 11, 24, 8, 59, 59)) == hel(2026, 11, 24, 9, 0)
    # Exactly at closing time: next is tomorrow.
    assert hours.next_opening(hel(2026, 11, 24, 15, 0)) == hel(2026, 11, 25, 9, 0)


def test_next_opening_none_when_never_open() -> None:
    hours = OpeningHours.from_config({"hours": {}})
    assert not hours.is_open(hel(2026, 1, 1, 12, 0))
    assert hours.next_opening(hel(2026, 1, 1, 12, 0)) is None
    assert hours.closes_at(hel(2026, 1, 1, 12, 0)) is None


def test_closes_at() -> None:
    hours = office()
    assert hours.closes_at(hel(2026, 11, 23, 13, 0)) == hel(2026, 11, 23, 15, 0)
    assert hours.closes_at(hel(2026, 11, 25, 10, 0)) == hel(2026, 11, 25, 11, 30)
    assert hours.closes_at(hel(2026, 11, 23, 16, 0)) is None


def test_closes_at_merges_periods_over_midnight() -> None:
    hours = OpeningHours.from_config(
        {"hours": {"mon": ["18:00-24:00"], "tue": ["00:00-02:00", "02:00-04:00"]}}
    )
    assert hours.is_open(hel(2026, 11, 23, 23, 59))
    assert hours.is_open(hel(2026, 11, 24, 0, 0))
    assert hours.closes_at(hel(2026, 11, 23, 19, 0)) == hel(2026, 11, 24, 4, 0)


def test_always_open() -> None:
    hours = OpeningHours.always()
    at = hel(2026, 12, 24, 3, 0)
    assert hours.is_open(at)
    assert hours.next_opening(at) is None
    assert hours.closes_at(at) is None
    assert OpeningHours.from_config({"always_open": True}).is_open(at)


def test_exceptions_replace_weekday_ranges() -> None:
    hours = office(exceptions={"2026-12-24": [], "2026-12-31": ["09:00-12:00"]})
    # Thursday 24 Dec closed all day, although Thursdays are open.
    assert not hours.is_open(hel(2026, 12, 24, 10, 0))
    assert hours.next_opening(hel(2026, 12, 24, 8, 0)) == hel(2026, 12, 25, 9, 0)
    # Thursday 31 Dec: shorter day.
    assert hours.is_open(hel(2026, 12, 31, 11, 59))
    assert not hours.is_open(hel(2026, 12, 31, 12, 0))
    assert hours.closes_at(hel(2026, 12, 31, 10, 0)) == hel(2026, 12, 31, 12, 0)


def test_exception_can_open_a_closed_day() -> None:
    hours = office(exceptions={"2026-11-28": ["10:00-13:00"]})  # a Saturday
    assert hours.next_opening(hel(2026, 11, 27, 18, 0)) == hel(2026, 11, 28, 10, 0)


def test_holidays_close_the_line() -> None:
    holidays = [date(2026, 12, 25), date(2026, 12, 24)]
    hours = OpeningHours.from_config(office_cfg(), holidays)
    assert not hours.is_open(hel(2026, 12, 25, 10, 0))
    # Thu 24 and Fri 25 are holidays; the weekend is closed: Monday noon.
    assert hours.next_opening(hel(2026, 12, 23, 16, 0)) == hel(2026, 12, 28, 12, 0)


def test_ignore_holidays() -> None:
    cfg = office_cfg()
    cfg["ignore_holidays"] = True
    hours = OpeningHours.from_config(cfg, [date(2026, 12, 25)])
    assert hours.is_open(hel(2026, 12, 25, 10, 0))


def test_own_exception_wins_over_holiday() -> None:
    cfg = office_cfg()
    cfg["exceptions"] = {"2026-12-25": ["10:00-12:00"]}
    hours = OpeningHours.from_config(cfg, [date(2026, 12, 25)])
    assert not hours.is_open(hel(2026, 12, 25, 9, 30))
    assert hours.is_open(hel(2026, 12, 25, 10, 30))


def office_cfg() -> dict[str, object]:
    days = ["09:00-15:00"]
    return {"hours": {"mon": ["12:00-15:00"], "tue": days, "wed": days, "thu": days, "fri": days}}


# DST in Europe/Helsinki, 2026: spring forward Sun 29 March 03:00 EET -> 04:00 EEST
# (01:00 UTC); fall back Sun 25 October 04:00 EEST -> 03:00 EET (01:00 UTC).


def test_spring_forward_night_range_over_the_gap() -> None:
    hours = OpeningHours.from_config({"exceptions": {"2026-03-29": ["02:00-05:00"]}})
    assert not hours.is_open(utc(2026, 3, 28, 23, 59, 59))
    assert hours.is_open(utc(2026, 3, 29, 0, 0))  # 02:00 EET
    assert hours.is_open(utc(2026, 3, 29, 0, 59, 59))  # 02:59:59 EET
    assert hours.is_open(utc(2026, 3, 29, 1, 0))  # 04:00 EEST
    assert not hours.is_open(utc(2026, 3, 29, 2, 0))  # 05:00 EEST
    closes = hours.closes_at(utc(2026, 3, 29, 0, 30))
    assert closes is not None
    assert closes.isoformat() == "2026-03-29T05:00:00+03:00"
    opens = hours.next_opening(utc(2026, 3, 28, 12, 0))
    assert opens is not None
    assert opens.isoformat() == "2026-03-29T02:00:00+02:00"


def test_spring_forward_start_inside_gap_opens_at_the_change() -> None:
    hours = OpeningHours.from_config({"exceptions": {"2026-03-29": ["03:30-06:00"]}})
    opens = hours.next_opening(hel(2026, 3, 28, 12, 0))
    assert opens is not None
    assert opens.isoformat() == "2026-03-29T04:00:00+03:00"
    assert opens == utc(2026, 3, 29, 1, 0)
    assert not hours.is_open(utc(2026, 3, 29, 0, 59))
    assert hours.is_open(utc(2026, 3, 29, 1, 0))


def test_spring_forward_range_entirely_in_gap_never_opens() -> None:
    hours = OpeningHours.from_config({"exceptions": {"2026-03-29": ["03:00-04:00"]}})
    assert not hours.is_open(utc(2026, 3, 29, 1, 0))
    assert not hours.is_open(utc(2026, 3, 29, 0, 59))
    assert hours.next_opening(hel(2026, 3, 28, 12, 0)) is None


def test_fall_back_night_range_over_the_repeated_hour() -> None:
    hours = OpeningHours.from_config({"exceptions": {"2026-10-25": ["02:00-05:00"]}})
    assert not hours.is_open(utc(2026, 10, 24, 22, 59, 59))
    assert hours.is_open(utc(2026, 10, 24, 23, 0))  # 02:00 EEST
    assert hours.is_open(utc(2026, 10, 25, 0, 30))  # 03:30 EEST (first time)
    assert hours.is_open(utc(2026, 10, 25, 1, 30))  # 03:30 EET (second time)
    assert hours.is_open(utc(2026, 10, 25, 2, 59))  # 04:59 EET
    assert not hours.is_open(utc(2026, 10, 25, 3, 0))  # 05:00 EET
    closes = hours.closes_at(utc(2026, 10, 25, 0, 0))
    assert closes is not None
    assert closes.isoformat() == "2026-10-25T05:00:00+02:00"


def test_fall_back_ambiguous_end_uses_first_occurrence() -> None:
    hours = OpeningHours.from_config({"exceptions": {"2026-10-25": ["03:00-03:30"]}})
    assert hours.is_open(utc(2026, 10, 25, 0, 15))  # 03:15 EEST
    assert not hours.is_open(utc(2026, 10, 25, 1, 15))  # 03:15 EET, second pass


def test_wall_clock_hours_across_dst_change() -> None:
    hours = office()
    # Same local 09:00 on both sides of the October change; different UTC instants.
    before = hours.next_opening(hel(2026, 10, 21, 16, 0))  # Wed -> Thu 22 Oct
    after = hours.next_opening(hel(2026, 10, 28, 16, 0))  # Wed -> Thu 29 Oct
    assert before == utc(2026, 10, 22, 6, 0)
    assert after == utc(2026, 10, 29, 7, 0)
    # Friday evening before spring forward -> Monday noon in summer time.
    nxt = hours.next_opening(hel(2026, 3, 27, 18, 0))
    assert nxt is not None
    assert nxt.isoformat() == "2026-03-30T12:00:00+03:00"
    # One real hour less than the wall clocks suggest (same-zone subtraction is wall time).
    elapsed = nxt.astimezone(UTC) - hel(2026, 3, 27, 18, 0).astimezone(UTC)
    assert elapsed == timedelta(days=2, hours=17)


def test_naive_datetime_rejected() -> None:
    with pytest.raises(ValueError):
        office().is_open(datetime(2026, 11, 23, 12, 0))


@pytest.mark.parametrize(
    ("cfg", "field"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"timezone": 3}, "timezone"),
        ({"always_open": "yes"}, "always_open"),
        ({"ignore_holidays": 1}, "ignore_holidays"),
        ({"hours": ["09:00-15:00"]}, "hours"),
        ({"hours": {"monday": ["09:00-15:00"]}}, "hours.monday"),
        ({"hours": {"mon": "09:00-15:00"}}, "hours.mon"),
        ({"hours": {"mon": ["09:00-15:00", "9-15"]}}, "hours.mon[1]"),
        ({"hours": {"tue": ["15:00-09:00"]}}, "hours.tue[0]"),
        ({"exceptions": {"24.12.2026": []}}, "exceptions.24.12.2026"),
        ({"exceptions": {"2026-12-24": ["x"]}}, "exceptions.2026-12-24[0]"),
    ],
)
def test_bad_config_names_the_field(cfg: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        OpeningHours.from_config(cfg)
    assert str(info.value).startswith(field + ":")
    assert isinstance(info.value, ValueError)
