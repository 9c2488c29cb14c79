"""``python -m bench run``: the whole benchmark with one command."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import report
from bench.janus import JANUS, setup_namespace_network
from bench.payload import encode_cycle
from bench.proc import REPO, die_with_parent
from bench.run import churn, steady
from bench.video import measure_video
from gateway.cli import run as run_loop

GENERATOR_CORE = 1


def _counts(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from None
    if any(v < 1 or v > 500 for v in values):
        raise argparse.ArgumentTypeError("call counts must be between 1 and 500")
    return values


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the benchmark and write the report")
    run.add_argument(
        "--calls", type=_counts, default=[5, 10, 20, 40], help="N one-to-one calls for packet"
    )
    run.add_argument(
        "--party3-calls",
        type=_counts,
        default=[],
        help="N three-party calls (resident, professional, interpreter) for packet (default: none)",
    )
    run.add_argument(
        "--relay-calls",
        type=_counts,
        default=None,
        help="N for the relay baseline (default: "
        "the --calls values up to 10; it needs about a fifth of a core per call)",
    )
    run.add_argument(
        "--janus-calls",
        type=_counts,
        default=None,
        help="N for Janus's videocall plugin when /usr/bin/janus exists (default: --calls)",
    )
    run.add_argument("--seconds", type=float, default=30.0, help="steady window per N")
    run.add_argument("--warmup", type=float, default=3.0, help="seconds before the window")
    run.add_argument("--direct", type=int, default=2, help="direct client pairs (reference)")
    run.add_argument("--concurrency", type=int, default=4, help="calls set up at a time")
    run.add_argument("--churn", type=int, default=0, help="calls for the leak check (0: skip)")
    run.add_argument(
        "--video",
        type=float,
        default=30.0,
        help="seconds of the one-to-one video measurement (0: skip)",
    )
    run.add_argument("--out", type=Path, default=Path("bench/results"))
    run.add_argument("--quick", action="store_true", help="a smoke run of about a minute")
    # Internal: one Janus window, run by `run` inside a private network namespace.
    leg = sub.add_parser("janus-leg")
    leg.add_argument("--calls", type=int, required=True)
    leg.add_argument("--seconds", type=float, required=True)
    leg.add_argument("--warmup", type=float, required=True)
    leg.add_argument("--direct", type=int, required=True)
    leg.add_argument("--concurrency", type=int, required=True)
    leg.add_argument("--json", type=Path, required=True)
    return parser


def _pin_generator() -> str:
    cores = os.sched_getaffinity(0)
    if GENERATOR_CORE in cores and len(os.sched_getaffinity(0) | {0}) >= 2:
        os.sched_setaffinity(0, {GENERATOR_CORE})
        return f"core {GENERATOR_CORE}"
    return f"not pinned (cores available: {sorted(cores)})"


def _budget(args: argparse.Namespace, runs: int) -> float:
    """An upper bound for the whole run: every loop in it is bounded too."""
    budget: float = runs * (args.seconds + args.warmup + 150) + args.churn * 3 + args.video + 240
    return budget


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    cycle = encode_cycle()
    relay_calls = args.relay_calls
    if relay_calls is None:
        relay_calls = [n for n in args.calls if n <= 10] or args.calls[:1]
    janus_calls = (
        (args.calls if args.janus_calls is None else args.janus_calls) if JANUS.exists() else []
    )
    plan = [("packet", n, 2) for n in args.calls]
    plan += [("packet", n, 3) for n in args.party3_calls]
    plan += [("relay", n, 2) for n in relay_calls] + [("janus", n, 2) for n in janus_calls]
    results: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}",
        "seconds": args.seconds,
        "warmup_seconds": args.warmup,
        "direct_pairs": args.direct,
        "generator": args.pinned,
        "gateway_core": 0,
        "janus": args.janus,
        "runs": [],
    }
    for forwarding, n, party in plan:
        started = time.monotonic()
        print(f"[bench] {report.label(forwarding, party)} N={n} …", flush=True)
        try:
            if forwarding == "janus":
                run = await _janus_in_namespace(args, n)
            else:
                run = await steady(
                    forwarding,
                    n,
                    args.seconds,
                    cycle,
                    args.direct,
                    args.concurrency,
                    args.warmup,
                    party,
                )
        except Exception as exc:
            run = {
                "forwarding": forwarding,
                "party": party,
                "calls_requested": n,
                "error": repr(exc),
            }
        results["runs"].append(run)
        print(f"[bench]   {_summary(run)} ({time.monotonic() - started:.0f} s)", flush=True)
    if args.churn:
        print(f"[bench] churn {args.churn} calls …", flush=True)
        results["churn"] = await churn(args.churn, cycle, args.concurrency)
        print(f"[bench]   {results['churn']}", flush=True)
    if args.video:
        print("[bench] one-to-one video …", flush=True)
        try:
            results["video"] = await measure_video(cycle, args.video)
        except Exception as exc:
            results["video"] = {"error": repr(exc)}
        print(f"[bench]   {results['video']}", flush=True)
    completed = [r for r in results["runs"] if "error" not in r]
    results["ratios"] = report.ratios(completed)
    results["party_ratios"] = report.party_ratios(completed)
    return results


async def _janus_in_namespace(args: argparse.Namespace, calls: int) -> dict[str, Any]:
    """One Janus window in a private network namespace (``unshare --net``, needs root)."""
    with tempfile.TemporaryDirectory(prefix="bench-janus-leg-") as folder:
        out = Path(folder) / "result.json"
        command = ["unshare", "--net", "--", sys.executable, "-m", "bench", "janus-leg"]
        command += ["--calls", str(calls), "--seconds", str(args.seconds)]
        command += ["--warmup", str(args.warmup), "--direct", str(args.direct)]
        command += ["--concurrency", str(args.concurrency), "--json", str(out)]
        # Killed with the bench (PR_SET_PDEATHSIG); Janus inside is killed with it in turn.
        proc = await asyncio.create_subprocess_exec(
            *command,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            preexec_fn=die_with_parent,
        )
        try:
            output, _ = await asyncio.wait_for(proc.communicate(), args.seconds + 400)
        except TimeoutError:
            proc.kill()
            raise
        if proc.returncode != 0 or not out.exists():
            tail = output.decode(errors="replace")[-500:]
            raise RuntimeError(f"janus leg exited {proc.returncode}: {tail}")
        result: dict[str, Any] = json.loads(out.read_text())
        return result


def _janus_leg(args: argparse.Namespace) -> int:
    """Inside the namespace: its network, then one steady window through Janus."""
    setup_namespace_network()
    _pin_generator()
    result = run_loop(
        steady(
            "janus",
            args.calls,
            args.seconds,
            encode_cycle(),
            args.direct,
            args.concurrency,
            args.warmup,
        ),
        "uvloop",
    )
    args.json.write_text(json.dumps(result))
    return 0


def _summary(run: dict[str, Any]) -> str:
    if "error" in run:
        return f"failed: {run['error']}"
    lat = run["latency"]
    return (
        f"{run['calls_connected']} calls, gw CPU {run['gateway_cpu_percent']} % "
        f"(kernel {run.get('gateway_system_percent')} %), "
        f"{run['us_per_packet']} µs/pkt, delivered {run['frames_delivered_percent']} %, "
        f"added p50 {lat['added_p50_ms']} ms p99 {lat['added_p99_ms']} ms, "
        f"join p95 {run['join_p95_ms']} ms, gen CPU {run['generator_cpu_percent']} %"
        + (f", errors {run['setup_errors'][:3]}" if run["setup_errors"] else "")
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "janus-leg":
        return _janus_leg(args)
    if args.quick:
        args.calls, args.relay_calls = [2, 5], [2]
        args.party3_calls = args.party3_calls or [2]
        args.seconds, args.warmup = 10.0, 2.0
        args.churn = args.churn or 20
        args.video = min(args.video, 10.0)
    args.pinned = _pin_generator()
    if JANUS.exists():
        args.janus = "videocall plugin, in a private network namespace"
    else:
        args.janus = "not installed"
    runs = len(args.calls) + len(args.party3_calls) + len(args.relay_calls or args.calls)
    if JANUS.exists():
        runs += len(args.calls if args.janus_calls is None else args.janus_calls)
    budget = _budget(args, runs)
    try:
        # The generator runs on uvloop too: cheaper clients drive more calls unsaturated.
        results = run_loop(asyncio.wait_for(_run(args), budget), "uvloop")
    except TimeoutError:
        print(f"bench: gave up after {budget:.0f} s", file=sys.stderr)
        return 1
    paths = report.write(results, args.out)
    print(report.markdown(results))
    print("Written: " + ", ".join(str(p) for p in paths.values()))
    return 0
