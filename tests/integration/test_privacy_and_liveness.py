"""Logs stay anonymous through a whole call; dead sockets are found and released."""

from __future__ import annotations

import asyncio
import re

import pytest

from gateway.cli import signin_link
from tests.support.calls import RESIDENT_TONE, STAFF_TONE, connect_call
from tests.support.client import SignalClient
from tests.support.gateway import RunningGateway, make_config, running_gateway
from tests.support.logs import capture_all_logs, log_text


async def test_logs_hold_no_addresses_sdp_or_tokens(
    gateway: RunningGateway, caplog: pytest.LogCaptureFixture
) -> None:
    capture_all_logs(caplog)
    link = signin_link(gateway.config, "Maija Meikäläinen", ("demo",))
    # Maija signs in with the link and answers the call: her name and token pass through.
    resident, staff = await connect_call(gateway, staff_link=link)
    me = await staff.signal.http.get(gateway.base_url + "/api/staff/me")
    assert (await me.json())["name"] == "Maija Meikäläinen"
    me.release()
    await resident.wait_hears(STAFF_TONE)
    await staff.wait_hears(RESIDENT_TONE)
    await resident.signal.request("hangup")
    await staff.signal.next_event("call.ended")
    for caller in (resident, staff):
        await caller.stop_media()
        await caller.signal.close()
    await asyncio.sleep(0.2)
    text = log_text(caplog.records)
    assert "connected" in text  # the log is being captured at all
    assert "aiohttp.access" in text  # aiohttp's loggers are read too
    assert "a professional signed in" in text  # with the link above
    for secret in ("127.0.0.1", "candidate", "v=0", "a=fingerprint", "ice-ufrag", "eyJ"):
        assert secret not in text, secret
    assert link.split("#token=")[1] not in text
    assert "Meikäläinen" not in text
    assert "Maija" not in text


async def test_dead_socket_is_detected_and_releases_queue_place() -> None:
    config = make_config(
        {"signalling": {"heartbeat_seconds": 0.5}, "calls": {"grace_seconds": 0.5}}
    )
    async with running_gateway(config) as gateway:
        silent = await SignalClient.connect(gateway.base_url, autoping=False)
        await silent.request("queue.join", line="demo")
        assert gateway.center.queued == 1
        for _ in range(50):
            if gateway.center.queued == 0:
                break
            await asyncio.sleep(0.1)
        assert gateway.center.queued == 0
        await silent.closed.wait()
        await silent.close()


async def test_logs_hold_no_resume_or_invitation_tokens(
    gateway: RunningGateway, caplog: pytest.LogCaptureFixture
) -> None:
    capture_all_logs(caplog)
    resident, staff = await connect_call(gateway)
    invite = await staff.signal.request("interpreter.invite", language="so")
    invitation = invite["url"].split("#token=", 1)[1]
    interpreter = await gateway.resident()
    await interpreter.request("interpreter.join", token=invitation)
    first = resident.resume_token
    assert first is not None
    await resident.signal.close()
    await staff.signal.wait_participant("reconnecting", role="resident")
    back = await gateway.resident()
    resumed = await back.request("resume", token=first)
    await back.request("hangup")
    await staff.signal.request("hangup")
    await resident.stop_media()
    await staff.stop_media()
    for client in (back, interpreter, staff.signal):
        await client.close()
    await asyncio.sleep(0.2)
    text = log_text(caplog.records)
    assert re.search(r"participant resident \w+ -> reconnecting", text)  # the log is captured
    for secret in (first, resumed["resumeToken"], invitation, invitation.split(".")[1]):
        assert secret not in text
    records = await gateway.center_store.calls.recent()
    assert records
    for record in records:  # counts by role only: no participant's id is kept
        assert resumed["participantId"] not in repr(vars(record))
