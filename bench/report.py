"""The benchmark's outputs: JSON (everything), a Markdown table and a PNG chart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else round(a / b, 4)


def label(forwarding: str, party: int = 2) -> str:
    """A run's name in the report: the server, and ``3-party`` for three-party calls."""
    return forwarding if party == 2 else f"{forwarding} {party}-party"


def _party(run: dict[str, Any]) -> int:
    # Results written before three-party calls existed have no "party": all one-to-one.
    party: int = run.get("party", 2)
    return party


def party_ratios(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Three-party against one-to-one packet forwarding, from the same run.

    Two comparisons, each where the one-to-one row exists: at the same N (``cpu_per_call``,
    ``us_per_packet``, ``memory_per_call``: three-party ÷ one-to-one; a three-party call
    forwards 6 streams and a one-to-one call 2, so 3.0 per call would be the same cost per
    forwarded packet), and against one-to-one at 3 N, which forwards as many streams
    (``same_streams_…``: gateway CPU and µs per packet, three-party ÷ one-to-one; below 1
    says the two legs fed by one inbound packet cost less than two separate calls).
    """
    one = {r["calls_connected"]: r for r in runs if r["forwarding"] == "packet" and _party(r) == 2}
    out: list[dict[str, Any]] = []
    for three in runs:
        calls = three["calls_connected"]
        if three["forwarding"] != "packet" or _party(three) != 3 or not calls:
            continue
        row: dict[str, Any] = {"calls": calls}
        base = one.get(calls)
        if base is not None:
            row["cpu_per_call"] = _ratio(
                three["cpu_percent_per_call"], base["cpu_percent_per_call"]
            )
            row["us_per_packet"] = _ratio(three["us_per_packet"], base["us_per_packet"])
            row["memory_per_call"] = _ratio(
                three["memory_per_call_mib"], base["memory_per_call_mib"]
            )
        same = one.get(3 * calls)
        if same is not None:
            row["same_streams_calls"] = 3 * calls
            row["same_streams_cpu"] = _ratio(
                three["gateway_cpu_percent"], same["gateway_cpu_percent"]
            )
            row["same_streams_us_per_packet"] = _ratio(
                three["us_per_packet"], same["us_per_packet"]
            )
        if len(row) > 1:
            out.append(row)
    return out


def ratios(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """packet against relay and against Janus, at every N both were run at.

    ``cpu_per_call``, ``us_per_packet`` and ``latency_p50`` are packet ÷ relay (below 1:
    packet forwarding is cheaper or faster); ``relay_cpu_per_call_over_packet`` and the
    ``janus_…_over_packet`` figures say how many times the other costs more. One-to-one
    calls only: the relay and Janus are not run with three-party calls.
    """
    one_to_one = [r for r in runs if _party(r) == 2]
    relay = {r["calls_connected"]: r for r in one_to_one if r["forwarding"] == "relay"}
    janus = {r["calls_connected"]: r for r in one_to_one if r["forwarding"] == "janus"}
    out: list[dict[str, Any]] = []
    for packet in one_to_one:
        calls = packet["calls_connected"]
        if packet["forwarding"] != "packet" or not calls or calls not in relay | janus:
            continue
        row: dict[str, Any] = {"calls": calls}
        base = relay.get(calls)
        if base is not None:
            row["cpu_per_call"] = _ratio(
                packet["cpu_percent_per_call"], base["cpu_percent_per_call"]
            )
            row["us_per_packet"] = _ratio(packet["us_per_packet"], base["us_per_packet"])
            row["latency_p50"] = _ratio(
                packet["onset_latency"]["gateway_p50_ms"], base["onset_latency"]["gateway_p50_ms"]
            )
            row["relay_cpu_per_call_over_packet"] = _ratio(
                base["cpu_percent_per_call"], packet["cpu_percent_per_call"]
            )
        other = janus.get(calls)
        if other is not None:
            row["janus_cpu_per_call_over_packet"] = _ratio(
                other["cpu_percent_per_call"], packet["cpu_percent_per_call"]
            )
            row["janus_us_per_packet_over_packet"] = _ratio(
                other["us_per_packet"], packet["us_per_packet"]
            )
            row["janus_memory_per_call_over_packet"] = _ratio(
                other["memory_per_call_mib"], packet["memory_per_call_mib"]
            )
        out.append(row)
    return out


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "# Tukilinja load benchmark",
        "",
        f"Run at {results['started']} on {results['machine']}; window {results['seconds']} s; "
        f"{results['direct_pairs']} direct pairs as the reference path. Janus: "
        f"{results['janus']}. Calls are one-to-one (2 streams forwarded per call) except the "
        "3-party rows (resident, professional, interpreter: 6 streams per call; their join "
        "time is the interpreter's). µs/pkt is per packet received by a client.",
        "",
        "| gateway | N | connected | gw CPU % | CPU %/call | µs/pkt | delivered % | RSS MiB "
        "| MiB/call | latency p50/p99 ms | added p50/p99 ms | creep ms | join p50/p95 ms "
        "| gen CPU % | saturated | other load core 0/1 % |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results["runs"]:
        name = label(r["forwarding"], _party(r))
        if "error" in r:
            lines.append(f"| {name} | {r['calls_requested']} | failed: {r['error']} |")
            continue
        lat = r["latency"]
        lines.append(
            "| "
            + " | ".join(
                [
                    name + ("" if r["latency_method"] == "stamp" else " (onset)"),
                    str(r["calls_requested"]),
                    str(r["calls_connected"]),
                    _fmt(r["gateway_cpu_percent"]),
                    _fmt(r["cpu_percent_per_call"], 2),
                    _fmt(r["us_per_packet"], 0),
                    _fmt(r["frames_delivered_percent"], 2),
                    _fmt(r["rss_mib"]),
                    _fmt(r["memory_per_call_mib"], 2),
                    f"{_fmt(lat['gateway_p50_ms'], 2)} / {_fmt(lat['gateway_p99_ms'], 2)}",
                    f"{_fmt(lat['added_p50_ms'], 2)} / {_fmt(lat['added_p99_ms'], 2)}",
                    _fmt(r["creep"]["creep_ms"], 2),
                    f"{_fmt(r['join_p50_ms'], 0)} / {_fmt(r['join_p95_ms'], 0)}",
                    _fmt(r["generator_cpu_percent"]),
                    _fmt(r["saturated"]),
                    f"{_fmt(r['other_load_gateway_core_percent'], 0)} / "
                    f"{_fmt(r['other_load_generator_core_percent'], 0)}",
                ]
            )
            + " |"
        )
    if results["ratios"]:
        lines += [
            "",
            "Ratios at the same N: packet ÷ relay (below 1: packet forwarding is cheaper or "
            "faster), and how many times the relay and Janus cost more than packet forwarding:",
            "",
            "| N | packet ÷ relay CPU per call | packet ÷ relay µs per packet "
            "| packet ÷ relay latency p50 (onset) | relay ÷ packet CPU/call "
            "| Janus ÷ packet CPU/call | Janus ÷ packet µs/pkt | Janus ÷ packet MiB/call |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for q in results["ratios"]:
            lines.append(
                f"| {q['calls']} | {_fmt(q.get('cpu_per_call'), 3)} "
                f"| {_fmt(q.get('us_per_packet'), 3)} | {_fmt(q.get('latency_p50'), 3)} "
                f"| {_fmt(q.get('relay_cpu_per_call_over_packet'), 1)} "
                f"| {_fmt(q.get('janus_cpu_per_call_over_packet'), 2)} "
                f"| {_fmt(q.get('janus_us_per_packet_over_packet'), 2)} "
                f"| {_fmt(q.get('janus_memory_per_call_over_packet'), 2)} |"
            )
    if results.get("party_ratios"):
        lines += [
            "",
            "Three-party ÷ one-to-one packet forwarding: at the same N (a three-party call "
            "forwards 3 times the streams: 3.0 per call would be the same cost per packet), "
            "and against one-to-one at 3 N, which forwards as many streams:",
            "",
            "| N (3-party) | CPU per call ÷ 1:1 at N | µs/pkt ÷ 1:1 at N | MiB/call ÷ 1:1 at N "
            "| 1:1 N with as many streams | gw CPU ÷ it | µs/pkt ÷ it |",
            "|---|---|---|---|---|---|---|",
        ]
        for q in results["party_ratios"]:
            lines.append(
                f"| {q['calls']} | {_fmt(q.get('cpu_per_call'), 2)} "
                f"| {_fmt(q.get('us_per_packet'), 2)} | {_fmt(q.get('memory_per_call'), 2)} "
                f"| {_fmt(q.get('same_streams_calls'))} | {_fmt(q.get('same_streams_cpu'), 2)} "
                f"| {_fmt(q.get('same_streams_us_per_packet'), 2)} |"
            )
    churn = results.get("churn")
    if churn:
        lines += [
            "",
            f"Churn: {churn['calls_completed']} of {churn['calls_requested']} calls set up and "
            f"torn down in {churn['rounds']} rounds, {churn['seconds']} s "
            f"({churn['error_count']} errors). Gateway RSS {churn['rss_before_mib']} MiB before "
            f"any call, peak {churn['rss_peak_mib']} MiB; idle "
            f"({churn['idle_seconds']:g} s) after each round: "
            + ", ".join(
                f"{mib} MiB ({calls} calls)"
                for mib, calls in zip(
                    churn["rss_idle_after_round_mib"], churn["calls_after_round"], strict=True
                )
            )
            + f". Warm-up (first round) {churn['warmup_mib']} MiB; after it "
            f"{churn['growth_after_warmup_mib']:+} MiB over the later rounds "
            f"({_fmt(churn['growth_kib_per_call_after_warmup'], 2)} KiB per call); "
            f"join p50/p95 {_fmt(churn['join_p50_ms'], 0)} / {_fmt(churn['join_p95_ms'], 0)} ms.",
        ]
    video = results.get("video")
    if video and "error" not in video:
        lines += [
            "",
            f"Video ({video['streams']}, {video['video_sent_mbit_per_s']} Mbit/s sent, "
            f"{video['received_mbit_per_s']} Mbit/s received): forwarding harness "
            f"{video['harness_cpu_percent']} % of one core over {video['window_seconds']} s.",
        ]
    elif video:
        lines += ["", f"Video: failed: {video['error']}"]
    return "\n".join(lines) + "\n"


def chart(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (cpu_axis, latency_axis) = plt.subplots(1, 2, figsize=(11, 4.2))
    series = (("packet", 2, "o"), ("packet", 3, "D"), ("relay", 2, "s"), ("janus", 2, "^"))
    for forwarding, party, marker in series:
        runs = [
            r
            for r in results["runs"]
            if r["forwarding"] == forwarding and _party(r) == party and r.get("calls_connected")
        ]
        if not runs:
            continue
        name = label(forwarding, party)
        n = [r["calls_connected"] for r in runs]
        cpu_axis.plot(n, [r["gateway_cpu_percent"] for r in runs], marker=marker, label=name)
        added = [r["latency"]["added_p50_ms"] for r in runs]
        p99 = [r["latency"]["added_p99_ms"] for r in runs]
        latency_axis.plot(n, added, marker=marker, label=f"{name} p50")
        latency_axis.plot(n, p99, marker=marker, linestyle="--", label=f"{name} p99")
    cpu_axis.set_xlabel("concurrent calls (N; one-to-one unless 3-party)")
    cpu_axis.set_ylabel("gateway CPU, % of one core")
    cpu_axis.axhline(100, color="grey", linewidth=0.8)
    cpu_axis.legend()
    cpu_axis.grid(alpha=0.3)
    latency_axis.set_xlabel("concurrent calls (N)")
    latency_axis.set_ylabel("added one-way latency vs direct path, ms")
    # Relay latencies are tens to hundreds of ms, forwarding's tenths: linear near zero.
    latency_axis.set_yscale("symlog", linthresh=1.0)
    latency_axis.legend()
    latency_axis.grid(alpha=0.3)
    figure.suptitle(
        "Tukilinja: packet forwarding (one-to-one and 3-party) vs MediaRelay baseline and "
        "Janus (one-to-one; server on one core)"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write(results: dict[str, Any], out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": out / "results.json",
        "markdown": out / "results.md",
        "chart": out / "results.png",
    }
    paths["json"].write_text(json.dumps(results, indent=2) + "\n")
    paths["markdown"].write_text(markdown(results))
    chart(results, paths["chart"])
    return paths
