"""Identification inside a call, then video only with the resident's consent.

Everything is real: the gateway with its built-in demo provider (an OpenID Connect provider
served by the same process, FTN profile: signed request object, private_key_jwt, encrypted
ID token), the gateway's relying party, the callback route, and aiortc clients with
cameras whose received video frames are counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiortc import MediaStreamTrack

from tests.support.calls import connect_call
from tests.support.client import Caller, RequestFailed, SignalClient
from tests.support.demo_browser import identify_as_test_person
from tests.support.gateway import RunningGateway
from tests.support.logs import capture_all_logs, log_text

MASKED = re.compile(r"^\d{6}[-+A-FYXWVU]\*\*\*[0-9A-Y]$")


@pytest.fixture
def demo(demo_gateway: RunningGateway) -> RunningGateway:
    return demo_gateway


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


class FrameCounter:
    """Counts the video frames a client decodes from every video track it receives."""

    def __init__(self, caller: Caller) -> None:
        self.caller = caller
        self.frames = 0
        self._tasks: dict[int, asyncio.Task[None]] = {}

    def poll(self) -> None:
        for track in self.caller.video_received:
            if id(track) not in self._tasks:
                self._tasks[id(track)] = asyncio.ensure_future(self._read(track))

    async def _read(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(Exception):
            while True:
                await track.recv()
                self.frames += 1

    async def wait_frames(self, more_than: int, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            self.poll()
            if self.frames > more_than:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"no video frames beyond {more_than} within {timeout} s")

    async def stop(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        for task in self._tasks.values():
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def identify(
    gateway: RunningGateway, http: aiohttp.ClientSession, resident: SignalClient
) -> str:
    """The resident identifies as the first test person; the callback's final page."""
    url = (await resident.request("identify.start"))["url"]
    callback = await identify_as_test_person(http, url, gateway.base_url)
    async with http.get(callback, allow_redirects=False) as response:
        assert response.status == 303
        return response.headers["Location"]


async def test_identified_resident_allows_video_then_withdraws(
    demo: RunningGateway, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    capture_all_logs(caplog)
    resident, staff = await connect_call(demo, cameras=True)
    frames = FrameCounter(staff)
    try:
        with pytest.raises(RequestFailed) as early:
            await staff.signal.request("video.request", purpose="see_document")
        assert early.value.code == "not_identified"

        await staff.signal.request("identify.request")
        asked = await resident.signal.next_event("identify.requested")
        assert asked["by"] == "professional" and "Demo" in asked["provider"]
        assert await identify(demo, http, resident.signal) == "/oidc/done?result=ok"

        seen = await staff.signal.next_event("participant.identified")
        identity = seen["identity"]
        assert (seen["level"], identity["level"]) == ("high", "high")
        assert identity["name"] and MASKED.match(identity["code"]), identity
        own = await resident.signal.next_event("participant.identified")
        assert "identity" not in own and own["level"] == "high"

        with pytest.raises(RequestFailed) as bad:
            await staff.signal.request("video.request", purpose="because I said so")
        assert bad.value.code == "bad_request"
        with pytest.raises(RequestFailed) as not_yours:
            await resident.signal.request("video.request", purpose="other")
        assert not_yours.value.code == "unauthorized"  # a staff request on a resident socket
        await staff.signal.request("video.request", purpose="see_document")
        requested = await resident.signal.next_event("video.state")
        assert (requested["state"], requested["purpose"]) == ("requested", "see_document")
        frames.poll()
        assert frames.frames == 0  # nothing before the resident allows it

        with pytest.raises(RequestFailed) as staff_cannot:
            await staff.signal.request("video.consent", allow=True)
        assert staff_cannot.value.code == "forbidden"
        await resident.signal.request("video.consent", allow=True)
        on = await staff.signal.next_event("video.state")
        while on["state"] != "on":
            on = await staff.signal.next_event("video.state")
        assert on["reason"] == "allowed"
        await frames.wait_frames(0, timeout=10)

        await resident.signal.request("video.stop")
        off = await staff.signal.next_event("video.state")
        while off["state"] != "off":
            off = await staff.signal.next_event("video.state")
        assert (off["by"], off["reason"]) == ("resident", "withdrawn")
        await asyncio.sleep(1.0)
        frames.poll()
        before = frames.frames
        await asyncio.sleep(1.0)
        assert frames.frames == before, "video kept flowing after the resident withdrew"

        (call,) = demo.center.calls()
        log = await demo.center_store.consents.for_room(call.id)
        assert [(e.answer.value, e.by) for e in log] == [
            ("allowed", "resident"),
            ("withdrawn", "resident"),
        ]
        assert identity["name"] not in str([e.to_json() for e in log])

        await staff.signal.request("hangup")
        await resident.signal.next_event("call.ended")
        (record,) = await demo.center_store.calls.recent()
        assert record.identified == "high"
        assert await demo.center_store.rooms.get(call.id) is None  # the identity went with it
        text = log_text(caplog.records)
        for secret in (identity["name"], identity["code"], identity["code"][:6]):
            assert secret not in text
    finally:
        await frames.stop()
        for caller in (resident, staff):
            await caller.stop_media()
            await caller.signal.close()


async def test_decline_and_without_consent_no_video_reaches_anyone(
    demo: RunningGateway, http: aiohttp.ClientSession
) -> None:
    resident, staff = await connect_call(demo, cameras=True)
    frames = {side: FrameCounter(caller) for side, caller in (("r", resident), ("s", staff))}
    try:
        assert await identify(demo, http, resident.signal) == "/oidc/done?result=ok"
        await staff.signal.request("video.request", purpose="assess_situation")
        await resident.signal.request("video.consent", allow=False)
        declined = await staff.signal.next_event("video.state")
        while declined["state"] != "off":
            declined = await staff.signal.next_event("video.state")
        assert declined["reason"] == "declined"
        await asyncio.sleep(2.0)
        for counter in frames.values():
            counter.poll()
            assert counter.frames == 0
        (call,) = demo.center.calls()
        for member in call.participants():
            assert member.peer is not None and not member.peer.video_allowed
    finally:
        for counter in frames.values():
            await counter.stop()
        for caller in (resident, staff):
            await caller.stop_media()
            await caller.signal.close()


async def test_a_replayed_or_stale_callback_binds_nothing(
    demo: RunningGateway, http: aiohttp.ClientSession
) -> None:
    resident, staff = await connect_call(demo)
    try:
        first_url = (await resident.signal.request("identify.start"))["url"]
        second_url = (await resident.signal.request("identify.start"))["url"]
        first = await identify_as_test_person(http, first_url, demo.base_url)
        second = await identify_as_test_person(http, second_url, demo.base_url)
        async with http.get(first, allow_redirects=False) as response:
            assert response.headers["Location"] == "/oidc/done?result=ok"
        async with http.get(first, allow_redirects=False) as replay:
            assert replay.headers["Location"] != "/oidc/done?result=ok"
        # A flow begun in a call that has ended meanwhile binds nothing.
        await staff.signal.request("hangup")
        await resident.signal.next_event("call.ended")
        async with http.get(second, allow_redirects=False) as stale:
            assert stale.headers["Location"] != "/oidc/done?result=ok"
        assert staff.signal.events("participant.identified").qsize() == 1
    finally:
        for caller in (resident, staff):
            await caller.stop_media()
            await caller.signal.close()


async def test_without_a_provider_identification_is_unavailable(gateway: RunningGateway) -> None:
    resident, staff = await connect_call(gateway)
    try:
        for client, request in ((staff, "identify.request"), (resident, "identify.start")):
            with pytest.raises(RequestFailed) as refused:
                await client.signal.request(request)
            assert refused.value.code == "identification_unavailable"
        with pytest.raises(RequestFailed) as video:
            await staff.signal.request("video.request", purpose="other")
        assert video.value.code == "not_identified"
        for request, fields in (("video.consent", {"allow": True}), ("video.stop", {})):
            with pytest.raises(RequestFailed) as refused:
                await resident.signal.request(request, **fields)
            assert refused.value.code == "invalid_state"
    finally:
        for caller in (resident, staff):
            await caller.stop_media()
            await caller.signal.close()
