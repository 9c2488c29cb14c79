"""Logging set-up that keeps callers anonymous: no addresses, query strings, SDP or tokens.

Two layers:

- :class:`PrivacyAccessLogger` writes only method, route pattern, status and duration.
- :class:`PrivacyFilter` sits on the root logger's handlers, so every record of every logger
  in the process (ours, aiohttp's ``aiohttp.server``/``web``/``access``/``websocket``,
  aiortc's, aioice's, asyncio's) passes through it before it is written anywhere. It rewrites
  the message, its arguments and the exception text: IP addresses (v4 and v6), query
  strings, header values (any ``Name: value`` echo of a request head, cookies,
  authorization), tokens (JWTs) and SDP attributes that identify a peer are replaced by
  placeholders. aiohttp's "Error handling request from 127.0.0.1" so keeps no address.

A handler filter, not a logger filter: a logger's own filters do not see records that
propagate from its children, while the root handlers see all of them.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import traceback
from typing import Final

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

ADDRESS: Final = "<address>"
REDACTED: Final = "<redacted>"

# Candidates only; each is checked with ``ipaddress`` before it is replaced, so times such as
# 12:30:45 and C++-style names stay as they are.
_IPV6_CANDIDATE: Final = re.compile(
    r"(?<![0-9A-Fa-f:.])((?:[0-9A-Fa-f]{0,4}:){2,7}(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{1,4})?)"
    r"(%[\w.-]+)?(?![0-9A-Fa-f:])"
)
_IPV4: Final = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.]*\d)")
# A query string: from "?" to the end of the URL (whitespace, a quote or a bracket).
_QUERY: Final = re.compile(r"\?[^\s'\"<>)\]]+")
# Header names whose value is personal or secret wherever it appears ("Cookie: a=b",
# "cookie=...", "'Cookie': '...'").
_SENSITIVE_HEADER: Final = re.compile(
    r"(?i)\b(cookie|set-cookie|authorization|proxy-authorization|x-forwarded-for|forwarded|"
    r"x-real-ip|x-client-ip|true-client-ip|cf-connecting-ip|referer|user-agent|host|origin|"
    r"sec-websocket-key|sec-websocket-protocol|x-api-key|x-auth-token|x-csrf-token)"
    r"(['\"]?\s*[:=]\s*['\"]?)"
    r"(?:\\.|[^\r\n'\"\\])*"
)
# Any "Name: value" line of a request head as aiohttp echoes it: after a line break escaped
# in a bytes repr or a raw CRLF, or at the start of a bytes literal. (Not after a plain
# newline: that is how a traceback's "ValueError: message" line starts.)
_HEAD_LINE: Final = re.compile(
    r"((?:\\r\\n|\\n|\r\n|\bb['\"])[!#$%&*+.^_`|~0-9A-Za-z-]+:[ \t]*)(?:\\[^rn]|[^\r\n'\"\\])+"
)
# Header mappings in reprs: CIMultiDict('Name': 'value', ...).
_HEADER_MAPPING: Final = re.compile(r"(<?(?:CI)?MultiDict(?:Proxy)?\()[^)]*(\)>?)")
_JWT: Final = re.compile(r"\beyJ[\w-]*\.[\w-]+\.[\w-]*")
_SDP_ATTRIBUTE: Final = re.compile(
    r"\ba=(candidate|fingerprint|ice-ufrag|ice-pwd|crypto)[:\s](?:\\[^rn]|[^\r\n'\"\\])*"
)


def _ipv6(match: re.Match[str]) -> str:
    try:
        ipaddress.IPv6Address(match.group(1))
    except ValueError:
        return match.group(0)
    return ADDRESS


def scrub(text: str) -> str:
    """``text`` with addresses, query strings, header values, tokens and SDP lines removed."""
    if not text:
        return text
    text = _HEADER_MAPPING.sub(rf"\1{REDACTED}\2", text)
    text = _SENSITIVE_HEADER.sub(rf"\1\2{REDACTED}", text)
    text = _HEAD_LINE.sub(rf"\1{REDACTED}", text)
    text = _SDP_ATTRIBUTE.sub(rf"a=\1:{REDACTED}", text)
    text = _JWT.sub(REDACTED, text)
    text = _QUERY.sub(f"?{REDACTED}", text)
    text = _IPV6_CANDIDATE.sub(_ipv6, text)
    return _IPV4.sub(ADDRESS, text)


class PrivacyFilter(logging.Filter):
    """Rewrites every record in place; never drops one.

    The record's message is formatted once, scrubbed and stored without arguments; the
    exception and stack text are formatted, scrubbed and kept as text, and the exception
    object (whose arguments may hold an address or a header) is dropped from the record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not leak its arguments either
            message = str(record.msg)
        record.msg = scrub(message)
        record.args = None
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip()
            record.exc_info = None
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        return True


def install_privacy_filter(handler: logging.Handler) -> None:
    """Put the privacy filter on ``handler`` (once)."""
    if not any(isinstance(f, PrivacyFilter) for f in handler.filters):
        handler.addFilter(PrivacyFilter())


class PrivacyAccessLogger(AbstractAccessLogger):
    """Logs method, route pattern, status and duration of each request, nothing else."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        try:
            match_info = getattr(request, "match_info", None)
        except AssertionError:  # a request aiohttp could not parse has no match info
            match_info = None
        route = getattr(match_info, "route", None)
        resource = getattr(route, "resource", None)
        path = resource.canonical if resource is not None else "-"
        self.logger.info("%s %s %s %.1fms", request.method, path, response.status, time * 1000)


def configure_logging(level: str) -> None:
    """Plain log lines through the privacy filter; WebRTC libraries held at WARNING."""
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for handler in logging.getLogger().handlers:
        install_privacy_filter(handler)
    for noisy in ("aiortc", "aioice", "asyncio", "aiohttp.server", "aiohttp.web"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
