"""What a hostile tester broke (issue of the second round), each kept fixed by a test."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
from aiortc import RTCPeerConnection

from media.ice import pinned_host_addresses
from tests.support.audio import ToneTrack
from tests.support.calls import RESIDENT_TONE, STAFF_TONE, connect_call
from tests.support.client import LOOPBACK, SignalClient
from tests.support.gateway import RunningGateway, make_config, running_gateway


def code(reply: dict[str, object]) -> str:
    error = reply["error"]
    assert isinstance(error, dict)
    return str(error["code"])


async def browser_like_offer() -> str:
    pc = RTCPeerConnection()
    pc.addTrack(ToneTrack(440))
    with pinned_host_addresses(LOOPBACK):
        await pc.setLocalDescription(await pc.createOffer())
    sdp = str(pc.localDescription.sdp)
    await pc.close()
    return sdp


async def test_deeply_nested_json_is_a_bad_request(gateway: RunningGateway) -> None:
    client = await gateway.resident()
    nested = '{"id": 7, "type": "hello", "x": ' + "[" * 1000 + "]" * 1000 + "}"
    await client.send_raw(nested)
    reply = await client.next_event("error")
    assert code(reply) == "bad_request"
    assert "nested" in str(reply["error"])
    deeper = '{"id": 8, "type": "queue.join", "line": ' + '{"a": ' * 3000
    await client.send_raw(deeper)
    assert code(await client.next_event("error")) == "bad_request"
    assert (await client.request("hello", protocol=1))["role"] == "resident"  # still usable
    await client.close()


async def test_oversized_messages_count_toward_the_rate_limit(gateway: RunningGateway) -> None:
    client = await gateway.resident()
    big = json.dumps({"id": 1, "type": "hello", "pad": "x" * (100 * 1024)})
    for _ in range(300):
        if client.closed.is_set():
            break
        await client.send_raw(big)
    await asyncio.wait_for(client.closed.wait(), 10)
    assert client.ws.close_code == aiohttp.WSCloseCode.POLICY_VIOLATION
    assert client.events("error").qsize() > 0
    codes = set()
    while not client.events("error").empty():
        codes.add(code(client.events("error").get_nowait()))
    assert codes == {"too_large", "rate_limited"}
    await client.close()


async def test_sdp_amplification_is_refused_cheaply(gateway: RunningGateway) -> None:
    client = await gateway.resident()
    await client.request("queue.join", line="demo")
    offer = await browser_like_offer()
    head, _, audio = offer.partition("m=audio")
    section = "m=audio" + audio
    crafted = head + section + "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n" * 285
    started = time.process_time()
    reply = await client.call("offer", sdp=crafted)
    assert code(reply) == "invalid_sdp"
    assert "media sections" in str(reply["error"])
    assert time.process_time() - started < 0.05  # refused before aiortc parses it
    lines = head + section + "a=x-junk:1\r\n" * 1000
    assert code(await client.call("offer", sdp=lines[: 32 * 1024 - 1])) == "invalid_sdp"
    await client.close()


async def test_offer_without_a_direction_is_answered_as_sendrecv(
    gateway: RunningGateway,
) -> None:
    client = await gateway.resident()
    await client.request("queue.join", line="demo")
    offer = await browser_like_offer()
    stripped = "".join(
        line for line in offer.splitlines(keepends=True) if line.strip() != "a=sendrecv"
    )
    assert "a=sendrecv" not in stripped
    reply = await client.call("offer", sdp=stripped)
    assert reply["type"] == "result", reply
    await client.close()


async def test_offers_per_socket_are_bounded(gateway: RunningGateway) -> None:
    client = await gateway.resident()
    await client.request("queue.join", line="demo")
    codes = [code(await client.call("offer", sdp="v=0")) for _ in range(12)]
    assert codes[:10] == ["invalid_sdp"] * 10
    assert codes[10:] == ["rate_limited", "rate_limited"]
    await client.close()


async def test_one_client_cannot_fill_a_queue_or_hold_endless_sockets() -> None:
    config = make_config({"limits": {"queue_places_per_client": 2, "sockets_per_client": 5}})
    async with running_gateway(config) as gateway:
        clients = [await gateway.resident() for _ in range(4)]
        replies = [await c.call("queue.join", line="demo") for c in clients[:3]]
        assert [r["type"] for r in replies[:2]] == ["result", "result"]
        assert code(replies[2]) == "rate_limited"
        await clients[0].request("queue.leave")  # a place given back can be taken again
        assert (await clients[2].call("queue.join", line="demo"))["type"] == "result"
        await SignalClient.connect(gateway.base_url)  # the fifth socket
        async with aiohttp.ClientSession() as http:
            try:
                await http.ws_connect(
                    gateway.base_url.replace("http", "ws") + "/ws",
                    headers={"Origin": gateway.base_url},
                )
            except aiohttp.WSServerHandshakeError as exc:
                assert exc.status == 429
            else:
                raise AssertionError("a sixth socket was accepted")
        for client in clients:
            await client.close()


async def test_a_call_that_never_gets_media_ends_for_both() -> None:
    config = make_config({"calls": {"media_timeout_seconds": 1.0}})
    async with running_gateway(config) as gateway:
        silent = await gateway.resident()
        await silent.request("queue.join", line="demo")  # never offers (no microphone)
        staff = await gateway.staff(lines=("demo",))
        await staff.request("staff.answer_next", line="demo")
        ended = await staff.next_event("call.ended", timeout=5)
        assert ended["reason"] == "media_timeout"
        assert (await silent.next_event("call.ended", timeout=5))["reason"] == "media_timeout"
        assert gateway.center.active_calls == 0
        # The professional is free to answer the next caller.
        assert code(await staff.call("staff.answer_next", line="demo")) == "queue_empty"
        await silent.close()
        await staff.close()


async def test_a_call_keeps_its_audio_while_one_socket_sends_its_worst(
    gateway: RunningGateway,
) -> None:
    resident, staff = await connect_call(gateway)
    await resident.wait_hears(STAFF_TONE)
    await staff.wait_hears(RESIDENT_TONE)
    offer = await browser_like_offer()
    head, _, audio = offer.partition("m=audio")
    worst = [
        '{"id": 1, "type": "hello", "x": ' + "[" * 1000 + "]" * 1000 + "}",
        json.dumps({"id": 2, "type": "hello", "pad": "x" * (60 * 1024)}),
        json.dumps({"id": 3, "type": "offer", "sdp": (head + ("m=audio" + audio) * 4)[:32000]}),
        json.dumps({"id": 4, "type": "queue.join", "line": "demo"}),
        "\x00" * 1000,
    ]
    attackers = [await gateway.resident() for _ in range(3)]

    async def attack(client: SignalClient) -> None:
        for round_ in range(400):
            if client.closed.is_set():
                return
            await client.send_raw(worst[round_ % len(worst)])
            await asyncio.sleep(0.01)

    since = time.monotonic()
    await asyncio.gather(*(attack(a) for a in attackers), asyncio.sleep(5))
    for caller in (resident, staff):
        gap = caller.sink.max_gap(since)
        assert gap < 0.2, f"audio stopped for {gap * 1000:.0f} ms"
    for client in attackers:
        await client.close()
    for caller in (resident, staff):
        await caller.stop_media()
        await caller.signal.close()
