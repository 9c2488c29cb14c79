"""HTTP routes of the relying party: the gateway's JWKS and the authorization callback.

- ``GET /oidc/jwks.json``: the gateway's public signing and encryption keys.
- ``GET /oidc/callback``: the provider sends the browser here with ``code`` and ``state``;
  the flow is completed, the hook told, and the browser sent on to ``/oidc/done``.
- ``GET /oidc/done?result=ok|cancelled|expired|failed``: a static page ("you can close this
  window and return to the call"); it learns the result from the query, never the identity.
"""

from __future__ import annotations

import logging
from typing import Final

from aiohttp import web

from gateway import keys
from gateway.oidc.errors import IdentificationError

__all__ = [
    "DONE_PATH",
    "add_identification_routes",
    "callback_url",
    "jwks_url",
    "result_of",
]

logger = logging.getLogger(__name__)

JWKS_PATH: Final = "/oidc/jwks.json"
CALLBACK_PATH: Final = "/oidc/callback"
DONE_PATH: Final = "/oidc/done"
JWKS_MAX_AGE_SECONDS: Final = 300
RESULTS: Final = {"cancelled": "cancelled", "flow_unknown": "expired"}


def callback_url(base_url: str) -> str:
    """The redirect URI to register with the provider."""
    return base_url.rstrip("/") + CALLBACK_PATH


def jwks_url(base_url: str) -> str:
    """The ``jwks_uri`` to register with the provider."""
    return base_url.rstrip("/") + JWKS_PATH


def result_of(code: str) -> str:
    """What the done page says for an error code: cancelled, expired or failed."""
    return RESULTS.get(code, "failed")


async def jwks(request: web.Request) -> web.Response:
    """The gateway's public keys (JWKS); cached briefly, so a new key is seen soon."""
    body = request.app[keys.IDENTIFICATION].public_jwks()
    response = web.json_response(body)
    response.headers["Cache-Control"] = f"public, max-age={JWKS_MAX_AGE_SECONDS}"
    return response


async def callback(request: web.Request) -> web.StreamResponse:
    """Complete the flow, tell the call layer, and send the browser to the done page."""
    app = request.app
    hooks = app[keys.IDENTIFICATION_HOOKS]
    try:
        identified = await app[keys.IDENTIFICATION].complete(request.query)
    except IdentificationError as exc:
        if exc.binding is not None and hooks.on_failed is not None:
            try:
                await hooks.on_failed(exc.binding, exc.code)
            except Exception as hook_error:
                logger.error("the on_failed hook raised %s", type(hook_error).__name__)
        return _done(result_of(exc.code))
    if hooks.on_identified is not None:
        try:
            await hooks.on_identified(identified.binding, identified.identity)
        except Exception as hook_error:  # its text might hold anything: the type only
            logger.error("the on_identified hook raised %s", type(hook_error).__name__)
            return _done("failed")
    return _done("ok")


def _done(result: str) -> web.Response:
    # A redirect takes the code and state out of the address bar and the history.
    response = web.Response(status=303, headers={"Location": f"{DONE_PATH}?result={result}"})
    response.headers["Cache-Control"] = "no-store"
    return response


def add_identification_routes(app: web.Application) -> None:
    """Register the JWKS and the callback (the done page is one of gateway.http's pages)."""
    app.router.add_get(JWKS_PATH, jwks)
    # No HEAD: a link checker's HEAD must not use the flow up.
    app.router.add_get(CALLBACK_PATH, callback, allow_head=False)
