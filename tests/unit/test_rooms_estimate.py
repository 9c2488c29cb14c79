"""The one wait estimate: capacity model, observed pace of recent answers, fake clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from rooms import MemoryLineStatsStore, ServiceLine, estimate_wait_seconds
from rooms.clock import FakeClock
from rooms.estimate import FULL_WEIGHT_GAPS, AnswerSample, LineLoad, busy_gaps, seconds_per_caller
from rooms.load import line_load
from rooms.participants import Participant, ParticipantRole
from rooms.store import create_memory_store
from rooms.switchboard import Switchboard

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def answers(*pairs: tuple[float, float], staff: int = 1) -> tuple[AnswerSample, ...]:
    """Samples from (queued at, answered at) in seconds after T0."""
    return tuple(
        AnswerSample(T0 + timedelta(seconds=b), T0 + timedelta(seconds=a), staff) for a, b in pairs
    )


@pytest.mark.parametrize(
    ("position", "handle", "staff", "expected"),
    [
        (1, 120.0, 1, 120),
        (3, 120.0, 1, 360),
        (3, 120.0, 2, 180),  # 180 s is already whole minutes
        (1, 90.0, 1, 120),  # 90 s rounds up to 2 min
        (1, 61.0, 1, 120),
        (2, 90.0, 3, 60),  # 60 s
        (5, 100.0, 0, 540),  # nobody available counts as one: 500 s -> 9 min
        (3, 100.0, 1, 300),
        (7, 0.1 * 3, 1, 60),  # tiny durations still round up to a minute
        (0, 120.0, 1, 0),
        (-2, 120.0, 1, 0),
        (4, 0.0, 1, 0),
    ],
)
def test_capacity_model_without_recent_answers(
    position: int, handle: float, staff: int, expected: int
) -> None:
    assert estimate_wait_seconds(position, LineLoad(staff, handle)) == expected


def test_float_noise_does_not_add_a_minute() -> None:
    # 0.1 * 3 * 1200 == 360.00000000000006 in floating point.
    assert estimate_wait_seconds(1200, LineLoad(1, 0.1 * 3)) == 360


def test_negative_handling_time_is_refused() -> None:
    with pytest.raises(ValueError):
        LineLoad(1, -5.0)
    with pytest.raises(ValueError):
        LineLoad(1, float("nan"))


def test_gaps_while_the_queue_ran_empty_are_ignored() -> None:
    # Answered at 100, 400 and 500; the second caller queued at 300, after the first answer.
    recent = answers((0, 100), (300, 400), (350, 500))
    assert busy_gaps(recent) == [100.0]  # only 400 -> 500 was a busy gap
    assert busy_gaps(answers((0, 100), (200, 300))) == []
    assert seconds_per_caller(LineLoad(1, 600.0, answers((0, 100), (200, 300)))) == 600.0


def test_observed_pace_takes_over_with_enough_busy_gaps() -> None:
    # A backlog answered every 90 s by one professional although talk time says 600 s.
    recent = answers(*((0, 90 * (i + 1)) for i in range(FULL_WEIGHT_GAPS + 1)))
    assert len(busy_gaps(recent)) == FULL_WEIGHT_GAPS
    assert seconds_per_caller(LineLoad(1, 600.0, recent)) == pytest.approx(90.0)
    assert estimate_wait_seconds(4, LineLoad(1, 600.0, recent)) == 360


def test_few_busy_gaps_blend_with_the_model() -> None:
    recent = answers((0, 100), (0, 190))  # one busy gap of 90 s
    weight = 1 / FULL_WEIGHT_GAPS
    expected = weight * 90.0 + (1 - weight) * 600.0
    assert seconds_per_caller(LineLoad(1, 600.0, recent)) == pytest.approx(expected)


def test_pace_scales_with_the_professionals_available_now() -> None:
    # Two professionals cleared a caller every 60 s: 120 professional-seconds per caller.
    recent = answers(*((0, 60 * (i + 1)) for i in range(FULL_WEIGHT_GAPS + 1)), staff=2)
    assert seconds_per_caller(LineLoad(2, 999.0, recent)) == pytest.approx(60.0)
    assert seconds_per_caller(LineLoad(1, 999.0, recent)) == pytest.approx(120.0)  # one left
    assert seconds_per_caller(LineLoad(4, 999.0, recent)) == pytest.approx(30.0)
    assert seconds_per_caller(LineLoad(0, 999.0, recent)) == pytest.approx(120.0)  # as if one


async def test_ewma() -> None:
    stats = MemoryLineStatsStore()
    assert await stats.mean_talk_time("demo") is None
    await stats.record_talk_time("demo", 100.0)
    assert await stats.mean_talk_time("demo") == pytest.approx(100.0)
    await stats.record_talk_time("demo", 200.0)
    assert await stats.mean_talk_time("demo") == pytest.approx(120.0)  # 0.2*200 + 0.8*100
    await stats.record_talk_time("demo", 0.0)
    assert await stats.mean_talk_time("demo") == pytest.approx(96.0)
    assert await stats.mean_talk_time("other") is None


async def test_ewma_rejects_bad_samples() -> None:
    stats = MemoryLineStatsStore()
    with pytest.raises(ValueError):
        await stats.record_talk_time("demo", -1.0)
    with pytest.raises(ValueError):
        await stats.record_talk_time("demo", float("nan"))
    assert await stats.mean_talk_time("demo") is None


async def test_answers_on_a_fake_clock_drive_the_estimate() -> None:
    """Callers answered from a backlog every 45 s move the estimate from the model."""
    clock = FakeClock(T0)
    store = create_memory_store(clock)
    board = Switchboard(store, clock, "n1", timedelta(seconds=300))
    line = ServiceLine.from_config(
        "demo", {"names": {"fi": "Demo"}, "always_open": True, "default_handle_minutes": 5}
    )
    await store.presence.announce("console-1", ("demo",), T0 + timedelta(hours=2), True)
    await store.presence.announce("console-2", ("demo",), T0 + timedelta(hours=2), False)
    before = await line_load(store, line, clock.now(), wrapup_seconds=30)
    assert before.staff_available == 1  # the away console does not count
    assert estimate_wait_seconds(2, before) == 11 * 60  # 2 x (300 + 30) s
    for _ in range(FULL_WEIGHT_GAPS + 3):
        await board.join_queue("demo", 50)
    for i in range(FULL_WEIGHT_GAPS + 1):
        clock.advance(45)
        professional = Participant(f"pro-{i}", ParticipantRole.PROFESSIONAL, staff_ref="s")
        assert await board.answer_next("demo", professional) is not None
    after = await line_load(store, line, clock.now(), wrapup_seconds=30)
    assert estimate_wait_seconds(2, after) == 2 * 60  # 2 x 45 s, rounded up
    clock.advance(31 * 60)  # half an hour later the answers are no longer recent
    stale = await line_load(store, line, clock.now(), wrapup_seconds=30)
    assert stale.recent == ()
    assert estimate_wait_seconds(2, stale) == 11 * 60
