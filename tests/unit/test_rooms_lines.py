"""Service line config parsing and name fallbacks."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from rooms import ConfigError, ServiceLine

HEL = ZoneInfo("Europe/Helsinki")


def test_from_config_full() -> None:
    line = ServiceLine.from_config(
        "perhe-neuvonta",
        {
            "names": {"fi": "Perheneuvonta", "sv": "Familjerådgivning", "en": "Family advice"},
            "descriptions": {"fi": "Neuvontaa perheille"},
            "timezone": "Europe/Helsinki",
            "hours": {"mon": ["09:00-15:00"]},
            "exceptions": {"2026-11-30": []},
            "max_queue": 5,
            "default_handle_minutes": 10,
        },
        holidays=[date(2026, 12, 7)],
    )
    assert line.id == "perhe-neuvonta"
    assert line.max_queue == 5
    assert line.default_handle_seconds == 600
    assert line.hours.timezone == HEL
    assert line.hours.is_open(datetime(2026, 11, 23, 10, 0, tzinfo=HEL))
    assert not line.hours.is_open(datetime(2026, 11, 30, 10, 0, tzinfo=HEL))  # exception
    assert not line.hours.is_open(datetime(2026, 12, 7, 10, 0, tzinfo=HEL))  # holiday
    assert line.hours.is_open(datetime(2026, 12, 14, 10, 0, tzinfo=HEL))
    assert line.description("sv") == "Neuvontaa perheille"


def test_defaults() -> None:
    line = ServiceLine.from_config("demo", {"names": {"en": "Demo"}})
    assert line.max_queue == 20
    assert line.default_handle_seconds == 8 * 60
    assert line.hours.timezone == HEL
    assert not line.hours.always_open
    assert dict(line.descriptions) == {}
    assert line.description("fi") == ""


def test_name_fallbacks() -> None:
    both = ServiceLine.from_config("a", {"names": {"fi": "Suomeksi", "en": "English", "sv": "Sv"}})
    assert both.name("sv") == "Sv"
    assert both.name("sv-FI") == "Sv"
    assert both.name("ar") == "Suomeksi"
    en_only = ServiceLine.from_config("b", {"names": {"en": "English", "ru": "Русский"}})
    assert en_only.name("ar") == "English"
    ru_only = ServiceLine.from_config("c", {"names": {"ru": "Русский"}})
    assert ru_only.name("fi") == "Русский"


@pytest.mark.parametrize("line_id", ["", "Demo", "-demo", "de mo", "demo_1", "a" * 64, "ä"])
def test_bad_line_id(line_id: str) -> None:
    with pytest.raises(ConfigError, match="line id"):
        ServiceLine.from_config(line_id, {"names": {"fi": "x"}})


def test_longest_line_id_ok() -> None:
    assert ServiceLine.from_config("a" * 63, {"names": {"fi": "x"}}).id == "a" * 63


@pytest.mark.parametrize(
    ("cfg", "field"),
    [
        ({}, "lines.demo.names"),
        ({"names": {}}, "lines.demo.names"),
        ({"names": "Demo"}, "lines.demo.names"),
        ({"names": {"fi": ""}}, "lines.demo.names.fi"),
        ({"names": {"fi": 3}}, "lines.demo.names.fi"),
        ({"names": {"fi": "x"}, "descriptions": ["x"]}, "lines.demo.descriptions"),
        ({"names": {"fi": "x"}, "max_queue": 0}, "lines.demo.max_queue"),
        ({"names": {"fi": "x"}, "max_queue": "5"}, "lines.demo.max_queue"),
        ({"names": {"fi": "x"}, "max_queue": True}, "lines.demo.max_queue"),
        ({"names": {"fi": "x"}, "default_handle_minutes": 0}, "lines.demo.default_handle_minutes"),
        ({"names": {"fi": "x"}, "timezone": "Nowhere/City"}, "lines.demo.timezone"),
        ({"names": {"fi": "x"}, "hours": {"mon": ["9"]}}, "lines.demo.hours.mon[0]"),
        ({"names": {"fi": "x"}, "exceptions": {"x": []}}, "lines.demo.exceptions.x"),
    ],
)
def test_bad_config_names_the_field(cfg: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        ServiceLine.from_config("demo", cfg)
    assert str(info.value).startswith(field + ":")
