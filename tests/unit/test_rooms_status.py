"""LineStatus as sent to clients (docs/protocol.md)."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

from rooms import LineLoad, NextOpening, ServiceLine, line_status

HEL = ZoneInfo("Europe/Helsinki")


def demo_line(max_queue: int = 20) -> ServiceLine:
    return ServiceLine.from_config(
        "demo",
        {
            "names": {"fi": "Demo"},
            "hours": {"mon": ["12:00-15:00"], "fri": ["09:00-15:00"]},
            "max_queue": max_queue,
            "default_handle_minutes": 2,
        },
    )


def test_open_line_matches_protocol_example() -> None:
    now = datetime(2026, 11, 23, 13, 0, tzinfo=HEL)
    status = line_status(demo_line(), now, queue_length=2, load=LineLoad(1, 120.0))
    assert status.to_json() == {
        "id": "demo",
        "open": True,
        "accepting": True,
        "queueLength": 2,
        "estimatedWaitSeconds": 360,
        "staffOnline": 1,
        "staffAvailable": 1,
        "answerable": True,
        "reason": None,
        "warning": None,
        "nextStaffed": None,
        "nextOpening": None,
        "closesAt": "2026-11-23T15:00:00+02:00",
        "timeZone": "Europe/Helsinki",
        "weeklyHours": [
            {"weekday": 0, "ranges": [{"opens": "12:00", "closes": "15:00"}]},
            *({"weekday": d, "ranges": []} for d in (1, 2, 3)),
            {"weekday": 4, "ranges": [{"opens": "09:00", "closes": "15:00"}]},
            *({"weekday": d, "ranges": []} for d in (5, 6)),
        ],
    }


def test_open_line_without_available_staff_is_not_answerable() -> None:
    now = datetime(2026, 11, 23, 13, 0, tzinfo=HEL)  # Monday, open
    data = line_status(demo_line(), now, 0, LineLoad(0, 120.0)).to_json()
    assert data["open"] is True
    assert data["answerable"] is False
    assert data["accepting"] is False
    assert data["reason"] == "unstaffed"
    next_staffed = data["nextStaffed"]
    assert isinstance(next_staffed, dict)
    assert next_staffed["at"] == "2026-11-27T09:00:00+02:00"  # Friday's shift


def test_line_allowing_unstaffed_queueing_accepts_with_warning() -> None:
    now = datetime(2026, 11, 23, 13, 0, tzinfo=HEL)
    line = ServiceLine.from_config(
        "demo", {"names": {"fi": "Demo"}, "always_open": True, "queue_when_unstaffed": True}
    )
    data = line_status(line, now, 0, LineLoad(0, 120.0)).to_json()
    assert (data["accepting"], data["warning"], data["reason"]) == (True, "unstaffed", None)
    assert data["weeklyHours"] is None  # open around the clock


def test_closed_line_has_next_opening() -> None:
    now = datetime(2026, 11, 27, 18, 0, tzinfo=HEL)  # Friday evening
    status = line_status(demo_line(), now, queue_length=0, load=LineLoad(0, 300.0))
    data = status.to_json()
    assert data["open"] is False
    assert data["accepting"] is False
    assert data["closesAt"] is None
    assert data["nextOpening"] == {
        "at": "2026-11-30T12:00:00+02:00",
        "weekday": 0,
        "time": "12:00",
        "date": "2026-11-30",
    }
    assert data["estimatedWaitSeconds"] == 300
    json.dumps(data)  # plain JSON types only


def test_full_queue_is_not_accepting() -> None:
    now = datetime(2026, 11, 23, 13, 0, tzinfo=HEL)
    line = demo_line(max_queue=3)
    assert line_status(line, now, 2, LineLoad(1, 60.0)).accepting
    full = line_status(line, now, 3, LineLoad(2, 60.0))
    assert full.open and not full.accepting
    assert full.estimated_wait_seconds == 120  # position 4 * 60 s / 2 staff


def test_next_opening_from_datetime() -> None:
    n = NextOpening.from_datetime(datetime(2026, 3, 30, 9, 5, tzinfo=HEL))
    assert n == NextOpening(datetime(2026, 3, 30, 9, 5, tzinfo=HEL), 0, "09:05", "2026-03-30")
    assert n.to_json()["at"] == "2026-03-30T09:05:00+03:00"
