"""The demo provider's HTTP endpoints under ``/demo-idp`` (only while demo identification is on).

- ``GET  /demo-idp/.well-known/openid-configuration``: provider metadata;
- ``GET  /demo-idp/jwks``: the provider's public signing key;
- ``GET  /demo-idp/authorize``: checks the request, shows the made-up test persons;
- ``POST /demo-idp/authorize``: the resident's choice (CSRF-checked): back to the client;
- ``POST /demo-idp/token``: code for tokens (``private_key_jwt``, PKCE).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from typing import Final
from urllib.parse import parse_qsl, urlencode, urlsplit

from aiohttp import web

from gateway import keys
from gateway.bodies import BodyError, read_body
from gateway.demoidp.page import Text, error_page, load_catalogs, person_page
from gateway.demoidp.provider import (
    ISSUER_PATH,
    LANGUAGES,
    AuthorizationError,
    DemoProvider,
    TokenError,
)
from gateway.http import SECURITY_HEADERS, web_root

BROWSER_COOKIE: Final = "tukilinja_demo_idp"
FORM_LIMIT: Final = 32 * 1024
MAX_FIELDS: Final = 50
DEFAULT_LANGUAGE: Final = "fi"


class _FormError(Exception):
    pass


class DemoRoutes:
    """Handlers bound to one provider and the translation catalogs."""

    def __init__(self, provider: DemoProvider, catalogs: Mapping[str, Mapping[str, str]]):
        self._provider = provider
        self._catalogs = catalogs

    def add_to(self, app: web.Application) -> None:
        router = app.router
        router.add_get(ISSUER_PATH + "/.well-known/openid-configuration", self.metadata)
        router.add_get(ISSUER_PATH + "/jwks", self.jwks)
        router.add_get(ISSUER_PATH + "/authorize", self.authorize)
        router.add_post(ISSUER_PATH + "/authorize", self.decide)
        router.add_post(ISSUER_PATH + "/token", self.token)

    async def metadata(self, request: web.Request) -> web.Response:
        return _no_store(web.json_response(self._provider.metadata()))

    async def jwks(self, request: web.Request) -> web.Response:
        return _no_store(web.json_response(self._provider.jwks()))

    async def authorize(self, request: web.Request) -> web.Response:
        chosen = request.query.get("lang")
        browser = request.cookies.get(BROWSER_COOKIE) or secrets.token_urlsafe(24)
        try:
            query = _single(request.query.items())
        except _FormError:
            return self._refusal(
                request,
                AuthorizationError("invalid_request", "A parameter was given more than once."),
                _language(chosen, None, request),
            )
        try:
            authorization = await self._provider.authorize(query, browser)
        except AuthorizationError as exc:
            return self._refusal(request, exc, _language(chosen, None, request))
        text = self._text(_language(chosen, authorization.lang, request))
        others = [(key, value) for key, value in query.items() if key != "lang"]
        links = {code: "?" + urlencode([*others, ("lang", code)]) for code in LANGUAGES}
        html = person_page(
            text, authorization, self._provider.persons, ISSUER_PATH + "/authorize", links
        )
        response = _no_store(web.Response(text=html, content_type="text/html"))
        # The form's answer is a redirect to the client: the policy has to allow it.
        target = urlsplit(authorization.redirect_uri)
        response.headers["Content-Security-Policy"] = SECURITY_HEADERS[
            "Content-Security-Policy"
        ].replace("form-action 'self'", f"form-action 'self' {target.scheme}://{target.netloc}")
        # Not no-referrer: under it a browser posts the form with "Origin: null", which the
        # gateway refuses. Same-origin requests only carry the referrer.
        response.headers["Referrer-Policy"] = "same-origin"
        response.set_cookie(
            BROWSER_COOKIE,
            browser,
            path=ISSUER_PATH,
            httponly=True,
            samesite="Lax",
            secure=request.app[keys.CONFIG].secure_cookies,
        )
        return response

    async def decide(self, request: web.Request) -> web.Response:
        try:
            form = await _read_form(request)
        except _FormError:
            return self._page(error_page(self._text(DEFAULT_LANGUAGE), "invalid"), 400)
        lang = _language(form.get("lang"), None, request)
        try:
            location = self._provider.decide(
                form.get("auth", ""),
                form.get("csrf", ""),
                request.cookies.get(BROWSER_COOKIE, ""),
                form.get("action", ""),
                form.get("person", ""),
            )
        except AuthorizationError as exc:
            return self._refusal(request, exc, lang)
        return _see_other(location)

    async def token(self, request: web.Request) -> web.Response:
        try:
            form = await _read_form(request)
            body = await self._provider.token(form)
        except _FormError as exc:
            return _token_error(TokenError("invalid_request", str(exc)))
        except TokenError as exc:
            return _token_error(exc)
        response = _no_store(web.json_response(body))
        response.headers["Pragma"] = "no-cache"
        return response

    def _refusal(self, request: web.Request, error: AuthorizationError, lang: str) -> web.Response:
        location = self._provider.error_location(error)
        if location is not None:
            return _see_other(location)
        return self._page(error_page(self._text(lang), error.page), 400)

    def _page(self, html: str, status: int) -> web.Response:
        return _no_store(web.Response(text=html, content_type="text/html", status=status))

    def _text(self, lang: str) -> Text:
        return Text(lang, self._catalogs[lang], self._catalogs[DEFAULT_LANGUAGE])


def add_demo_routes(app: web.Application) -> None:
    """Serve ``app[keys.DEMO_IDP]`` under ``/demo-idp``."""
    catalogs = load_catalogs(web_root() / "i18n")
    DemoRoutes(app[keys.DEMO_IDP], catalogs).add_to(app)


def _language(chosen: str | None, asked: str | None, request: web.Request) -> str:
    """The language link chosen, else the client's ``ui_locales``, else the browser's."""
    if chosen in LANGUAGES:
        assert chosen is not None
        return chosen
    if asked in LANGUAGES:
        assert asked is not None
        return asked
    for part in request.headers.get("Accept-Language", "").split(","):
        primary = part.split(";")[0].strip().split("-")[0].lower()
        if primary in LANGUAGES:
            return primary
    return DEFAULT_LANGUAGE


def _single(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Parameters as a dict; one given twice is refused (RFC 6749 §3.1)."""
    params: dict[str, str] = {}
    for key, value in pairs:
        if key in params:
            raise _FormError(f"{key} was given more than once.")
        params[key] = value
    return params


async def _read_form(request: web.Request) -> dict[str, str]:
    if request.content_type != "application/x-www-form-urlencoded":
        raise _FormError("The body must be application/x-www-form-urlencoded.")
    try:
        body = await read_body(request, FORM_LIMIT)
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except BodyError as exc:
        raise _FormError(exc.message) from None
    except (UnicodeDecodeError, ValueError):
        raise _FormError("The body is not a readable form.") from None
    return _single(pairs)


def _see_other(location: str) -> web.Response:
    return _no_store(web.Response(status=303, headers={"Location": location}))


def _token_error(error: TokenError) -> web.Response:
    response = _no_store(web.json_response(error.body(), status=error.status))
    response.headers["Pragma"] = "no-cache"
    return response


def _no_store(response: web.Response) -> web.Response:
    response.headers["Cache-Control"] = "no-store"
    return response
