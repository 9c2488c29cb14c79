"""Bad input gets its documented error, and a call in progress goes on undisturbed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.support.calls import RESIDENT_TONE, STAFF_TONE, connect_call
from tests.support.client import Caller, SignalClient
from tests.support.gateway import RunningGateway

GARBAGE_SDP = "v=0\r\nthis is not sdp at all\r\nm=audio banana\r\n"


@pytest.fixture
async def call_in_progress(gateway: RunningGateway) -> AsyncIterator[tuple[Caller, Caller]]:
    resident, staff = await connect_call(gateway)
    await resident.wait_hears(STAFF_TONE)
    await staff.wait_hears(RESIDENT_TONE)
    yield resident, staff
    # The call is still up and both still hear each other after the abuse.
    resident.sink.reset()
    staff.sink.reset()
    await resident.wait_hears(STAFF_TONE)
    await staff.wait_hears(RESIDENT_TONE)
    assert gateway.center.active_calls == 1
    for caller in (resident, staff):
        await caller.stop_media()
        await caller.signal.close()


async def raw_reply(client: SignalClient, data: str | bytes) -> dict[str, object]:
    await client.send_raw(data)
    reply = await client.next_event("error")
    return reply


def error_code(reply: dict[str, object]) -> str:
    error = reply["error"]
    assert isinstance(error, dict)
    return str(error["code"])


async def test_malformed_json(gateway: RunningGateway, call_in_progress: object) -> None:
    client = await gateway.resident()
    reply = await raw_reply(client, "{not json")
    assert reply["id"] is None
    assert error_code(reply) == "bad_request"
    reply = await raw_reply(client, "[1, 2, 3]")
    assert error_code(reply) == "bad_request"
    # The socket is still usable.
    assert (await client.request("hello", protocol=1))["role"] == "resident"
    await client.close()


async def test_unknown_type_echoes_id(gateway: RunningGateway, call_in_progress: object) -> None:
    client = await gateway.resident()
    reply = await client.call("teleport", line="demo")
    assert reply["type"] == "error"
    assert reply["id"] == 1 + 1  # hello was request 1
    assert error_code(reply) == "unknown_type"
    await client.close()


async def test_missing_field_is_bad_request(
    gateway: RunningGateway, call_in_progress: object
) -> None:
    client = await gateway.resident()
    reply = await client.call("queue.join")
    assert error_code(reply) == "bad_request"
    reply = await client.call("queue.join", line=42)
    assert error_code(reply) == "bad_request"
    await client.close()


async def test_oversized_message(gateway: RunningGateway, call_in_progress: object) -> None:
    client = await gateway.resident()
    big = json.dumps({"id": 5, "type": "offer", "sdp": "x" * (70 * 1024)})
    reply = await raw_reply(client, big)
    assert error_code(reply) == "too_large"
    assert (await client.request("hello", protocol=1))["protocol"] == 1
    # Beyond the hard frame limit the socket is closed, and only that socket.
    await client.send_raw("x" * (2 * 1024 * 1024))
    await client.closed.wait()
    assert client.ws.close_code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
    await client.close()


async def test_wrong_origin_refused_before_upgrade(
    gateway: RunningGateway, call_in_progress: object
) -> None:
    async with aiohttp.ClientSession() as http:
        for headers in ({"Origin": "https://evil.example"}, {}):
            with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                await http.ws_connect(
                    gateway.base_url.replace("http", "ws") + "/ws", headers=headers
                )
            assert info.value.status == 403


async def test_staff_message_from_anonymous(
    gateway: RunningGateway, call_in_progress: object
) -> None:
    client = await gateway.resident()
    reply = await client.call("staff.answer_next", line="demo")
    assert error_code(reply) == "unauthorized"
    await client.close()


async def test_answering_empty_queue(gateway: RunningGateway, call_in_progress: object) -> None:
    staff = await gateway.staff(name="Second Worker", lines=("demo",))
    reply = await staff.call("staff.answer_next", line="demo")
    assert error_code(reply) == "queue_empty"
    await staff.close()


async def test_garbage_sdp(gateway: RunningGateway, call_in_progress: object) -> None:
    client = await gateway.resident()
    await client.request("queue.join", line="demo")
    reply = await client.call("offer", sdp=GARBAGE_SDP)
    assert error_code(reply) == "invalid_sdp"
    # An SDP without Opus audio is refused too.
    no_audio = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    reply = await client.call("offer", sdp=no_audio)
    assert error_code(reply) == "invalid_sdp"
    reply = await client.call("answer", sdp=GARBAGE_SDP)
    assert error_code(reply) == "invalid_state"
    await client.request("queue.leave")
    await client.close()


async def test_state_errors(gateway: RunningGateway, call_in_progress: object) -> None:
    client = await gateway.resident()
    assert error_code(await client.call("hangup")) == "invalid_state"
    assert error_code(await client.call("queue.leave")) == "invalid_state"
    assert error_code(await client.call("offer", sdp="v=0")) == "invalid_state"
    assert error_code(await client.call("queue.join", line="no-such-line")) == "unknown_line"
    assert error_code(await client.call("queue.join", line="../../etc")) == "unknown_line"
    assert error_code(await client.call("hello", protocol=2)) == "unsupported_protocol"
    await client.request("queue.join", line="demo")
    assert error_code(await client.call("queue.join", line="demo")) == "invalid_state"
    await client.request("queue.leave")
    await client.close()


async def test_rate_limit(gateway: RunningGateway, call_in_progress: object) -> None:
    client = await gateway.resident()
    replies = [client.call("hello", protocol=1) for _ in range(60)]
    results = await asyncio.gather(*replies)
    limited = [r for r in results if r["type"] == "error"]
    assert limited, "60 messages at once must hit the limit (burst 40)"
    assert all(error_code(r) == "rate_limited" for r in limited)
    # Every request still gets its own reply, with its id.
    assert sorted(r["id"] for r in results) == list(range(2, 62))
    await client.close()


async def test_binary_and_non_object_frames(
    gateway: RunningGateway, call_in_progress: object
) -> None:
    client = await gateway.resident()
    reply = await raw_reply(client, b"\x00\xff\x10")
    assert error_code(reply) == "bad_request"
    reply = await raw_reply(client, '"just a string"')
    assert error_code(reply) == "bad_request"
    reply = await raw_reply(client, '{"type": "hello", "id": -4}')
    assert error_code(reply) == "bad_request"
    await client.close()


async def test_room_requests_refuse_bad_tokens_ids_and_roles(
    gateway: RunningGateway, call_in_progress: tuple[Caller, Caller]
) -> None:
    resident, staff = call_in_progress
    stranger = await gateway.resident()
    for token in ("", "x", "x" * 5000, "not-a-token-at-all-but-long-enough", "a.b.c"):
        assert error_code(await stranger.call("resume", token=token)) == "invalid_token"
        assert error_code(await stranger.call("interpreter.join", token=token)) == "invalid_token"
        assert error_code(await stranger.call("interpreter.check", token=token)) == "invalid_token"
    assert error_code(await stranger.call("resume", token=42)) == "bad_request"
    assert error_code(await stranger.call("resume")) == "bad_request"
    assert error_code(await stranger.call("resume", token="y" * 40, keepMedia="yes")) == (
        "bad_request"
    )
    assert error_code(await stranger.call("call.rejoin", callId="c-x")) == "unauthorized"
    assert error_code(await stranger.call("participant.remove", participantId="p-1")) == (
        "unauthorized"
    )
    assert error_code(await stranger.call("interpreter.invite", language="fi")) == ("unauthorized")
    assert error_code(await staff.signal.call("call.rejoin", callId="../../x")) == "unknown_call"
    assert error_code(await staff.signal.call("participant.remove", participantId="p-nope")) == (
        "unknown_participant"
    )
    bad_language = await staff.signal.call("interpreter.invite", language="<script>")
    assert error_code(bad_language) == "bad_request"
    long_language = await staff.signal.call("interpreter.invite", language="a" * 100)
    assert error_code(long_language) == "bad_request"
    # The resident cannot be removed, and the resident cannot remove anyone.
    (call,) = gateway.center.calls()
    resident_id = next(m.id for m in call.participants() if m.role.value == "resident")
    professional_id = next(m.id for m in call.participants() if m.role.value == "professional")
    reply = await staff.signal.call("participant.remove", participantId=resident_id)
    assert error_code(reply) == "forbidden"
    reply = await resident.signal.call("participant.remove", participantId=professional_id)
    assert error_code(reply) == "unauthorized"
    await stranger.close()
