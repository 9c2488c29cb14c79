"""The Janus leg of the benchmark: its configuration, its events, and the ratios reported."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from bench import report
from bench.janus import (
    JANUS,
    JANUS_ADDRESS,
    NAMESPACE_LINK,
    JanusError,
    JanusProcess,
    plugin_event,
    write_config,
)


def test_config_loads_only_http_and_videocall_on_the_namespace_link(tmp_path: Path) -> None:
    main = write_config(tmp_path, 18088, (20000, 20999))
    assert sorted(p.name for p in (tmp_path / "plugins").iterdir()) == ["libjanus_videocall.so"]
    assert sorted(p.name for p in (tmp_path / "transports").iterdir()) == ["libjanus_http.so"]
    assert not any((tmp_path / "events").iterdir())
    text = main.read_text()
    assert f'interface = "{JANUS_ADDRESS}"' in text
    assert f'ice_enforce_list = "{NAMESPACE_LINK[0]}"' in text
    assert 'rtp_port_range = "20000-20999"' in text
    assert "stun_server" not in text and "turn_server" not in text
    http = (tmp_path / "janus.transport.http.jcfg").read_text()
    assert 'ip = "127.0.0.1"' in http and "port = 18088" in http
    assert "admin_http = false" in http and "https = false" in http


def test_janus_is_bounded_pinned_and_dies_with_its_parent() -> None:
    janus = JanusProcess(core=0, max_seconds=90)
    try:
        command = janus._command
        folder = str(janus._folder)
    finally:
        shutil.rmtree(janus._folder)
    assert command[:6] == ["timeout", "--kill-after=5", "90", "taskset", "-c", "0"]
    assert command[6:] == [
        "setpriv",
        "--pdeathsig",
        "KILL",
        str(JANUS),
        "-F",
        folder,
        "-C",
        f"{folder}/janus.jcfg",
    ]


def test_plugin_events_are_read_and_errors_raised() -> None:
    accepted = {
        "janus": "event",
        "plugindata": {
            "plugin": "janus.plugin.videocall",
            "data": {"videocall": "event", "result": {"event": "accepted", "username": "a"}},
        },
    }
    assert plugin_event(accepted) == ("accepted", {"event": "accepted", "username": "a"})
    assert plugin_event({"janus": "event", "plugindata": {"data": {"list": []}}})[0] is None
    refused = {"janus": "event", "plugindata": {"data": {"error_code": 478, "error": "No such"}}}
    with pytest.raises(JanusError, match="478"):
        plugin_event(refused)


def _run(forwarding: str, calls: int, cpu: float, us: float, mib: float) -> dict[str, Any]:
    return {
        "forwarding": forwarding,
        "calls_connected": calls,
        "cpu_percent_per_call": cpu,
        "us_per_packet": us,
        "memory_per_call_mib": mib,
        "onset_latency": {"gateway_p50_ms": 80.0 if forwarding == "relay" else 0.2},
    }


def test_ratios_compare_packet_with_relay_and_janus_at_the_same_n() -> None:
    runs = [
        _run("packet", 5, 0.4, 40.0, 0.8),
        _run("relay", 5, 10.0, 1000.0, 2.4),
        _run("janus", 5, 0.3, 30.0, 0.5),
        _run("packet", 50, 0.2, 20.0, 0.7),
        _run("janus", 50, 0.3, 30.0, 0.35),
        _run("packet", 100, 0.2, 20.0, 0.7),  # nothing to compare with
    ]
    five, fifty = report.ratios(runs)
    assert five["relay_cpu_per_call_over_packet"] == 25.0
    assert five["cpu_per_call"] == 0.04
    assert five["janus_cpu_per_call_over_packet"] == 0.75
    assert fifty["calls"] == 50 and "relay_cpu_per_call_over_packet" not in fifty
    assert fifty["janus_us_per_packet_over_packet"] == 1.5
    assert fifty["janus_memory_per_call_over_packet"] == 0.5
    assert "| 50 | n/a |" in report.markdown(
        {
            "started": "",
            "machine": "",
            "seconds": 1,
            "direct_pairs": 0,
            "janus": "",
            "runs": [],
            "ratios": [five, fifty],
        }
    )
