"""The scenarios: a steady window at N calls, and call churn for the leak check."""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

from bench.calls import Call, DirectPair, describe, direct_pair, place_call
from bench.janus import JanusCall, JanusProcess, place_janus_call
from bench.media import ReceiveStats
from bench.proc import GatewayProcess, core_busy_seconds, own_cpu_seconds

SATURATED_PERCENT = 85.0
T = TypeVar("T")


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def stream_delivery(
    stats: Sequence[ReceiveStats],
    start: Sequence[dict[int, int]],
    end: Sequence[dict[int, int]],
) -> list[tuple[int, int]]:
    """(distinct packets received, packets sent) in the window for every inbound stream.

    One entry per receiver and sender it should hear: 2 per one-to-one call, 6 per
    three-party call. ``start`` and ``end`` are each receiver's :meth:`ReceiveStats.marks`.
    """
    out: list[tuple[int, int]] = []
    for s, first, last in zip(stats, start, end, strict=True):
        out += s.delivery(first, last).values()
    return out


def _ms(values_ns: Iterable[int]) -> list[float]:
    return [v / 1e6 for v in values_ns]


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


async def _bounded(
    count: int, concurrency: int, make: Callable[[int], Awaitable[T]]
) -> tuple[list[T], list[str]]:
    """Run ``make(i)`` for i < count, ``concurrency`` at a time; results and errors."""
    semaphore = asyncio.Semaphore(concurrency)
    results: list[T] = []
    errors: list[str] = []

    async def one(index: int) -> None:
        async with semaphore:
            try:
                results.append(await make(index))
            except Exception as exc:
                errors.append(describe(exc))

    await asyncio.gather(*(one(i) for i in range(count)))
    return results, errors


class LoopLag:
    """How late a 50 ms timer fires in this process: a second sign of a saturated loop."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._task: asyncio.Task[None] | None = None

    def start(self, seconds: float) -> None:
        self._task = asyncio.ensure_future(self._run(seconds))

    async def _run(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            before = time.monotonic()
            await asyncio.sleep(0.05)
            self.samples.append((time.monotonic() - before - 0.05) * 1000)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def _latency_summary(
    gateway_stats: Sequence[ReceiveStats], direct_stats: Sequence[ReceiveStats], kind: str
) -> dict[str, Any]:
    def samples(stats: Sequence[ReceiveStats]) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        for s in stats:
            out += s.latency if kind == "stamp" else s.onset_latency
        return out

    through = samples(gateway_stats)
    direct = samples(direct_stats)
    g = _ms(v for _, v in through)
    d = _ms(v for _, v in direct)
    summary: dict[str, Any] = {
        "samples": len(g),
        "direct_samples": len(d),
        "gateway_p50_ms": _round(percentile(g, 50), 3),
        "gateway_p99_ms": _round(percentile(g, 99), 3),
        "direct_p50_ms": _round(percentile(d, 50), 3),
        "direct_p99_ms": _round(percentile(d, 99), 3),
    }
    for q in ("p50", "p99"):
        gv, dv = summary[f"gateway_{q}_ms"], summary[f"direct_{q}_ms"]
        summary[f"added_{q}_ms"] = None if gv is None or dv is None else round(gv - dv, 3)
    return summary


def _creep(stats: Sequence[ReceiveStats], start_ns: int, end_ns: int, kind: str) -> dict[str, Any]:
    """p50 latency over the first and the last part of the window (10 s, or a third)."""
    span = min(10_000_000_000, (end_ns - start_ns) // 3)
    first: list[int] = []
    last: list[int] = []
    for s in stats:
        for arrival, value in s.latency if kind == "stamp" else s.onset_latency:
            if arrival < start_ns + span:
                first.append(value)
            elif arrival >= end_ns - span:
                last.append(value)
    p_first = percentile(_ms(first), 50)
    p_last = percentile(_ms(last), 50)
    return {
        "span_seconds": span / 1e9,
        "first_p50_ms": _round(p_first, 3),
        "last_p50_ms": _round(p_last, 3),
        "creep_ms": None if p_first is None or p_last is None else round(p_last - p_first, 3),
    }


async def wait_for_quiet(
    limit_percent: float = 15.0, max_wait: float = 90.0, sample: float = 2.0
) -> dict[str, Any]:
    """Wait (bounded) until cores 0 and 1 are nearly idle: this machine may be shared."""
    started = time.monotonic()
    load: dict[int, float] = {}
    while True:
        before = core_busy_seconds()
        await asyncio.sleep(sample)
        after = core_busy_seconds()
        load = {c: (after[c] - before.get(c, 0.0)) / sample * 100 for c in after}
        busiest = max(load.get(0, 0.0), load.get(1, 0.0))
        if busiest <= limit_percent or time.monotonic() - started >= max_wait:
            break
    return {
        "waited_seconds": round(time.monotonic() - started, 1),
        "load_before_percent": {str(c): round(v, 1) for c, v in load.items()},
    }


async def steady(
    forwarding: str,
    calls: int,
    seconds: float,
    cycle: Sequence[bytes],
    direct_pairs: int = 2,
    concurrency: int = 4,
    warmup: float = 3.0,
    party: int = 2,
) -> dict[str, Any]:
    """N calls through a fresh gateway (or Janus), plus direct pairs; one measured window.

    ``forwarding`` is the gateway's mode (``packet`` or ``relay``) or ``janus`` for Janus's
    videocall plugin (run inside the network namespace of :mod:`bench.janus`). ``party=3``
    makes every call three-party (resident, professional, interpreter: six forwarded
    streams instead of two); only packet forwarding is measured that way.
    """
    if party != 2 and forwarding != "packet":
        raise ValueError("three-party calls are measured with packet forwarding only")
    quiet = await wait_for_quiet()
    janus = forwarding == "janus"
    gateway = JanusProcess() if janus else GatewayProcess(forwarding)
    await gateway.start()
    result: dict[str, Any] = {
        "forwarding": forwarding,
        "party": party,
        "calls_requested": calls,
        "quiet": quiet,
    }
    placed: list[Call | JanusCall] = []
    pairs: list[DirectPair] = []
    try:
        await asyncio.sleep(1.0)
        rss_idle = gateway.rss_kib()
        pairs, direct_errors = await _bounded(
            direct_pairs, direct_pairs or 1, lambda _: direct_pair(cycle)
        )
        lock = asyncio.Lock()

        async def place(index: int) -> Call | JanusCall:
            if isinstance(gateway, JanusProcess):
                return await place_janus_call(gateway, cycle, index)
            return await place_call(
                gateway, cycle, lock, staff_name=f"Bench professional {index}", party=party
            )

        setup_started = time.monotonic()
        placed, errors = await _bounded(calls, concurrency, place)
        setup_seconds = time.monotonic() - setup_started
        await asyncio.sleep(warmup)
        gateway_stats = [e.stats for c in placed for e in c.endpoints]
        gateway_tracks = [e.track for c in placed for e in c.endpoints]
        direct_stats = [e.stats for p in pairs for e in p.endpoints]
        every = gateway_stats + direct_stats

        lag = LoopLag()
        lag.start(seconds + 5)
        sent0 = sum(t.sent for t in gateway_tracks)
        received0 = sum(s.received for s in gateway_stats)
        reordered0 = sum(s.reordered for s in gateway_stats)
        # Each receiver's peers: which of their packets were sent in the window.
        first_marks = [s.marks() for s in gateway_stats]
        for s in every:
            s.recording = True
        cores0 = core_busy_seconds()
        cpu0, own0, wall0 = gateway.cpu_seconds(), own_cpu_seconds(), time.monotonic()
        sys0 = gateway.system_seconds()
        start_ns = time.monotonic_ns()
        rss_samples: list[int] = []
        end = wall0 + seconds
        while (left := end - time.monotonic()) > 0:
            await asyncio.sleep(min(1.0, left))
            rss_samples.append(gateway.rss_kib())
        cpu1, own1, wall1 = gateway.cpu_seconds(), own_cpu_seconds(), time.monotonic()
        sys1 = gateway.system_seconds()
        cores1 = core_busy_seconds()
        end_ns = time.monotonic_ns()
        for s in every:
            s.recording = False
        sent = sum(t.sent for t in gateway_tracks) - sent0
        last_marks = [s.marks() for s in gateway_stats]
        streams = stream_delivery(gateway_stats, first_marks, last_marks)
        expected = sum(sent for _, sent in streams)
        unique = sum(got for got, _ in streams)
        duplicates = sum(s.duplicates for s in gateway_stats)
        received = sum(s.received for s in gateway_stats) - received0
        await lag.stop()

        wall = wall1 - wall0
        gateway_cpu = (cpu1 - cpu0) / wall * 100
        generator_cpu = (own1 - own0) / wall * 100
        # Whatever else ran on the two cores (other processes on a shared machine).
        busy = {c: (cores1[c] - cores0.get(c, 0.0)) / wall * 100 for c in cores1}
        other_gateway_core = busy.get(0, 0.0) - gateway_cpu
        other_generator_core = busy.get(1, 0.0) - generator_cpu
        rss = max(rss_samples) if rss_samples else gateway.rss_kib()
        n = len(placed)
        # Packet forwarding and Janus pass the payload as it is: its stamps survive.
        kind = "onset" if forwarding == "relay" else "stamp"
        joins = [c.join_seconds * 1000 for c in placed]
        interpreter_joins = [
            c.interpreter_join_seconds * 1000
            for c in placed
            if isinstance(c, Call) and c.interpreter is not None
        ]
        # One inbound packet feeds party - 1 outbound legs.
        inbound = received / (party - 1)
        result.update(
            {
                "calls_connected": n,
                "setup_errors": errors,
                "direct_pairs": len(pairs),
                "direct_errors": direct_errors,
                "setup_seconds": round(setup_seconds, 2),
                "window_seconds": round(wall, 2),
                "gateway_cpu_percent": round(gateway_cpu, 2),
                "gateway_system_percent": round((sys1 - sys0) / wall * 100, 2),
                "cpu_percent_per_call": round(gateway_cpu / n, 3) if n else None,
                "packets_sent": sent,
                "packets_received": received,
                "us_per_packet": round((cpu1 - cpu0) / received * 1e6, 1) if received else None,
                "us_per_packet_method": "gateway CPU / packets received by clients",
                "us_per_inbound_packet": (
                    round((cpu1 - cpu0) / inbound * 1e6, 1) if inbound else None
                ),
                "streams": len(streams),
                "streams_delivered_min_percent": (
                    _round(min(got / sent * 100 for got, sent in streams if sent), 3)
                    if kind == "stamp" and any(sent for _, sent in streams)
                    else None
                ),
                # Counted from stamps: the relay's re-encoded packets carry none.
                "streams_without_packets": (
                    sum(1 for got, sent in streams if sent and not got) if kind == "stamp" else None
                ),
                "frames_delivered_percent": (
                    round(unique / expected * 100, 3)
                    if kind == "stamp" and expected
                    else (round(received / sent * 100, 3) if sent else None)
                ),
                "frames_delivered_method": (
                    "unique sequence numbers received / sent in the window"
                    if kind == "stamp"
                    else "packets received / sent in the window"
                ),
                "duplicates": duplicates,
                "reordered": sum(s.reordered for s in gateway_stats) - reordered0,
                "rss_idle_mib": round(rss_idle / 1024, 1),
                "rss_mib": round(rss / 1024, 1),
                "memory_per_call_mib": round((rss - rss_idle) / 1024 / n, 3) if n else None,
                "latency_method": kind,
                "latency": _latency_summary(gateway_stats, direct_stats, kind),
                "onset_latency": _latency_summary(gateway_stats, direct_stats, "onset"),
                "creep": _creep(gateway_stats, start_ns, end_ns, kind),
                "join_p50_ms": _round(percentile(joins, 50), 1),
                "join_p95_ms": _round(percentile(joins, 95), 1),
                "join_max_ms": _round(max(joins), 1) if joins else None,
                "join_method": (
                    "interpreter.join to the first packet of each of the 4 new streams"
                    if party == 3
                    else "answer to the first packet at both ends"
                ),
                "generator_cpu_percent": round(generator_cpu, 1),
                "generator_loop_lag_p99_ms": _round(percentile(lag.samples, 99), 1),
                "saturated": generator_cpu > SATURATED_PERCENT,
                "other_load_gateway_core_percent": round(max(0.0, other_gateway_core), 1),
                "other_load_generator_core_percent": round(max(0.0, other_generator_core), 1),
            }
        )
        if party == 3:
            # The table's join figures are the interpreter's; the first two's are kept.
            result["one_to_one_join_p50_ms"] = result["join_p50_ms"]
            result["one_to_one_join_p95_ms"] = result["join_p95_ms"]
            result["join_p50_ms"] = _round(percentile(interpreter_joins, 50), 1)
            result["join_p95_ms"] = _round(percentile(interpreter_joins, 95), 1)
            result["join_max_ms"] = _round(max(interpreter_joins), 1) if interpreter_joins else None
        if errors:
            result["gateway_log_tail"] = gateway.log_tail()
    finally:
        await _bounded(len(placed), 8, lambda i: placed[i].hang_up())
        for pair in pairs:
            await pair.close()
        await gateway.stop()
    return result


async def churn(
    total: int,
    cycle: Sequence[bytes],
    concurrency: int = 4,
    rounds: int = 5,
    idle_seconds: float = 8.0,
) -> dict[str, Any]:
    """Set up and tear down ``total`` calls in ``rounds`` rounds; gateway RSS when idle.

    Calls run ``concurrency`` at a time. After each round every call has ended and the
    gateway idles ``idle_seconds`` (it hands freed memory back when no call runs), then
    its RSS is read. The first round is the warm-up (imports, caches and pools a first
    call fills); a leak shows as idle RSS still growing over the later rounds.
    """
    gateway = GatewayProcess("packet")
    await gateway.start()
    try:
        await asyncio.sleep(1.0)
        rss_before = gateway.rss_kib()
        # A professional session per call: one socket answering a call every few tens of
        # milliseconds would (rightly) hit the gateway's per-socket rate limit.
        lock = asyncio.Lock()
        done = 0
        errors: list[str] = []
        joins: list[float] = []
        rss_peak = rss_before
        idle_after: list[int] = []
        calls_after: list[int] = []
        started = time.monotonic()
        per_round = max(1, total // rounds)

        for index in range(rounds):
            quota = per_round if index < rounds - 1 else total - per_round * (rounds - 1)
            issued = 0

            async def worker(quota: int = quota) -> None:
                nonlocal done, issued, rss_peak
                while issued < quota:
                    issued += 1
                    try:
                        call = await place_call(gateway, cycle, lock)
                    except Exception as exc:
                        errors.append(describe(exc))
                        continue
                    joins.append(call.join_seconds * 1000)
                    rss_peak = max(rss_peak, gateway.rss_kib())
                    await call.hang_up()
                    done += 1

            await asyncio.gather(*(worker() for _ in range(concurrency)))
            await asyncio.sleep(idle_seconds)
            idle_after.append(gateway.rss_kib())
            calls_after.append(done)
        elapsed = time.monotonic() - started
        later_calls = calls_after[-1] - calls_after[0]
        growth = (idle_after[-1] - idle_after[0]) / later_calls if later_calls > 0 else None
        return {
            "calls_requested": total,
            "calls_completed": done,
            "errors": errors[:20],
            "error_count": len(errors),
            "seconds": round(elapsed, 1),
            "rounds": rounds,
            "idle_seconds": idle_seconds,
            "join_p50_ms": _round(percentile(joins, 50), 1),
            "join_p95_ms": _round(percentile(joins, 95), 1),
            "rss_before_mib": round(rss_before / 1024, 1),
            "rss_peak_mib": round(rss_peak / 1024, 1),
            "calls_after_round": calls_after,
            "rss_idle_after_round_mib": [round(v / 1024, 1) for v in idle_after],
            "warmup_mib": round((idle_after[0] - rss_before) / 1024, 1),
            "growth_after_warmup_mib": round((idle_after[-1] - idle_after[0]) / 1024, 1),
            "growth_kib_per_call_after_warmup": None if growth is None else round(growth, 2),
            "gateway_log_tail": gateway.log_tail() if errors else "",
        }
    finally:
        await gateway.stop()


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None
