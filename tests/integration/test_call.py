"""A resident and a professional talk through a real gateway: each hears the other's tone."""

from __future__ import annotations

import asyncio
import gc
import threading

import pytest
from aiortc import RTCPeerConnection

from tests.support.calls import RESIDENT_TONE, STAFF_TONE, connect_call
from tests.support.gateway import RunningGateway, make_config, running_gateway


async def test_both_sides_hear_each_other(gateway: RunningGateway) -> None:
    threads_before = {t.ident for t in threading.enumerate()}
    resident, staff = await connect_call(gateway)
    try:
        await resident.wait_hears(STAFF_TONE)
        await staff.wait_hears(RESIDENT_TONE)
        assert resident.sink.rms() > 1000
        assert staff.sink.rms() > 1000
        # The gateway forwards packets and decodes nothing: only the two test clients,
        # which play what they hear, run a decoder thread.
        decoders = [
            t
            for t in threading.enumerate()
            if t.ident not in threads_before and t.name.endswith("-decoder")
        ]
        assert len(decoders) == 2
    finally:
        await resident.stop_media()
        await staff.stop_media()
        await resident.signal.close()
        await staff.signal.close()


async def test_video_offered_by_either_side_is_declined(gateway: RunningGateway) -> None:
    """Video needs identification and consent (not part of a voice call): the gateway
    declines the cameras both clients offer, so no picture is received or forwarded."""
    resident, staff = await connect_call(gateway, cameras=True)
    try:
        await resident.wait_hears(STAFF_TONE)
        await staff.wait_hears(RESIDENT_TONE)
        for caller in (resident, staff):
            assert caller.pc is not None
            video = [t for t in caller.pc.getTransceivers() if t.kind == "video"]
            assert [t.currentDirection for t in video] == ["inactive"]
            assert caller.video_received == []
        (call,) = gateway.center.calls()
        for session in call.participants():
            # The gate is closed: whatever video arrives is counted and dropped.
            assert session.peer is not None and not session.peer.video_allowed
    finally:
        for caller in (resident, staff):
            await caller.stop_media()
            await caller.signal.close()


async def test_relay_baseline_also_carries_audio() -> None:
    """The benchmark's decode/re-encode baseline must work for its ratios to mean anything."""
    config = make_config({"media": {"forwarding": "relay"}})
    async with running_gateway(config) as relay_gateway:
        resident, staff = await connect_call(relay_gateway)
        try:
            await resident.wait_hears(STAFF_TONE)
            await staff.wait_hears(RESIDENT_TONE)
        finally:
            for caller in (resident, staff):
                await caller.stop_media()
                await caller.signal.close()


def live_peer_connections() -> int:
    gc.collect()
    return sum(
        1
        for obj in gc.get_objects()
        if isinstance(obj, RTCPeerConnection) and obj.connectionState != "closed"
    )


@pytest.mark.parametrize(
    "ending",
    ["resident_hangs_up", "staff_hangs_up", "resident_disconnects", "staff_disconnects"],
)
async def test_every_hangup_order_releases_everything(ending: str) -> None:
    async with running_gateway(make_config({"calls": {"grace_seconds": 1.0}})) as gateway:
        await _hang_up_and_check(gateway, ending)


async def _hang_up_and_check(gateway: RunningGateway, ending: str) -> None:
    threads_before = {t.ident for t in threading.enumerate()}
    tasks_before = len(asyncio.all_tasks())
    resident, staff = await connect_call(gateway)
    await resident.wait_hears(STAFF_TONE)
    await staff.wait_hears(RESIDENT_TONE)
    if ending == "resident_hangs_up":
        await resident.signal.request("hangup")
        ended = await staff.signal.next_event("call.ended")
        assert (ended["reason"], ended["by"]) == ("hangup", "resident")
    elif ending == "staff_hangs_up":
        await staff.signal.request("hangup")
        ended = await resident.signal.next_event("call.ended")
        assert (ended["reason"], ended["by"]) == ("hangup", "professional")
    elif ending == "resident_disconnects":
        # A dropped socket is "reconnecting" first; after the grace period it has left.
        await resident.signal.close()
        await staff.signal.wait_participant("reconnecting", role="resident")
        ended = await staff.signal.next_event("call.ended")
        assert (ended["reason"], ended["by"]) == ("timeout", "resident")
    else:
        await staff.signal.close()
        await resident.signal.wait_participant("reconnecting", role="professional")
        ended = await resident.signal.next_event("call.ended")
        assert (ended["reason"], ended["by"]) == ("timeout", "professional")
    await resident.stop_media()
    await staff.stop_media()
    await resident.signal.close()
    await staff.signal.close()

    center = gateway.center
    for _ in range(50):
        if center.active_calls == 0 and live_peer_connections() == 0:
            break
        await asyncio.sleep(0.1)
    assert center.active_calls == 0
    assert center.queued == 0
    assert live_peer_connections() == 0
    # Decoder threads and forwarding tasks are gone too.
    for _ in range(50):
        leftover = [
            t
            for t in threading.enumerate()
            if t.ident not in threads_before and t.name.endswith("-decoder")
        ]
        if not leftover and len(asyncio.all_tasks()) <= tasks_before:
            break
        await asyncio.sleep(0.1)
    assert not leftover, leftover
    assert len(asyncio.all_tasks()) <= tasks_before, asyncio.all_tasks()
