"""The signalling WebSocket: origin check, one reader, one writer, limits, heartbeats."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Final

from aiohttp import WSCloseCode, WSMsgType, web

from gateway import keys
from gateway.auth import staff_from_request
from gateway.config import Config
from signaling import protocol
from signaling.clients import ClientState
from signaling.errors import ErrorCode
from signaling.ratelimit import TokenBucket
from signaling.session import Session

logger = logging.getLogger(__name__)

HARD_FRAME_LIMIT: Final = 1024 * 1024
MAX_REFUSED: Final = 200
REPLACED_CLOSE_CODE: Final = 4001  # another socket resumed this one's participant
SESSION_ENDED_CLOSE_CODE: Final = 4003  # the staff sign-in expired or was signed out


def origin_allowed(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    return origin is not None and origin.rstrip("/") in request.app[keys.CONFIG].origins


async def websocket(request: web.Request) -> web.StreamResponse:
    """``GET /ws``: a signalling session for a resident or a signed-in professional."""
    app = request.app
    if not origin_allowed(request):
        return web.json_response(
            {"error": {"code": "forbidden", "message": "Origin not allowed."}}, status=403
        )
    if app[keys.LIFECYCLE].draining:
        return web.json_response(
            {"error": {"code": "draining", "message": "This node is shutting down."}},
            status=503,
        )
    config = app[keys.CONFIG]
    center = app[keys.CENTER]
    client_key = app[keys.CLIENT_KEYS].for_request(request)
    client = center.clients.attach(client_key)
    if client is None:
        return web.json_response(
            {"error": {"code": "rate_limited", "message": "Too many connections."}},
            status=429,
        )
    try:
        return await _serve(request, config, client)
    finally:
        center.clients.detach(client_key)


async def _serve(request: web.Request, config: Config, client: ClientState) -> web.StreamResponse:
    app = request.app
    ws = web.WebSocketResponse(
        heartbeat=config.heartbeat_seconds,
        max_msg_size=HARD_FRAME_LIMIT,
        compress=False,
    )
    await ws.prepare(request)
    center = app[keys.CENTER]
    dispatcher = app[keys.DISPATCHER]
    session = center.open_session(await staff_from_request(request))
    session.client = client
    app[keys.SOCKETS].add(ws)
    writer = asyncio.ensure_future(_write(ws, session))
    logger.info("%s connected", session.label)
    try:
        await _read(ws, session, dispatcher.handle, config.max_message_bytes, config)
    finally:
        app[keys.SOCKETS].discard(ws)
        try:
            await center.close_session(session)
        finally:
            session.close()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(writer, timeout=5)
            if not ws.closed:
                await ws.close()
        logger.info("%s disconnected", session.label)
    return ws


async def _read(
    ws: web.WebSocketResponse,
    session: Session,
    handle: Callable[[Session, str | bytes], Awaitable[bytes]],
    max_bytes: int,
    config: Config,
) -> None:
    bucket = TokenBucket(config.messages_per_second, config.message_burst)
    refused = 0
    async for message in ws:
        if message.type == WSMsgType.TEXT:
            data: str | bytes = message.data
        elif message.type == WSMsgType.BINARY:
            data = message.data
        elif message.type == WSMsgType.ERROR:
            logger.info("%s socket error: %s", session.label, type(ws.exception()).__name__)
            break
        else:
            continue
        if session.overflowed:
            await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"too slow")
            break
        # Every message counts toward the rate, whatever its size: the bucket comes first,
        # so that oversized messages are rate limited (and end the socket) like any other.
        size = len(data.encode()) if isinstance(data, str) else len(data)
        if not bucket.allow():
            refused += 1
            request_id = protocol.peek_id(data) if size <= max_bytes else None
            session.send(
                protocol.encode_error(request_id, ErrorCode.RATE_LIMITED, "Too many messages.")
            )
            if refused >= MAX_REFUSED:
                await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"rate limit")
                break
            continue
        if size > max_bytes:
            session.send(
                protocol.encode_error(
                    None, ErrorCode.TOO_LARGE, f"Messages are limited to {max_bytes} bytes."
                )
            )
            continue
        session.send(await handle(session, data))


async def _write(ws: web.WebSocketResponse, session: Session) -> None:
    """The only task that sends on the socket."""
    while True:
        message = await session.outbound.get()
        if message is None or ws.closed:
            break
        try:
            await ws.send_str(message.decode())
        except (ConnectionError, RuntimeError):
            break
    if session.overflowed and not ws.closed:
        await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"too slow")
    elif session.replaced and not ws.closed:
        await ws.close(code=REPLACED_CLOSE_CODE, message=b"replaced")
    elif session.ended is not None and not ws.closed:
        await ws.close(code=SESSION_ENDED_CLOSE_CODE, message=session.ended.encode())
