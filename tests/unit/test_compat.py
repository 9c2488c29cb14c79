"""The start-up check of aiortc's and aioice's private parts (media/compat.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aioice.ice
import pytest
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender
from aiortc.rtcdtlstransport import RTCDtlsTransport

from gateway.app import create_app
from media.compat import CompatError, check_compat, installed_versions
from tests.support.gateway import TEST_KEY, free_port, make_config

ROOT = Path(__file__).resolve().parents[2]


def drop_after_init(monkeypatch: pytest.MonkeyPatch, cls: type, name: str) -> None:
    """Make ``cls`` instances lack attribute ``name`` (as a version without it would)."""
    original: Callable[..., None] = cls.__init__  # type: ignore[misc]

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        delattr(self, name)

    monkeypatch.setattr(cls, "__init__", init)


async def test_passes_on_the_installed_versions() -> None:
    check_compat()


async def test_a_missing_method_is_named_with_the_versions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(RTCRtpReceiver, "_send_rtcp_pli")
    with pytest.raises(CompatError) as error:
        check_compat()
    message = str(error.value)
    assert "RTCRtpReceiver._send_rtcp_pli" in message
    assert installed_versions() in message and "aiortc 1." in message and "aioice 0." in message


@pytest.mark.parametrize(
    ("cls", "name"),
    [
        (RTCRtpSender, "_RTCRtpSender__packet_count"),
        (RTCRtpSender, "_rtx_ssrc"),
        (RTCRtpReceiver, "_RTCRtpReceiver__remote_streams"),
        (RTCDtlsTransport, "_tx_srtp"),
        (aioice.ice.Connection, "_nominated"),
    ],
)
async def test_a_missing_instance_attribute_is_named(
    monkeypatch: pytest.MonkeyPatch, cls: type, name: str
) -> None:
    drop_after_init(monkeypatch, cls, name)
    with pytest.raises(CompatError, match=name):
        check_compat()


async def test_a_renamed_aioice_pair_attribute_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(aioice.ice.CandidatePair, "remote_addr")
    with pytest.raises(CompatError, match=r"CandidatePair\.remote_addr"):
        check_compat()


async def test_create_app_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(RTCDtlsTransport, "_handle_rtp_data")
    with pytest.raises(CompatError, match=r"RTCDtlsTransport\._handle_rtp_data"):
        await create_app(make_config())


def test_serve_prints_the_reason_and_exits_non_zero() -> None:
    # A real `gateway serve` whose aiortc lacks one method the fast path uses.
    script = (
        "import aiortc.rtcrtpsender as s\n"
        "del s.RTCRtpSender._handle_rtcp_packet\n"
        "from gateway.cli import main\n"
        "raise SystemExit(main(['serve']))\n"
    )
    env = {
        **os.environ,
        "TUKILINJA_PORT": str(free_port()),
        "TUKILINJA_HOST": "127.0.0.1",
        "TUKILINJA_SECRET_KEY": TEST_KEY,
    }
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 3
    assert "RTCRtpSender._handle_rtcp_packet" in result.stderr
    assert "tukilinja: cannot start" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "listening" not in result.stdout


async def test_an_object_of_another_shape_is_reported_not_raised(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def add_transceiver(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("transceivers work differently now")

    monkeypatch.setattr(RTCPeerConnection, "addTransceiver", add_transceiver)
    with pytest.raises(CompatError, match=r"could not be inspected.*TypeError"):
        check_compat()
