"""Fuzz the signalling decoder and the whole dispatch path with hostile messages.

Properties: :func:`signaling.protocol.decode_request` returns a request or raises
:class:`~signaling.protocol.DecodeError` with a documented code, nothing else; and
:meth:`signaling.dispatch.Dispatcher.handle` answers every message, whatever came before it
on the socket, with exactly one valid envelope (a result or a documented error other than
``internal_error``) that echoes the request id whenever the id can be read.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from gateway.config import demo_line
from media.ice import IcePolicy
from rooms.clock import SystemClock
from rooms.store import create_memory_store
from signaling import protocol as p
from signaling.calls import CallCenter
from signaling.dispatch import Dispatcher
from signaling.errors import ErrorCode
from signaling.session import Role, Session
from signaling.tokens import StaffClaims, TokenService
from tests.fuzz.profiles import examples
from tests.fuzz.strategies import (
    ANY_SDP,
    BROWSER_OFFER,
    RAW_MESSAGES,
    mutated_sdp,
    nested,
    request_objects,
)

CODES = {code.value for code in ErrorCode}
KEY = b"fuzz-signing-key-" + b"k" * 32


def readable_id(raw: str | bytes) -> int | None:
    """The id a reply must echo: that of a JSON object with a string type and a valid id."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        value = json.loads(text, parse_constant=_refuse, parse_int=_int)
        # msgspec refuses escaped lone surrogates ("\\ud800"), which Python's json accepts.
        json.dumps(value, ensure_ascii=False).encode()
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, dict) or not isinstance(value.get("type"), str):
        return None
    request_id = value.get("id")
    if isinstance(request_id, bool) or not isinstance(request_id, int):
        return None
    return request_id if 1 <= request_id <= 2**53 - 1 else None


def _int(text: str) -> int:
    # Python refuses to convert more than 4300 digits; any such number is no valid id.
    return int(text) if len(text) < 20 else 2**64


def _refuse(name: str) -> None:
    raise ValueError(name)  # NaN and Infinity are not JSON


def check_reply(raw: str | bytes, reply: bytes) -> dict[str, Any]:
    envelope = json.loads(reply)
    assert isinstance(envelope, dict)
    expected = readable_id(raw)
    if envelope["type"] == "result":
        assert set(envelope) == {"type", "id", "result"}
        assert isinstance(envelope["result"], dict)
        assert envelope["id"] == expected is not None
    else:
        assert envelope["type"] == "error"
        assert set(envelope) == {"type", "id", "error"}
        error = envelope["error"]
        assert set(error) == {"code", "message"}
        assert error["code"] in CODES and isinstance(error["message"], str)
        assert error["code"] != ErrorCode.INTERNAL_ERROR, error
        assert envelope["id"] == expected
    return envelope


@given(RAW_MESSAGES)
@example(nested(5000).encode())
@example('{"type": "hello", "id": 7, "x": ' + nested(2000) + "}")
@example('{"type": "offer", "id": 2, "sdp": ' + nested(1500) + "}")
@example(b'{"type": "hello", "id": 1e400}')
@example(b'{"type": "hello", "id": ' + b"9" * 5000 + b"}")
@example('{"type": "hello", "id": 3, "protocol": ' + "9" * 5000 + "}")
@example(b'{"type": "queue.join", "id": 4, "line": "\\ud800"}')
@example(b"\xef\xbb\xbf{}")
@example("\ud800")
def test_decode_request_raises_only_decode_errors(raw: str | bytes) -> None:
    try:
        request = p.decode_request(raw)
    except p.DecodeError as exc:
        assert exc.code in ErrorCode
        assert exc.request_id == readable_id(raw)
        return
    assert type(request) in p.REQUEST_TYPES.values()
    assert request.id == readable_id(raw)


@dataclass
class Harness:
    dispatcher: Dispatcher
    resident: Session
    staff: Session

    async def send(self, who: str, raw: str | bytes) -> dict[str, Any]:
        session = self.staff if who == "staff" else self.resident
        reply = check_reply(raw, await self.dispatcher.handle(session, raw))
        # What the fuzzer reached (shown with --hypothesis-show-statistics).
        event(f"{reply.get('error', {}).get('code', 'result')}")
        return reply


@asynccontextmanager
async def harness() -> AsyncIterator[Harness]:
    clock = SystemClock()
    store = create_memory_store(clock)
    policy = IcePolicy(host_addresses=("127.0.0.1",), remote_networks=("127.0.0.0/8",))
    center = CallCenter(
        {"demo": demo_line()}, store, clock, policy, TokenService(KEY, issuer="http://fuzz")
    )
    claims = StaffClaims(
        name="Fuzz Worker",
        lines=("demo",),
        token_id="fuzz",
        expires_at=datetime.now(UTC) + timedelta(hours=1),
    )
    staff = Session(Role.STAFF, 1, staff=claims)
    resident = Session(Role.RESIDENT, 2)
    try:
        yield Harness(Dispatcher(center, ()), resident, staff)
    finally:
        await center.shutdown()
        await store.close()


def _message(type_name: str, request_id: int, **fields: Any) -> str:
    return json.dumps({"type": type_name, "id": request_id, **fields})


# Steps that move the sockets into a queue place or a call, mixed with hostile messages, so
# that the junk also reaches handlers in the states where they do real work.
STEPS = st.one_of(
    st.tuples(st.sampled_from(["resident", "staff"]), RAW_MESSAGES),
    st.tuples(st.sampled_from(["resident", "staff"]), request_objects().map(json.dumps)),
    st.tuples(st.just("resident"), st.just(_message("queue.join", 11, line="demo"))),
    st.tuples(st.just("staff"), st.just(_message("staff.answer_next", 12, line="demo"))),
    st.tuples(st.sampled_from(["resident", "staff"]), st.just(_message("hangup", 15))),
    st.tuples(
        st.sampled_from(["resident", "staff"]),
        st.one_of(mutated_sdp(), ANY_SDP).map(lambda sdp: _message("offer", 13, sdp=sdp)),
    ),
    st.tuples(
        st.sampled_from(["resident", "staff"]),
        ANY_SDP.map(lambda sdp: _message("answer", 14, sdp=sdp)),
    ),
)


JOIN = ("resident", _message("queue.join", 11, line="demo"))
ANSWER_NEXT = ("staff", _message("staff.answer_next", 12, line="demo"))
PREFIXES = st.sampled_from([(), (JOIN,), (JOIN, ANSWER_NEXT)])


@settings(max_examples=examples(0.25))
@given(st.builds(lambda prefix, rest: [*prefix, *rest], PREFIXES, st.lists(STEPS, max_size=8)))
@example(
    [
        ("resident", _message("queue.join", 1, line="demo")),
        ("resident", _message("offer", 2, sdp=BROWSER_OFFER.replace("a=sendrecv", "a=sendrecv "))),
    ]
)
@example(
    [
        ("resident", _message("queue.join", 1, line="demo")),
        ("resident", _message("offer", 2, sdp=BROWSER_OFFER.replace("a=sendrecv", " a=sendrecv"))),
    ]
)
@example(  # found by the long profile: aiortc half applies it, then fails to close
    [
        ("resident", _message("queue.join", 1, line="demo")),
        (
            "resident",
            _message(
                "offer",
                2,
                sdp=BROWSER_OFFER.replace("m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103\r\n", ""),
            ),
        ),
        ("resident", _message("hangup", 3)),
    ]
)
@example(  # found by the long profile: aiortc parses this address but cannot write it
    [
        ("resident", _message("queue.join", 1, line="demo")),
        (
            "resident",
            _message(
                "offer", 2, sdp=BROWSER_OFFER.replace("c=IN IP4 0.0.0.0", "c=IN IP4 -41859", 1)
            ),
        ),
    ]
)
async def test_dispatch_answers_every_message_once_with_a_valid_envelope(
    steps: list[tuple[str, str | bytes]],
) -> None:
    async with harness() as h:
        for who, raw in steps:
            await h.send(who, raw)
