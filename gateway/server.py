"""The HTTP server around the app, built in one place for ``gateway serve`` and the tests.

aiohttp's server leaves three doors open that a hostile client walks through:

- **No header timeout.** A connection that sends half a request head waits for the rest
  until aiohttp's keep-alive timer fires (about an hour by default). Here each connection
  must complete its first request head within ``[server] header_timeout_seconds``; later
  heads on a kept-alive connection, and idle connections, are bounded by aiohttp's keep-alive
  timer set to ``[server] keepalive_seconds`` (it closes a connection that is waiting for a
  head, partial or not). Request bodies the gateway reads are bounded where they are read
  (:mod:`gateway.bodies`); bodies nobody reads are drained for at most aiohttp's lingering
  time (10 s) and then the connection is closed.
- **The ``Server`` header** names the Python and aiohttp versions. Every response here says
  ``tukilinja`` (no version), aiohttp's own error responses included.
- **Unmasked client WebSocket frames** are accepted by aiohttp's reader. RFC 6455 §5.1 says a
  server must close the connection on one; here such a frame is never handed to the reader,
  the gateway sends a close frame with 1002 (protocol error) and closes the connection.

Malformed requests that aiohttp's parser refuses are answered with a plain ``400`` and logged
at DEBUG by kind only (aiohttp logs them at ERROR with a traceback and the client address).

Everything uses aiohttp's public API: :class:`aiohttp.web.RequestHandler` (the protocol of
one connection) is subclassed through its public methods, and the handlers are made by our
own protocol factory for ``loop.create_server`` around ``AppRunner.server``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from http import HTTPStatus
from typing import Any, Final, Protocol

from aiohttp import hdrs, web

from gateway.config import Config
from gateway.logs import PrivacyAccessLogger

logger = logging.getLogger(__name__)

SERVER_NAME: Final = "tukilinja"
# A close frame (FIN, opcode 8, unmasked as a server's must be) with status 1002.
CLOSE_PROTOCOL_ERROR: Final = b"\x88\x02\x03\xea"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class FrameReader(Protocol):
    """What aiohttp's connection needs of a WebSocket payload parser."""

    def feed_data(self, data: bytes) -> tuple[bool, bytes]: ...

    def feed_eof(self) -> None: ...


class MaskedFramesOnly:
    """Passes WebSocket bytes to aiohttp's reader up to the first unmasked client frame.

    Tracks frame boundaries only (2-byte header, extended length, mask key, payload skipped
    unread), so the cost is a few operations per frame, not per byte.
    """

    def __init__(self, reader: FrameReader, refuse: Callable[[], None]) -> None:
        self._reader = reader
        self._refuse = refuse
        self._header = bytearray()
        self._skip = 0
        self._refused = False

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        if self._refused:
            return True, b""
        bad = self._first_unmasked(data)
        if bad is None:
            return self._reader.feed_data(data)
        if bad:
            self._reader.feed_data(data[:bad])
        self._refused = True
        self._refuse()
        return True, b""

    def feed_eof(self) -> None:
        self._reader.feed_eof()

    def _first_unmasked(self, data: bytes) -> int | None:
        """Where in ``data`` the first unmasked frame starts, or None if there is none."""
        header = self._header
        pos = 0
        end = len(data)
        while pos < end:
            if self._skip:
                step = min(self._skip, end - pos)
                self._skip -= step
                pos += step
                continue
            header.append(data[pos])
            pos += 1
            if len(header) < 2:
                continue
            if not header[1] & 0x80:
                return max(0, pos - 2)
            code = header[1] & 0x7F
            extended = 2 if code == 126 else 8 if code == 127 else 0
            if len(header) == 2 + extended + 4:
                self._skip = int.from_bytes(header[2 : 2 + extended], "big") if extended else code
                header.clear()
        return None


class GatewayRequestHandler(web.RequestHandler):
    """aiohttp's per-connection protocol with a header timeout and a checked WebSocket."""

    __slots__ = ("_head_timer", "_header_timeout")

    def __init__(self, manager: web.Server, *, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._header_timeout = header_timeout
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._head_timer = asyncio.get_running_loop().call_later(
            self._header_timeout, self._head_timed_out
        )

    def connection_lost(self, exc: BaseException | None) -> None:
        self.head_complete()
        super().connection_lost(exc)

    def head_complete(self) -> None:
        """A request head has been read in full: the header timeout is over."""
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        logger.debug("closed a connection: no complete request head within the timeout")
        self.force_close()

    def set_parser(self, parser: Any, data_received_cb: Callable[[], None] | None = None) -> None:
        # Only the WebSocket upgrade (web_ws) installs a payload parser on a server connection.
        # aiohttp types the parser as its WebSocketReader; it calls feed_data/feed_eof only.
        checked = MaskedFramesOnly(parser, self._refuse_unmasked)
        super().set_parser(checked, data_received_cb)  # type: ignore[arg-type]

    def _refuse_unmasked(self) -> None:
        logger.info("closed a WebSocket: a client frame was not masked")
        if self.transport is not None:
            self.transport.write(CLOSE_PROTOCOL_ERROR)
        self.force_close()

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status >= 500:
            response = super().handle_error(request, status, exc, message)
        else:
            # The client's fault (a request aiohttp could not parse): no traceback, no echo.
            logger.debug("refused a malformed request (%d, %s)", status, type(exc).__name__)
            if request.writer.output_size > 0:
                raise ConnectionError("a response was already sent on this connection")
            try:
                phrase = HTTPStatus(status).phrase
            except ValueError:
                phrase = "Error"
            response = web.Response(status=status, text=f"{status} {phrase}\n")
            response.force_close()
        response.headers[hdrs.SERVER] = SERVER_NAME
        return response


@web.middleware
async def head_complete(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Tell the connection its request head is complete (the first middleware to run)."""
    protocol = request.protocol
    if isinstance(protocol, GatewayRequestHandler):
        protocol.head_complete()
    return await handler(request)


async def neutral_server_header(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: no versions in the ``Server`` header (WebSocket 101 too)."""
    response.headers[hdrs.SERVER] = SERVER_NAME


@asynccontextmanager
async def serve_app(
    app: web.Application, config: Config, shutdown_timeout: float = 60.0
) -> AsyncIterator[web.AppRunner]:
    """Listen on ``config.host``/``config.port`` with the gateway's limits until exit."""
    handler_args: dict[str, Any] = {
        "access_log_class": PrivacyAccessLogger,
        "keepalive_timeout": config.keepalive_seconds,
    }
    runner = web.AppRunner(
        app, handle_signals=False, shutdown_timeout=shutdown_timeout, **handler_args
    )
    await runner.setup()
    server = runner.server
    if server is None:
        raise RuntimeError("aiohttp's runner did not make a server")
    loop = asyncio.get_running_loop()

    def protocol() -> GatewayRequestHandler:
        return GatewayRequestHandler(
            server, loop=loop, header_timeout=config.header_timeout_seconds, **handler_args
        )

    try:
        listener = await loop.create_server(protocol, config.host, config.port, reuse_address=True)
    except BaseException:
        await runner.cleanup()
        raise
    try:
        yield runner
    finally:
        listener.close()
        await runner.cleanup()
