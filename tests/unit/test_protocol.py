"""Protocol schemas and the closed set of error codes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from signaling import protocol as p
from signaling.dispatch import HANDLERS
from signaling.errors import DEFAULT_MESSAGES, ErrorCode

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


@pytest.mark.parametrize(
    ("raw", "code", "request_id"),
    [
        (b"{", ErrorCode.BAD_REQUEST, None),
        (b"[]", ErrorCode.BAD_REQUEST, None),
        (b'"text"', ErrorCode.BAD_REQUEST, None),
        (b'{"id": 1}', ErrorCode.BAD_REQUEST, None),
        (b'{"type": "fly", "id": 3}', ErrorCode.UNKNOWN_TYPE, 3),
        (b'{"type": "fly"}', ErrorCode.UNKNOWN_TYPE, None),
        (b'{"type": "hello"}', ErrorCode.BAD_REQUEST, None),
        (b'{"type": "hello", "id": 0}', ErrorCode.BAD_REQUEST, None),
        (b'{"type": "hello", "id": true}', ErrorCode.BAD_REQUEST, None),
        (b'{"type": "hello", "id": 1.5}', ErrorCode.BAD_REQUEST, None),
        (b'{"type": "offer", "id": 4}', ErrorCode.BAD_REQUEST, 4),
        (b'{"type": "offer", "id": 4, "sdp": 7}', ErrorCode.BAD_REQUEST, 4),
        (b'{"type": "offer", "id": 4, "sdp": ""}', ErrorCode.INVALID_SDP, 4),
        (b'{"type": "queue.join", "id": 5, "line": "A B"}', ErrorCode.UNKNOWN_LINE, 5),
    ],
)
def test_decode_errors(raw: bytes, code: ErrorCode, request_id: int | None) -> None:
    with pytest.raises(p.DecodeError) as info:
        p.decode_request(raw)
    assert info.value.code is code
    assert info.value.request_id == request_id


def test_decode_valid_requests_ignores_unknown_fields() -> None:
    request = p.decode_request(b'{"type": "queue.join", "id": 9, "line": "demo", "x": 1}')
    assert isinstance(request, p.QueueJoin)
    assert (request.id, request.line) == (9, "demo")
    hello = p.decode_request(b'{"type": "hello", "id": 1}')
    assert isinstance(hello, p.Hello)
    assert hello.protocol == p.PROTOCOL_VERSION


def test_every_request_type_has_one_handler() -> None:
    assert set(HANDLERS) == set(p.REQUEST_TYPES.values())


def test_error_codes_are_documented_and_closed() -> None:
    text = DOC.read_text()
    table = text.split("## Error codes", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", table, flags=re.MULTILINE))
    assert documented == {code.value for code in ErrorCode}
    assert set(DEFAULT_MESSAGES) == set(ErrorCode)


def test_request_types_are_documented() -> None:
    """Each request type has a heading of its own (or shares one, "### `a` / `b`") under
    "## Requests", and every such heading names a request type."""
    text = DOC.read_text()
    section = text.split("\n## Requests\n", 1)[1].split("\n## ", 1)[0]
    documented: set[str] = set()
    for heading in re.findall(r"^### (.+)$", section, flags=re.MULTILINE):
        names = re.fullmatch(r"`([a-z_.]+)`(?: / `([a-z_.]+)`)*", heading.strip())
        if names is None:
            continue  # a heading about something else (e.g. "Participant")
        documented.update(re.findall(r"`([a-z_.]+)`", heading))
    assert documented == set(p.REQUEST_TYPES)


def test_replies_echo_ids() -> None:
    assert p.encode_result(7, {"a": 1}) == b'{"type":"result","id":7,"result":{"a":1}}'
    assert (
        p.encode_error(7, ErrorCode.QUEUE_FULL, "full")
        == b'{"type":"error","id":7,"error":{"code":"queue_full","message":"full"}}'
    )
