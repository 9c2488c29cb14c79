"""Rooms of participants through a real gateway: three-way audio, an interpreter who is
removed, drops and resumes in a queue and in a call, and nothing left behind."""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import AsyncIterator

import pytest

from tests.integration.test_call import live_peer_connections
from tests.support.calls import RESIDENT_TONE, STAFF_TONE, connect_call
from tests.support.client import Caller, SignalClient
from tests.support.gateway import RunningGateway, make_config, running_gateway
from tests.support.stores import BACKENDS

INTERPRETER_TONE = 700.0


@pytest.fixture(params=sorted(BACKENDS))
async def gateway(request: pytest.FixtureRequest) -> AsyncIterator[RunningGateway]:
    """Every test here runs on the memory store and on one that yields at every operation."""
    async with running_gateway(store_factory=BACKENDS[request.param]) as gw:
        yield gw


async def add_interpreter(gateway: RunningGateway, staff: Caller) -> Caller:
    invite = await staff.signal.request("interpreter.invite", language="ar")
    assert invite["url"].startswith(gateway.base_url + "/join#token=")
    token = invite["url"].split("#token=", 1)[1]
    signal = await gateway.resident()
    checked = await signal.request("interpreter.check", token=token)
    assert checked["language"] == "ar" and checked["line"] == "demo"
    joined = await signal.request("interpreter.join", token=token)
    assert joined["language"] == "ar"
    roles = sorted(p["role"] for p in joined["participants"])
    assert roles == ["interpreter", "professional", "resident"]
    interpreter = Caller(signal, INTERPRETER_TONE)
    interpreter.resume_token = joined["resumeToken"]
    await interpreter.start_media()
    return interpreter


async def close_all(*callers: Caller) -> None:
    for caller in callers:
        await caller.stop_media()
        await caller.signal.close()


async def test_three_participants_hear_each_other_and_the_interpreter_is_removed(
    gateway: RunningGateway,
) -> None:
    resident, staff = await connect_call(gateway)
    interpreter = await add_interpreter(gateway, staff)
    try:
        joined = await resident.signal.next_event("participant.joined")
        assert joined["participant"] == {
            "id": joined["participant"]["id"],
            "role": "interpreter",
            "state": "joining",
            "language": "ar",
        }
        await resident.wait_hears_all([STAFF_TONE, INTERPRETER_TONE], not_frequency=RESIDENT_TONE)
        await staff.wait_hears_all([RESIDENT_TONE, INTERPRETER_TONE], not_frequency=STAFF_TONE)
        await interpreter.wait_hears_all(
            [RESIDENT_TONE, STAFF_TONE], not_frequency=INTERPRETER_TONE
        )
        await staff.signal.request("participant.remove", participantId=joined["participant"]["id"])
        ended = await interpreter.signal.next_event("call.ended")
        assert ended["reason"] == "removed"
        left = await resident.signal.next_event("participant.left")
        assert left["reason"] == "removed" and left["participant"]["role"] == "interpreter"
        await interpreter.stop_media()
        # The other two go on talking; nothing of the interpreter reaches them any more.
        await asyncio.sleep(0.5)
        resident.reset_sinks()
        staff.reset_sinks()
        await resident.wait_hears_all([STAFF_TONE])
        await staff.wait_hears_all([RESIDENT_TONE])
        assert not any(abs(h - INTERPRETER_TONE) < 35 for h in resident.heard() + staff.heard())
        assert gateway.center.active_calls == 1
    finally:
        await close_all(resident, staff, interpreter)


async def test_interpreter_link_is_single_use_and_only_for_its_call(
    gateway: RunningGateway,
) -> None:
    resident, staff = await connect_call(gateway)
    try:
        invite = await staff.signal.request("interpreter.invite", language="uk")
        token = invite["url"].split("#token=", 1)[1]
        first = await gateway.resident()
        await first.request("interpreter.join", token=token)
        second = await gateway.resident()
        reply = await second.call("interpreter.join", token=token)
        assert reply["error"]["code"] == "invalid_state"  # an interpreter is in the call
        reply = await second.call("interpreter.check", token=token)
        assert reply["error"]["code"] == "invalid_token"  # used: the page shows no Join
        await first.request("hangup")
        reply = await second.call("interpreter.join", token=token)
        assert reply["error"]["code"] == "invalid_token"  # used up
        forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        reply = await second.call("interpreter.join", token=forged)
        assert reply["error"]["code"] == "invalid_token"
        reply = await resident.signal.call("interpreter.invite", language="uk")
        assert reply["error"]["code"] == "unauthorized"
        fresh = await staff.signal.request("interpreter.invite", language="uk")
        await staff.signal.request("hangup")
        reply = await second.call("interpreter.check", token=fresh["url"].split("#token=")[1])
        assert reply["error"]["code"] == "unknown_call"
        await first.close()
        await second.close()
    finally:
        await close_all(resident, staff)


async def test_resident_drops_mid_call_and_resumes_with_audio_both_ways(
    gateway: RunningGateway,
) -> None:
    resident, staff = await connect_call(gateway)
    try:
        await resident.wait_hears(STAFF_TONE)
        await staff.wait_hears(RESIDENT_TONE)
        old_token = resident.resume_token
        assert old_token is not None
        await resident.signal.close()  # the socket is gone (network hand-over, reload)
        await staff.signal.wait_participant("reconnecting", role="resident")
        loop = asyncio.get_running_loop()
        started = loop.time()
        signal = await gateway.resident()
        resumed = await signal.request("resume", token=old_token, keepMedia=False)
        assert resumed["phase"] == "call" and resumed["role"] == "resident"
        assert resumed["resumeToken"] != old_token
        resident.resume_token = resumed["resumeToken"]
        staff.reset_sinks()
        await resident.restart_media(signal)
        await staff.signal.wait_participant("connected", role="resident")
        await resident.wait_hears(STAFF_TONE, timeout=5)
        await staff.wait_hears_all([RESIDENT_TONE], timeout=5)
        assert loop.time() - started < 5
        # The used token is refused; a token does not work on a staff socket either.
        reply = await (await gateway.resident()).call("resume", token=old_token)
        assert reply["error"]["code"] == "invalid_token"
        reply = await staff.signal.call("resume", token=resident.resume_token)
        assert reply["error"]["code"] == "invalid_state"  # the staff socket is in a call
        other_staff = await gateway.staff(lines=("demo",))
        reply = await other_staff.call("resume", token=staff.resume_token)
        assert reply["error"]["code"] == "invalid_token"  # another staff session
        await other_staff.close()
        assert gateway.center.queued == 0 and gateway.center.active_calls == 1
    finally:
        await close_all(resident, staff)


async def test_beyond_the_grace_period_the_resident_has_left() -> None:
    async with running_gateway(make_config({"calls": {"grace_seconds": 1.0}})) as gateway:
        resident, staff = await connect_call(gateway)
        interpreter = await add_interpreter(gateway, staff)
        try:
            await resident.signal.close()
            await staff.signal.wait_participant("reconnecting", role="resident")
            left = await staff.signal.next_event("participant.left", timeout=5)
            assert left["participant"]["role"] == "resident" and left["reason"] == "timeout"
            signal = await gateway.resident()
            reply = await signal.call("resume", token=resident.resume_token)
            assert reply["error"]["code"] == "invalid_token"
            await signal.close()
            assert gateway.center.active_calls == 1  # professional and interpreter go on
        finally:
            await close_all(resident, staff, interpreter)


async def test_queued_resident_drops_and_resumes_keeping_the_position(
    gateway: RunningGateway,
) -> None:
    callers = [await gateway.resident() for _ in range(3)]
    tokens = []
    for caller in callers:
        tokens.append((await caller.request("queue.join", line="demo"))["resumeToken"])
    await callers[1].close()
    await asyncio.sleep(0.3)
    assert gateway.center.queued == 3
    back = await gateway.resident()
    resumed = await back.request("resume", token=tokens[1])
    assert resumed["phase"] == "queued" and resumed["position"] == 2
    third = await callers[2].request("queue.leave")
    assert third == {}
    staff = await gateway.staff(lines=("demo",))
    await staff.request("staff.answer_next", line="demo")
    await callers[0].next_event("call.connected")
    await staff.request("hangup")
    other = await gateway.staff(lines=("demo",))
    await other.request("staff.answer_next", line="demo")
    connected = await back.next_event("call.connected")
    assert connected["role"] == "resident"
    for client in (callers[0], callers[2], back, staff, other):
        await client.close()


async def test_a_professional_rejoins_from_the_console(gateway: RunningGateway) -> None:
    resident, staff = await connect_call(gateway)
    try:
        await staff.stop_media()
        http = staff.signal.http
        await staff.signal.ws.close()
        await resident.signal.wait_participant("reconnecting", role="professional")
        console = await SignalClient.connect(gateway.base_url, http=http)
        hello = await console.request("hello", protocol=1)
        (call,) = hello["staff"]["calls"]
        rejoined = await console.request("call.rejoin", callId=call["callId"])
        assert rejoined["phase"] == "call"
        resident.reset_sinks()
        await staff.restart_media(console)
        await resident.signal.wait_participant("connected", role="professional")
        await resident.wait_hears_all([STAFF_TONE])
        await staff.wait_hears(RESIDENT_TONE)
    finally:
        await close_all(resident, staff)


@pytest.mark.parametrize("order", list(itertools.permutations(["resident", "staff", "interp"])))
async def test_no_peer_connection_task_or_thread_left_after_any_leaving_order(
    gateway: RunningGateway, order: tuple[str, ...]
) -> None:
    threads_before = {t.ident for t in threading.enumerate()}
    tasks_before = len(asyncio.all_tasks())
    resident, staff = await connect_call(gateway)
    interpreter = await add_interpreter(gateway, staff)
    callers = {"resident": resident, "staff": staff, "interp": interpreter}
    await interpreter.wait_hears_all([RESIDENT_TONE, STAFF_TONE])
    for name in order:
        caller = callers[name]
        reply = await caller.signal.call("hangup")
        assert reply["type"] == "result" or reply["error"]["code"] == "invalid_state"
    await close_all(resident, staff, interpreter)
    center = gateway.center
    for _ in range(50):
        leftover = [
            t
            for t in threading.enumerate()
            if t.ident not in threads_before and t.name.endswith("-decoder")
        ]
        done = (
            center.active_calls == 0
            and not center.participants()
            and live_peer_connections() == 0
            and len(asyncio.all_tasks()) <= tasks_before
            and not leftover
        )
        if done:
            break
        await asyncio.sleep(0.1)
    assert center.active_calls == 0 and not center.participants()
    assert live_peer_connections() == 0
    assert not leftover
    assert len(asyncio.all_tasks()) <= tasks_before, asyncio.all_tasks()
    record = (await gateway.center_store.calls.recent(limit=1))[0]
    assert record.participants == {"resident": 1, "professional": 1, "interpreter": 1}
