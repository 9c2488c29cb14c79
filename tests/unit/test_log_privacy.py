"""The privacy filter on the root handlers: what it removes, and that every logger meets it."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.logs import PrivacyFilter, scrub


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Error handling request from 127.0.0.1", "127.0.0.1"),
        ("peer ('10.20.30.40', 5555)", "10.20.30.40"),
        ("from ::1 now", "::1"),
        ("[2001:db8::dead:beef]:443", "2001:db8::dead:beef"),
        ("fe80::1%eth0 said", "fe80::1"),
        ("::ffff:192.0.2.7 mapped", "192.0.2.7"),
        ("GET /lines/demo?lang=fi&token=abc HTTP/1.1", "lang=fi"),
        ("b'GET / HTTP/1.1\\r\\nX-Thing: hush\\r\\n'", "hush"),
        ("Invalid header value char:\n\n  b'X-Foo: bar\\x01'\n", "bar"),
        ("Cookie: tukilinja_session=abc; other=1", "tukilinja_session"),
        ("authorization=Bearer xyz", "xyz"),
        ("<CIMultiDictProxy('Host': 'example', 'Cookie': 'c=1')>", "example"),
        ("token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln", "eyJ"),
        ("a=candidate:1 1 udp 2130706431 203.0.113.9 5000 typ host", "203.0.113.9"),
        ("a=ice-ufrag:abcd", "abcd"),
    ],
)
def test_scrub_removes(text: str, secret: str) -> None:
    assert secret not in scrub(text)


@pytest.mark.parametrize(
    "text",
    [
        "resident#12 connected",
        "participant resident a1b2 -> reconnecting",
        "at 14:31:08.123 ok",
        "GET /api/lines/{line_id} 200 1.4ms",
        "draining: 2 call(s) in progress",
    ],
)
def test_scrub_keeps_plain_lines(text: str) -> None:
    assert scrub(text) == text


def test_message_arguments_and_exception_are_scrubbed() -> None:
    try:
        raise ValueError("bad Cookie: c=1 from 192.0.2.1")
    except ValueError:
        record = logging.getLogger("aiohttp.server").makeRecord(
            "aiohttp.server",
            logging.ERROR,
            __file__,
            1,
            "Error handling request from %s",
            ("192.0.2.1",),
            sys.exc_info(),
        )
    assert PrivacyFilter().filter(record)
    text = logging.Formatter().format(record)
    assert "Error handling request from <address>" in text
    assert "ValueError" in text  # the traceback stays, scrubbed
    assert "192.0.2.1" not in text and "c=1" not in text
    assert record.args is None and record.exc_info is None


def test_configured_logging_scrubs_every_logger() -> None:
    """In a fresh process, as ``gateway serve`` sets logging up."""
    code = """
import logging
from gateway.logs import configure_logging
configure_logging("DEBUG")
for name in ("aiohttp.server", "aiohttp.web", "aiohttp.access", "aiohttp.websocket",
             "aiortc.rtcpeerconnection", "aioice.ice", "asyncio", "gateway.ws", "other"):
    logging.getLogger(name).warning("%s from %s?q=secret", name, "198.51.100.7")
try:
    raise OSError("Cookie: secret from 198.51.100.7")
except OSError:
    logging.getLogger("aiohttp.server").exception("Error handling request from 198.51.100.7")
"""
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    err = result.stderr
    assert err.count("<address>") >= 10, err
    assert "aiohttp.websocket from <address>?<redacted>" in err
    assert "OSError" in err
    assert "198.51.100.7" not in err and "secret" not in err
