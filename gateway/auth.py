"""Staff sign-in: a one-time link (or an OpenID Connect sign-in, gateway.staff_signin)
exchanged for an HttpOnly, SameSite=Strict session cookie.

A session is checked on every use: its token's signature and expiry, and that it has not
been signed out (sign-out records the token's id in the one-time token store).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from aiohttp import web

from gateway import keys
from gateway.bodies import BodyError, read_json
from gateway.config import Config
from signaling.tokens import (
    ExpiredTokenError,
    StaffClaims,
    TokenError,
    WrongIssuerError,
    revocation_id,
)

logger = logging.getLogger(__name__)

SESSION_COOKIE = "tukilinja_session"
STAFF_OIDC_BEGIN_PATH = "/pro/signin/oidc"
MAX_SIGNIN_BODY = 8 * 1024


def _session_claims(request: web.Request) -> StaffClaims | None:
    """The session cookie's claims when its token is genuine and unexpired."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    app = request.app
    now = app[keys.CLOCK].now()
    try:
        claims = app[keys.TOKENS].verify_session(token, now)
    except TokenError:
        return None
    # Over at its expiry, without the verifier's leeway: as a signalling session is.
    return claims if now < claims.expires_at else None


async def staff_from_request(request: web.Request) -> StaffClaims | None:
    """The professional signed in on this request, or None for an anonymous visitor (and
    for a session that has expired or been signed out)."""
    claims = _session_claims(request)
    if claims is None:
        return None
    if await request.app[keys.STORE].tokens.used(revocation_id(claims.token_id)):
        return None
    return claims


def set_session_cookie(
    response: web.StreamResponse, config: Config, token: str, ttl: timedelta
) -> None:
    """The staff session cookie: HttpOnly, SameSite=Strict, Secure behind https."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(ttl.total_seconds()),
        path="/",
        httponly=True,
        samesite="Strict",
        secure=config.secure_cookies,
    )


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


def _other_server(exc: WrongIssuerError) -> web.Response:
    """A genuine link made for another base URL (another port, host or ``public_url``).

    Both addresses are named (the page shows them; neither is a secret) and the token is not.
    """
    message = (
        f"This sign-in link was made for {exc.issuer}, not this server ({exc.expected})."
        f" Make a new one for this server: staff-token --base-url {exc.expected}"
    )
    body = {
        "error": {
            "code": "token_other_server",
            "message": message,
            "made_for": exc.issuer,
            "server": exc.expected,
        }
    }
    return web.json_response(body, status=401)


async def signin(request: web.Request) -> web.Response:
    """Exchange a one-time sign-in token for a session cookie."""
    try:
        body: Any = await read_json(request, MAX_SIGNIN_BODY, 'Send JSON: {"token": "..."}.')
    except BodyError as exc:
        return exc.response()
    token = body.get("token") if isinstance(body, dict) else None
    if not isinstance(token, str):
        return _error(400, "bad_request", 'Send JSON: {"token": "..."}.')
    app = request.app
    now = app[keys.CLOCK].now()
    try:
        claims = app[keys.TOKENS].verify_signin(token, now)
    except WrongIssuerError as exc:
        return _other_server(exc)
    except ExpiredTokenError:
        return _error(401, "token_expired", "The sign-in link has expired.")
    except TokenError:
        return _error(401, "invalid_token", "The sign-in link is not valid.")
    if not await app[keys.STORE].tokens.consume(claims.token_id, claims.expires_at):
        return _error(401, "token_used", "The sign-in link has already been used.")
    lines = tuple(line for line in claims.lines if line in app[keys.CENTER].lines)
    session_token = app[keys.TOKENS].issue_session(claims.name, lines, now)
    config = app[keys.CONFIG]
    response = web.json_response({"name": claims.name, "lines": list(lines)})
    set_session_cookie(response, config, session_token, config.session_ttl)
    logger.info("a professional signed in")
    return response


async def me(request: web.Request) -> web.Response:
    staff = await staff_from_request(request)
    if staff is None:
        return _error(401, "unauthorized", "Not signed in.")
    return web.json_response({"name": staff.name, "lines": list(staff.lines)})


async def signout(request: web.Request) -> web.Response:
    """End the session: its token is revoked everywhere (every node, every open console),
    not only forgotten by this browser."""
    claims = _session_claims(request)
    if claims is not None:
        await request.app[keys.STORE].tokens.consume(
            revocation_id(claims.token_id), claims.expires_at
        )
        logger.info("a professional signed out")
    response = web.Response(status=204)
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


async def signin_options(request: web.Request) -> web.Response:
    """How professionals can sign in here: the one-time link always, and the OpenID Connect
    provider when ``[staff_signin]`` is configured."""
    staff_signin = request.app[keys.CONFIG].staff_signin
    oidc = None
    if staff_signin is not None:
        oidc = {"provider": staff_signin.provider_name, "url": STAFF_OIDC_BEGIN_PATH}
    return web.json_response({"link": True, "oidc": oidc})
