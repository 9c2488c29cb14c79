"""Wait estimator math and the talk-time moving average."""

from __future__ import annotations

import pytest

from rooms import MemoryLineStatsStore, estimate_wait_seconds


@pytest.mark.parametrize(
    ("position", "mean", "staff", "expected"),
    [
        (1, 120.0, 1, 120),
        (3, 120.0, 1, 360),
        (3, 120.0, 2, 180),  # 180 s is already whole minutes
        (1, 90.0, 1, 120),  # 90 s rounds up to 2 min
        (1, 61.0, 1, 120),
        (2, 90.0, 3, 60),  # 60 s
        (5, 100.0, 0, 540),  # no staff counts as one: 500 s -> 9 min
        (3, 100.0, 1, 300),
        (7, 0.1 * 3, 1, 60),  # tiny durations still round up to a minute
        (0, 120.0, 1, 0),
        (-2, 120.0, 1, 0),
        (4, 0.0, 1, 0),
    ],
)
def test_estimate(position: int, mean: float, staff: int, expected: int) -> None:
    assert estimate_wait_seconds(position, mean, staff) == expected


def test_estimate_float_noise_does_not_add_a_minute() -> None:
    # 0.1 * 3 * 1200 == 360.00000000000006 in floating point.
    assert estimate_wait_seconds(1200, 0.1 * 3, 1) == 360


def test_estimate_rejects_negative_mean() -> None:
    with pytest.raises(ValueError):
        estimate_wait_seconds(1, -5.0, 1)


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
