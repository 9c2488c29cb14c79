"""HTTP routes: pages, the line API, health, and the security headers on every response."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from importlib import resources
from pathlib import Path
from typing import Final

from aiohttp import web

from gateway import auth, keys
from gateway.identification import identification_settings
from gateway.oidc.routes import DONE_PATH, add_identification_routes
from gateway.staff_signin import add_staff_signin_routes
from gateway.ws import websocket

PAGES: Final = {
    "/": "index.html",
    "/lines/{line_id}": "line.html",
    "/pro": "pro.html",
    "/pro/signin": "signin.html",
    "/join": "join.html",
}
STATIC_FOLDERS: Final = ("css", "js", "i18n", "img")
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Permissions-Policy": "microphone=(self), camera=(self), geolocation=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def web_root() -> Path:
    """Where the static pages live (the ``web`` package)."""
    return Path(str(resources.files("web")))


def _page(path: Path) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.FileResponse(path)
        response.headers["Cache-Control"] = "no-cache"
        return response

    return handler


def _lang(request: web.Request) -> str:
    lang = request.query.get("lang", "fi")
    return lang if lang.isalpha() and len(lang) <= 8 else "fi"


async def list_lines(request: web.Request) -> web.Response:
    center = request.app[keys.CENTER]
    lang = _lang(request)
    lines = []
    for line in center.lines.values():
        status = await center.status(line.id)
        lines.append(
            {
                "id": line.id,
                "name": line.name(lang),
                "description": line.description(lang),
                "status": status.to_json(),
            }
        )
    demo = request.app[keys.CONFIG].demo_identification
    return web.json_response({"lines": lines, "demoIdentification": demo})


async def get_line(request: web.Request) -> web.Response:
    center = request.app[keys.CENTER]
    line = center.lines.get(request.match_info["line_id"])
    if line is None:
        return web.json_response(
            {"error": {"code": "unknown_line", "message": "No such service line."}}, status=404
        )
    lang = _lang(request)
    status = await center.status(line.id)
    return web.json_response(
        {
            "id": line.id,
            "name": line.name(lang),
            "description": line.description(lang),
            "status": status.to_json(),
        }
    )


async def healthz(request: web.Request) -> web.Response:
    """Liveness: the process answers."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Readiness: takes new sessions unless draining."""
    if request.app[keys.LIFECYCLE].draining:
        return web.json_response({"status": "draining"}, status=503)
    return web.json_response({"status": "ready"})


@web.middleware
async def security_headers(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        origin = request.headers.get("Origin")
        if origin is not None and origin.rstrip("/") not in request.app[keys.CONFIG].origins:
            return web.json_response(
                {"error": {"code": "forbidden", "message": "Origin not allowed."}}, status=403
            )
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        _add_security_headers(request, exc.headers)
        raise
    if not response.prepared:
        _add_security_headers(request, response.headers)
    return response


def _add_security_headers(request: web.Request, headers: MutableMapping[str, str]) -> None:
    for name, value in SECURITY_HEADERS.items():
        headers.setdefault(name, value)
    if request.path.startswith("/api/"):
        headers.setdefault("Cache-Control", "no-store")


def add_routes(app: web.Application) -> None:
    root = web_root()
    for path, page in PAGES.items():
        app.router.add_get(path, _page(root / page))
    app.router.add_get("/api/lines", list_lines)
    app.router.add_get("/api/lines/{line_id}", get_line)
    app.router.add_post("/api/staff/signin", auth.signin)
    app.router.add_get("/api/staff/me", auth.me)
    app.router.add_post("/api/staff/signout", auth.signout)
    app.router.add_get("/api/staff/signin-options", auth.signin_options)
    if app[keys.CONFIG].staff_signin is not None:
        add_staff_signin_routes(app)
    if identification_settings(app[keys.CONFIG]) is not None:
        add_identification_routes(app)
        app.router.add_get(DONE_PATH, _page(root / "identified.html"))
    app.router.add_get("/ws", websocket)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    for folder in STATIC_FOLDERS:
        app.router.add_static(
            f"/static/{folder}/", root / folder, show_index=False, follow_symlinks=False
        )
