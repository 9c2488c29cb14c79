"""Hostile HTTP from raw sockets: half-sent heads, slow and chunked bodies, unmasked frames,
malformed requests; and nothing of the client (address, query, header values) in any log."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import struct
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from gateway.app import create_app
from gateway.server import serve_app
from tests.support.gateway import RunningGateway, make_config, running_gateway
from tests.support.logs import capture_all_logs, log_text

HEADER_TIMEOUT = 0.5


@pytest.fixture
async def strict_gateway() -> AsyncIterator[RunningGateway]:
    """Short header timeout, long keep-alive: a closed socket is the header timeout's doing."""
    config = make_config(
        {"server": {"header_timeout_seconds": HEADER_TIMEOUT, "keepalive_seconds": 60}}
    )
    async with running_gateway(config) as gateway:
        yield gateway


async def open_raw(gateway: RunningGateway) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(gateway.config.host, gateway.config.port)


async def closed_after(reader: asyncio.StreamReader, limit: float) -> float:
    """Seconds until the server closes the connection (reading and dropping any reply)."""
    start = time.monotonic()
    async with asyncio.timeout(limit):
        while await reader.read(65536):
            pass
    return time.monotonic() - start


async def read_for(reader: asyncio.StreamReader, seconds: float) -> None:
    """Read and drop replies until the server closes or ``seconds`` pass."""
    with contextlib.suppress(TimeoutError):
        await closed_after(reader, seconds)


async def get_status(gateway: RunningGateway, path: str = "/healthz") -> int:
    async with (
        aiohttp.ClientSession() as http,
        http.get(gateway.base_url + path) as response,
    ):
        return response.status


def connection_count(gateway: RunningGateway) -> int:
    assert gateway.runner is not None and gateway.runner.server is not None
    return len(gateway.runner.server.connections)


async def test_half_sent_head_is_closed_within_the_header_timeout(
    strict_gateway: RunningGateway,
) -> None:
    reader, writer = await open_raw(strict_gateway)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # no blank line: half a head
    await writer.drain()
    took = await closed_after(reader, HEADER_TIMEOUT + 3)
    assert HEADER_TIMEOUT * 0.8 <= took <= HEADER_TIMEOUT + 2
    writer.close()


async def test_a_trickled_head_does_not_reset_the_timeout(strict_gateway: RunningGateway) -> None:
    reader, writer = await open_raw(strict_gateway)
    start = time.monotonic()

    async def trickle() -> None:
        for byte in b"GET /healthz HTTP/1.1\r\nX-Slow: " + b"a" * 200:
            writer.write(bytes([byte]))
            await asyncio.sleep(0.05)

    trickler = asyncio.ensure_future(trickle())
    try:
        await closed_after(reader, HEADER_TIMEOUT + 3)
    finally:
        trickler.cancel()
        writer.close()
    assert time.monotonic() - start <= HEADER_TIMEOUT + 2


async def test_many_half_sent_heads_exhaust_nothing(strict_gateway: RunningGateway) -> None:
    sockets = [await open_raw(strict_gateway) for _ in range(300)]
    for _, writer in sockets:
        writer.write(b"POST /api/staff/signin HTTP/1.1\r\nContent-Len")
    # While they hang, the gateway answers others at once.
    start = time.monotonic()
    assert await get_status(strict_gateway) == 200
    assert time.monotonic() - start < HEADER_TIMEOUT
    await asyncio.gather(*(closed_after(reader, HEADER_TIMEOUT + 5) for reader, _ in sockets))
    for _, writer in sockets:
        writer.close()
    for _ in range(50):
        if connection_count(strict_gateway) == 0:
            break
        await asyncio.sleep(0.05)
    assert connection_count(strict_gateway) == 0
    assert await get_status(strict_gateway) == 200


async def test_a_complete_request_is_answered_and_kept_alive(
    strict_gateway: RunningGateway,
) -> None:
    reader, writer = await open_raw(strict_gateway)
    for _ in range(2):  # the second request on the same connection, after the header timeout
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ")
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        assert b'"ok"' in await reader.readexactly(length)
        await asyncio.sleep(HEADER_TIMEOUT * 1.5)
    writer.close()


async def test_keep_alive_bounds_an_idle_connection_and_a_later_half_head() -> None:
    config = make_config({"server": {"header_timeout_seconds": 30, "keepalive_seconds": 0.5}})
    async with running_gateway(config) as gateway:
        idle_reader, idle_writer = await open_raw(gateway)
        reader, writer = await open_raw(gateway)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200 ")
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: loc")  # the next head, half of it
        assert await closed_after(reader, 5) <= 3
        writer.close()
        # A connection that never sends a byte: closed by the header timer or keep-alive.
        assert await closed_after(idle_reader, 5) <= 3
        idle_writer.close()


async def test_server_header_names_no_versions(gateway: RunningGateway) -> None:
    async with aiohttp.ClientSession() as http:
        for path in ("/healthz", "/no/such/page", "/static/css/app.css"):
            async with http.get(gateway.base_url + path) as response:
                assert response.headers.get("Server") == "tukilinja", path
    reader, writer = await open_raw(gateway)
    writer.write(upgrade_request(gateway))
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 ")
    assert b"\r\nServer: tukilinja\r\n" in head
    writer.close()
    reader, writer = await open_raw(gateway)
    writer.write(b"\x16\x03\x01 garbage that is no HTTP\r\n\r\n")
    reply = await reader.read(65536)
    assert reply.startswith((b"HTTP/1.0 400 ", b"HTTP/1.1 400 "))
    assert b"\r\nServer: tukilinja\r\n" in reply
    assert b"Python" not in reply and b"aiohttp" not in reply
    writer.close()


async def post_chunked(
    gateway: RunningGateway, chunks: list[bytes], pause: float = 0.0
) -> aiohttp.ClientResponse:
    async def body() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk
            if pause:
                await asyncio.sleep(pause)

    http = aiohttp.ClientSession()
    try:
        response = await http.post(
            gateway.base_url + "/api/staff/signin",
            data=body(),
            headers={"Content-Type": "application/json", "Origin": gateway.base_url},
        )
        await response.read()  # kept by the response for .json()
        return response
    finally:
        await http.close()


async def test_a_chunked_body_over_the_limit_is_refused(gateway: RunningGateway) -> None:
    big = b'{"token": "' + b"x" * 60_000 + b'"}'
    response = await post_chunked(gateway, [big[i : i + 4096] for i in range(0, len(big), 4096)])
    assert response.status == 413
    assert response.content_type == "application/json"  # ours, not aiohttp's plain text
    assert (await response.json())["error"]["code"] == "too_large"
    # A small chunked body is read as before.
    response = await post_chunked(gateway, [b'{"token": ', b'"not-a-token"}'])
    assert response.status == 401


async def test_a_body_that_does_not_arrive_in_time_is_refused() -> None:
    config = make_config({"server": {"body_timeout_seconds": 0.5}})
    async with running_gateway(config) as gateway:
        reader, writer = await open_raw(gateway)
        writer.write(
            b"POST /api/staff/signin HTTP/1.1\r\nHost: localhost\r\n"
            b'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"tok'
        )
        start = time.monotonic()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert time.monotonic() - start < 3
        assert head.startswith(b"HTTP/1.1 408 ")
        assert b'"timeout"' in await reader.read(65536)
        writer.close()


def client_frame(payload: bytes, masked: bool = True, opcode: int = 0x1) -> bytes:
    head = bytes([0x80 | opcode])
    length = len(payload)
    mask_bit = 0x80 if masked else 0
    if length < 126:
        head += bytes([mask_bit | length])
    elif length < 65536:
        head += bytes([mask_bit | 126]) + struct.pack("!H", length)
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", length)
    if not masked:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def upgrade_request(gateway: RunningGateway) -> bytes:
    key = base64.b64encode(os.urandom(16))
    return (
        b"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key + b"\r\n"
        b"Origin: " + gateway.base_url.encode() + b"\r\n\r\n"
    )


async def read_server_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    first, second = await reader.readexactly(2)
    length = second & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", await reader.readexactly(2))
    return first & 0x0F, await reader.readexactly(length)


@pytest.mark.parametrize("pipelined", [False, True], ids=["after-101", "with-the-handshake"])
async def test_unmasked_client_frames_are_refused_with_1002(
    gateway: RunningGateway, pipelined: bool
) -> None:
    reader, writer = await open_raw(gateway)
    hello = client_frame(b'{"type": "hello", "id": 1, "protocol": 1}')
    bad = client_frame(b'{"type": "hello", "id": 2, "protocol": 1}', masked=False)
    if pipelined:
        writer.write(upgrade_request(gateway) + hello + bad)
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101 ")
    else:
        writer.write(upgrade_request(gateway))
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101 ")
        writer.write(hello)  # a masked frame is read and answered
        opcode, data = await asyncio.wait_for(read_server_frame(reader), 5)
        assert opcode == 0x1 and b'"id":1' in data
        writer.write(bad)
    frames = []
    async with asyncio.timeout(5):
        while True:
            try:
                frames.append(await read_server_frame(reader))
            except asyncio.IncompleteReadError:
                break
    assert frames[-1] == (0x8, struct.pack("!H", 1002))  # close, protocol error
    assert not any(b'"id":2' in data for _, data in frames)  # the unmasked one was not read
    assert await reader.read() == b""
    writer.close()


async def test_masked_frames_of_every_length_pass(gateway: RunningGateway) -> None:
    reader, writer = await open_raw(gateway)
    writer.write(upgrade_request(gateway))
    assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101 ")
    padding = "x" * 70_000  # larger than max_message_bytes: answered with too_large, not 1002
    for n, pad in enumerate(("", "y" * 200, padding)):
        body = f'{{"type": "hello", "id": {n + 1}, "protocol": 1, "p": "{pad}"}}'.encode()
        frame = client_frame(body)
        for i in range(0, len(frame), 7):  # split anywhere, headers included
            writer.write(frame[i : i + 7])
        opcode, data = await asyncio.wait_for(read_server_frame(reader), 5)
        assert opcode == 0x1, data
    writer.close()


SECRETS = ("qsecret42", "cookiesecret42", "headersecret42", "authsecret42", "127.0.0.1")

MALFORMED = [
    # bad request lines, with query strings
    b"GET /lines/demo?qsecret42=1 HTTP/9.9\r\nHost: localhost\r\n\r\n",
    b"G\x00T /?qsecret42 HTTP/1.1\r\n\r\n",
    b"GET /?qsecret42 HTTP/1.1 extra words\r\n\r\n",
    # headers: oversized, malformed, with secret values
    b"GET /?qsecret42 HTTP/1.1\r\nCookie: cookiesecret42" + b"c" * 9000 + b"\r\n\r\n",
    b"GET / HTTP/1.1\r\nX-Thing: headersecret42\x01\r\n\r\n",
    b"GET / HTTP/1.1\r\nAuthorization: Bearer authsecret42\r\nBad Header: headersecret42\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: x-headersecret42\r\n\r\n",
    b"GET / HTTP/1.1\r\n" + b"X-Many: headersecret42\r\n" * 200 + b"\r\n",
    # garbage
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03cookiesecret42\r\n\r\n",
    b"headersecret42: yes\r\n\r\n",
    # bad WebSocket upgrades
    b"GET /ws?qsecret42 HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nCookie: cookiesecret42\r\n\r\n",
    b"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Version: 12\r\nSec-WebSocket-Key: headersecret42\r\n\r\n",
]


async def boom(request: web.Request) -> web.Response:
    """A handler that fails with the client's data in its exception (aiohttp logs it)."""
    cookie = request.headers.get("Cookie")
    raise RuntimeError(f"failed for {request.remote} on {request.path_qs} with Cookie: {cookie}")


@pytest.fixture
async def failing_gateway() -> AsyncIterator[RunningGateway]:
    """The strict gateway with one more route, ``/boom``, that always fails."""
    config = make_config(
        {"server": {"header_timeout_seconds": HEADER_TIMEOUT, "keepalive_seconds": 60}}
    )
    app = await create_app(config)
    app.router.add_get("/boom", boom)
    async with serve_app(app, config, shutdown_timeout=5) as runner:
        yield RunningGateway(config, app, runner)


async def test_no_client_data_reaches_any_log(
    failing_gateway: RunningGateway, caplog: pytest.LogCaptureFixture
) -> None:
    gateway = failing_gateway
    capture_all_logs(caplog)
    for request in MALFORMED:
        reader, writer = await open_raw(gateway)
        writer.write(request)
        await read_for(reader, HEADER_TIMEOUT + 0.5)
        writer.close()
    # Bad WebSocket upgrades with an allowed origin, then an unmasked frame.
    for version in (b"12", b"13"):
        reader, writer = await open_raw(gateway)
        writer.write(
            upgrade_request(gateway).replace(b"Version: 13", b"Version: " + version)
            + client_frame(b"headersecret42", masked=False)
        )
        await read_for(reader, HEADER_TIMEOUT + 0.5)
        writer.close()
    # Half a request, left to the header timeout.
    reader, writer = await open_raw(gateway)
    writer.write(b"GET /?qsecret42 HTTP/1.1\r\nCookie: cookiesecret42\r\nX-A: headersecret42")
    await read_for(reader, HEADER_TIMEOUT + 0.5)
    writer.close()
    # And a normal request with the same secrets in query and headers.
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            gateway.base_url + "/api/lines?qsecret42=1",
            headers={"Cookie": "a=cookiesecret42", "Authorization": "authsecret42"},
        ) as response,
    ):
        assert response.status == 200
        # A handler failing with the client's data in its exception: aiohttp logs it at
        # ERROR, "Error handling request from <address>", with the traceback.
        async with http.get(
            gateway.base_url + "/boom?qsecret42=1", headers={"Cookie": "a=cookiesecret42"}
        ) as response:
            assert response.status == 500
    await asyncio.sleep(0.2)
    text = log_text(caplog.records)
    for secret in SECRETS:
        assert secret not in text, secret
    assert "refused a malformed request" in text  # the log is captured
    assert "not masked" in text
    assert "GET /api/lines 200" in text  # aiohttp's access log is read too
    assert "Error handling request from <address>" in text  # aiohttp's error log too
    assert "RuntimeError: failed for <address>" in text  # with its traceback
