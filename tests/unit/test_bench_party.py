"""Three-party calls in the benchmark: stamp sources, per-stream counting, the report rows."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bench import report
from bench.cli import build_parser
from bench.media import ReceiveStats, StampedOpusTrack
from bench.payload import encode_cycle, read_stamp, split_sequence, stamp_sequence, wrap
from bench.run import stream_delivery

CYCLE = encode_cycle()


def _packet(source: int, index: int, sent_ns: int = 1_000, position: int = 1) -> bytes:
    return wrap(CYCLE[position], sent_ns, stamp_sequence(source, index))


def test_stamp_sequence_carries_the_source_in_the_top_byte() -> None:
    assert stamp_sequence(0, 1234) == 1234  # one-to-one stamps are the plain index
    assert split_sequence(stamp_sequence(2, 77)) == (2, 77)
    assert split_sequence(stamp_sequence(255, (1 << 24) + 5)) == (255, 5)  # index wraps
    assert wrap(CYCLE[0], 9, stamp_sequence(0, 42)) == wrap(CYCLE[0], 9, 42)
    for bad in (-1, 256):
        with pytest.raises(ValueError):
            stamp_sequence(bad, 0)


async def test_a_track_stamps_its_source() -> None:
    track = StampedOpusTrack(CYCLE, source=2)
    try:
        packets = [bytes(await track.recv()) for _ in range(2)]
    finally:
        track.stop()
    stamps = [read_stamp(p) for p in packets]
    assert [split_sequence(s[1]) for s in stamps if s] == [(2, 0), (2, 1)]
    assert track.sent == 2
    with pytest.raises(ValueError):
        StampedOpusTrack(CYCLE, source=300)


def test_two_interleaved_streams_are_counted_apart() -> None:
    stats = ReceiveStats()
    resident, staff = StampedOpusTrack(CYCLE, 0), StampedOpusTrack(CYCLE, 1)
    stats.expect(resident, staff)
    # Before the window: both streams at index 0..1.
    for index in range(2):
        stats.on_payload(_packet(0, index), 10)
        stats.on_payload(_packet(1, index), 10)
    resident.sent, staff.sent = 2, 2
    start = stats.marks()
    stats.recording = True
    # Resident: 2, 3, 4, 5 with 4 before 3 (reordered) and 5 twice; staff: 2, 3, (4 lost), 5.
    for index in (2, 4, 3, 5, 5):
        stats.on_payload(_packet(0, index), 20)
    for index in (2, 3, 5):
        stats.on_payload(_packet(1, index), 20)
    # A late packet sent before the window makes up for nothing.
    stats.on_payload(_packet(1, 1), 20)
    resident.sent, staff.sent = 6, 6
    end = stats.marks()
    stats.recording = False
    assert start == {0: 2, 1: 2} and end == {0: 6, 1: 6}
    assert stats.delivery(start, end) == {0: (4, 4), 1: (3, 4)}
    assert stats.duplicates == 1
    assert stats.streams[0].reordered == 1 and stats.streams[1].reordered == 1
    assert stats.reordered == 2
    assert stats.streams[0].received == 7 and stats.streams[1].received == 6
    assert stats.received == 13 and stats.stamped == 13
    assert len(stats.latency) == 9  # recorded packets only
    assert stream_delivery([stats], [start], [end]) == [(4, 4), (3, 4)]


def test_a_stream_that_never_arrives_counts_as_nothing_delivered() -> None:
    stats = ReceiveStats()
    resident, interpreter = StampedOpusTrack(CYCLE, 0), StampedOpusTrack(CYCLE, 2)
    stats.expect(resident, interpreter)
    stats.on_payload(_packet(0, 0), 5)
    assert stats.delivery({0: 0, 2: 0}, {0: 1, 2: 1}) == {0: (0, 1), 2: (0, 1)}


def test_the_tracks_heard_need_distinct_sources() -> None:
    with pytest.raises(ValueError):
        ReceiveStats().expect(StampedOpusTrack(CYCLE, 1), StampedOpusTrack(CYCLE, 1))


def test_onsets_are_found_per_stream() -> None:
    """A quiet packet of one stream does not make the other's next loud packet an onset."""
    stats = ReceiveStats()
    resident, staff = StampedOpusTrack(CYCLE, 0), StampedOpusTrack(CYCLE, 1)
    stats.expect(resident, staff)
    resident.onsets, staff.onsets = [100], [200]
    quiet = len(CYCLE) - 1  # the cycle ends in silence and starts with the onset
    stats.recording = True
    stats.on_payload(_packet(0, 0, position=1), 1_000)  # loud, first of its stream
    stats.on_payload(_packet(1, 0, position=quiet), 1_000)
    stats.on_payload(_packet(0, 1, position=2), 1_100)  # loud after loud: no onset
    stats.on_payload(_packet(1, 1, position=0), 1_200)  # staff's onset
    assert stats.onset_latency == [(1_200, 1_000)]


async def test_wait_streams_returns_when_every_source_has_arrived() -> None:
    stats = ReceiveStats()
    waiter = asyncio.ensure_future(stats.wait_streams([0, 2]))
    stats.on_payload(_packet(0, 0), 50)
    await asyncio.sleep(0)
    assert not waiter.done()
    stats.on_payload(_packet(0, 1), 60)
    stats.on_payload(_packet(2, 0), 70)
    assert await asyncio.wait_for(waiter, 1) == 70
    assert await stats.wait_streams([0]) == 50


def _run(party: int, calls: int, cpu_per_call: float, us: float, mib: float) -> dict[str, Any]:
    latency = {
        "gateway_p50_ms": 0.2,
        "gateway_p99_ms": 0.5,
        "added_p50_ms": 0.05,
        "added_p99_ms": 0.3,
    }
    return {
        "forwarding": "packet",
        "party": party,
        "calls_requested": calls,
        "calls_connected": calls,
        "gateway_cpu_percent": cpu_per_call * calls,
        "cpu_percent_per_call": cpu_per_call,
        "us_per_packet": us,
        "frames_delivered_percent": 100.0,
        "rss_mib": 90.0,
        "memory_per_call_mib": mib,
        "latency_method": "stamp",
        "latency": latency,
        "onset_latency": latency,
        "creep": {"creep_ms": 0.0},
        "join_p50_ms": 40.0,
        "join_p95_ms": 45.0,
        "generator_cpu_percent": 10.0,
        "saturated": False,
        "other_load_gateway_core_percent": 0.0,
        "other_load_generator_core_percent": 0.0,
    }


def test_party_ratios_compare_three_party_with_one_to_one_at_the_same_n() -> None:
    old_style = _run(2, 5, 0.5, 50.0, 1.0)
    del old_style["party"]  # results written before three-party calls: one-to-one
    relay = {**_run(2, 5, 12.5, 1250.0, 2.0), "forwarding": "relay"}
    fifteen = _run(2, 15, 0.4, 40.0, 0.8)
    runs = [old_style, _run(3, 5, 1.0, 33.0, 1.5), _run(3, 7, 1.2, 40.0, 1.4), relay, fifteen]
    assert report.party_ratios(runs) == [
        {
            "calls": 5,
            "cpu_per_call": 2.0,
            "us_per_packet": 0.66,
            "memory_per_call": 1.5,
            # 5 three-party calls (30 streams) against 15 one-to-one calls (30 streams).
            "same_streams_calls": 15,
            "same_streams_cpu": round(5.0 / 6.0, 4),
            "same_streams_us_per_packet": 0.825,
        }
    ]
    # The relay and Janus ratios are against the one-to-one packet row only.
    (five,) = report.ratios(runs)
    assert five["relay_cpu_per_call_over_packet"] == 25.0


def _results() -> dict[str, Any]:
    runs = [_run(2, 5, 0.5, 50.0, 1.0), _run(3, 5, 1.25, 41.7, 1.5)]
    return {
        "started": "",
        "machine": "",
        "seconds": 1,
        "direct_pairs": 0,
        "janus": "",
        "runs": [*runs, {"forwarding": "packet", "party": 3, "calls_requested": 9, "error": "x"}],
        "ratios": [],
        "party_ratios": report.party_ratios(runs),
    }


def test_three_party_rows_are_in_the_table() -> None:
    text = report.markdown(_results())
    assert "| packet | 5 | 5 |" in text
    assert "| packet 3-party | 5 | 5 | 6.2 | 1.25 | 42 |" in text
    assert "| packet 3-party | 9 | failed: x |" in text
    assert "| 5 | 2.50 | 0.83 | 1.50 | n/a | n/a | n/a |" in text


def test_the_chart_draws_three_party_rows(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")  # a bench extra (scripts/setup --bench)
    paths = report.write(_results(), tmp_path)
    assert paths["chart"].stat().st_size > 0


def test_cli_takes_three_party_counts() -> None:
    parser = build_parser()
    args = parser.parse_args(["run", "--calls", "5", "--party3-calls", "5,10"])
    assert args.calls == [5] and args.party3_calls == [5, 10]
    assert parser.parse_args(["run"]).party3_calls == []
    with pytest.raises(SystemExit):
        parser.parse_args(["run", "--party3-calls", "0"])
