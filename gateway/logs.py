"""Logging set-up that keeps callers anonymous: no addresses, query strings, SDP or tokens."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger


class PrivacyAccessLogger(AbstractAccessLogger):
    """Logs method, route pattern, status and duration of each request, nothing else."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        match_info = getattr(request, "match_info", None)
        route = getattr(match_info, "route", None)
        resource = getattr(route, "resource", None)
        path = resource.canonical if resource is not None else "-"
        self.logger.info("%s %s %s %.1fms", request.method, path, response.status, time * 1000)


def configure_logging(level: str) -> None:
    """Plain log lines; WebRTC libraries (which may print SDP or addresses) held at WARNING."""
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("aiortc", "aioice", "asyncio", "aiohttp.server", "aiohttp.web"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
