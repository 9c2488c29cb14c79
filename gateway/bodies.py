"""Reading a JSON request body with a size limit and a time limit, whatever its framing.

``Content-Length`` alone is not a limit: a chunked body has none. The size is counted while
the body is read and reading stops at the limit; a body that does not arrive within
``[server] body_timeout_seconds`` is not waited for. Either way the client gets the project's
JSON error shape. After a timeout the connection is closed; after a body that is too large,
aiohttp reads and drops what the client still sends for at most its lingering time (10 s),
so the client can read the reply, then closes the connection.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from gateway import keys


class BodyError(Exception):
    """A request body that cannot be used; ``response()`` is the reply."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.message = message

    def response(self) -> web.Response:
        response = web.json_response(
            {"error": {"code": self.code, "message": self.message}}, status=self.status
        )
        if self.status == 408:
            response.force_close()
        return response


def _too_large(limit: int) -> BodyError:
    return BodyError(413, "too_large", f"The request body is limited to {limit} bytes.")


async def read_body(request: web.Request, limit: int) -> bytes:
    """The whole body, at most ``limit`` bytes, within the configured body timeout."""
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit)
    body = bytearray()
    try:
        async with asyncio.timeout(request.app[keys.CONFIG].body_timeout_seconds):
            async for chunk in request.content.iter_any():
                body += chunk
                if len(body) > limit:
                    raise _too_large(limit)
    except TimeoutError:
        raise BodyError(408, "timeout", "The request body did not arrive in time.") from None
    return bytes(body)


async def read_json(request: web.Request, limit: int, usage: str) -> Any:
    """The body parsed as JSON; ``usage`` is the message for a body that is not JSON."""
    body = await read_body(request, limit)
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise BodyError(400, "bad_request", usage) from None
