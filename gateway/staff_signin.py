"""Staff sign-in through OpenID Connect, beside the one-time links of ``staff-token``.

A second relying party (``app[keys.STAFF_SIGNIN]``) with its own client configuration
(``[staff_signin]``), key directory and JWKS, sharing the flow store with the residents'
identification but never a flow: its flows are kept under a namespace of their own, with
a flow secret and a binding of their own.

- ``GET /pro/signin/oidc``: begins a flow for this browser (a random value in a cookie of
  the callback's path, ``SameSite=Lax`` so that it comes back with the provider's
  redirect) and sends the browser to the provider.
- ``GET /oidc/staff/callback``: completes the flow (it must have been begun by the same
  browser), decides the person's lines, sets the same session cookie as the link sign-in
  and sends the browser to ``/pro``; anything else goes back to ``/pro/signin?error=…``.
- ``GET /oidc/staff/jwks.json``: this client's public keys.

Nothing of the person (name, subject, claims) or of the code and tokens is logged.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import AsyncIterator
from typing import Final

from aiohttp import web

from gateway import keys
from gateway.auth import STAFF_OIDC_BEGIN_PATH, set_session_cookie
from gateway.begin_limits import BeginLimits
from gateway.identification import relying_party
from gateway.oidc.errors import IdentificationError

__all__ = [
    "CALLBACK_PATH",
    "JWKS_PATH",
    "add_staff_signin_routes",
    "staff_callback_url",
    "staff_jwks_url",
    "staff_signin_ctx",
]

logger = logging.getLogger(__name__)

BEGIN_PATH: Final = STAFF_OIDC_BEGIN_PATH
CALLBACK_PATH: Final = "/oidc/staff/callback"
JWKS_PATH: Final = "/oidc/staff/jwks.json"
SIGNIN_PAGE: Final = "/pro/signin"
CONSOLE_PAGE: Final = "/pro"
FLOW_COOKIE: Final = "tukilinja_staff_flow"
FLOW_NAMESPACE: Final = "staff-signin"
BINDING_PREFIX: Final = "staff-signin/"
JWKS_MAX_AGE_SECONDS: Final = 300
LANGUAGES: Final = ("fi", "en", "sv")
# What the sign-in page says (signin.error.<code> in the catalogs) for an error code.
PAGE_ERRORS: Final = {
    "cancelled": "oidc_cancelled",
    "flow_unknown": "oidc_expired",
    "wrong_binding": "oidc_expired",
    "provider_unavailable": "oidc_unavailable",
    "acr_insufficient": "oidc_level",
}


def staff_callback_url(base_url: str) -> str:
    """The redirect URI to register with the staff sign-in provider."""
    return base_url.rstrip("/") + CALLBACK_PATH


def staff_jwks_url(base_url: str) -> str:
    """The ``jwks_uri`` to register with the staff sign-in provider."""
    return base_url.rstrip("/") + JWKS_PATH


def page_error(code: str) -> str:
    """The sign-in page's error for an identification error code."""
    return PAGE_ERRORS.get(code, "oidc_failed")


async def staff_signin_ctx(app: web.Application) -> AsyncIterator[None]:
    """The staff sign-in relying party, its client keys and its HTTP client session."""
    config = app[keys.CONFIG]
    staff = config.staff_signin
    assert staff is not None
    settings = staff.oidc
    async with relying_party(
        app,
        settings,
        staff_callback_url(config.base_url),
        b"tukilinja staff sign-in flows",
        flow_namespace=FLOW_NAMESPACE,
        extra_claims=staff.extra_claims(),
    ) as rp:
        app[keys.STAFF_SIGNIN] = rp
        app[keys.STAFF_BEGIN_LIMITS] = BeginLimits()
        yield


def _binding(browser: str) -> str:
    """The flow's binding: this browser's flow cookie, by digest."""
    return BINDING_PREFIX + hashlib.sha256(browser.encode()).hexdigest()


def _to_signin_page(error: str) -> web.Response:
    response = web.Response(status=303, headers={"Location": f"{SIGNIN_PAGE}?error={error}"})
    response.headers["Cache-Control"] = "no-store"
    response.del_cookie(FLOW_COOKIE, path=CALLBACK_PATH)
    return response


async def begin(request: web.Request) -> web.StreamResponse:
    """Send the browser to the staff sign-in provider."""
    app = request.app
    rp = app[keys.STAFF_SIGNIN]
    if not app[keys.STAFF_BEGIN_LIMITS].allow(app[keys.CLIENT_KEYS].for_request(request)):
        return _to_signin_page("oidc_busy")
    browser = secrets.token_urlsafe(32)
    lang = request.query.get("lang")
    try:
        url = await rp.begin(_binding(browser), ui_locales=lang if lang in LANGUAGES else None)
    except IdentificationError as exc:
        logger.warning("a staff sign-in could not begin: %s", exc.code)
        return _to_signin_page(page_error(exc.code))
    response = web.Response(status=302, headers={"Location": url})
    response.headers["Cache-Control"] = "no-store"
    response.set_cookie(
        FLOW_COOKIE,
        browser,
        max_age=rp.config.flow_minutes * 60,
        path=CALLBACK_PATH,
        httponly=True,
        # Lax: the provider's redirect back is a cross-site navigation; Strict would not
        # bring the cookie along.
        samesite="Lax",
        secure=app[keys.CONFIG].secure_cookies,
    )
    return response


async def callback(request: web.Request) -> web.StreamResponse:
    """Complete the flow; a professional with at least one line gets a session."""
    app = request.app
    config = app[keys.CONFIG]
    staff = config.staff_signin
    assert staff is not None
    browser = request.cookies.get(FLOW_COOKIE, "")
    # Without this browser's flow cookie the binding matches no flow: the flow is used up.
    binding = _binding(browser) if browser else BINDING_PREFIX + "none"
    try:
        identified = await app[keys.STAFF_SIGNIN].complete(request.query, binding=binding)
    except IdentificationError as exc:
        logger.info("a staff sign-in was refused: %s", exc.code)
        return _to_signin_page(page_error(exc.code))
    identity = identified.identity
    known = app[keys.CENTER].lines
    lines = tuple(
        line for line in staff.lines_for(identity.subject, identified.claims) if line in known
    )
    if not lines:
        logger.info("a staff sign-in was refused: no lines")
        return _to_signin_page("oidc_no_lines")
    ttl = staff.session_ttl(config.session_ttl)
    now = app[keys.CLOCK].now()
    token = app[keys.TOKENS].issue_session(identity.display_name, lines, now, ttl)
    response = web.Response(status=303, headers={"Location": CONSOLE_PAGE})
    response.headers["Cache-Control"] = "no-store"
    response.del_cookie(FLOW_COOKIE, path=CALLBACK_PATH)
    set_session_cookie(response, config, token, ttl)
    logger.info("a professional signed in through OpenID Connect (%s)", identity.assurance)
    return response


async def jwks(request: web.Request) -> web.Response:
    """The staff sign-in client's public keys (JWKS)."""
    body = request.app[keys.STAFF_SIGNIN].public_jwks()
    response = web.json_response(body)
    response.headers["Cache-Control"] = f"public, max-age={JWKS_MAX_AGE_SECONDS}"
    return response


def add_staff_signin_routes(app: web.Application) -> None:
    """Register the begin route, the callback and the JWKS (GET only: no HEAD uses a flow
    up or begins one)."""
    app.router.add_get(BEGIN_PATH, begin, allow_head=False)
    app.router.add_get(CALLBACK_PATH, callback, allow_head=False)
    app.router.add_get(JWKS_PATH, jwks)
