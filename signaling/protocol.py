"""Message schemas of signalling protocol version 1 (see docs/protocol.md).

Requests are tagged msgspec structs; one decoder per type is built once. Decoding happens in
two steps so that an unknown ``type`` and a malformed body get different error codes.
"""

from __future__ import annotations

import re
from typing import Any, Final

import msgspec

from signaling.errors import ErrorCode, ProtocolError

PROTOCOL_VERSION: Final = 1
MAX_SDP_CHARS: Final = 32 * 1024
LINE_ID_PATTERN: Final = r"^[a-z0-9][a-z0-9-]{0,62}$"
OPAQUE_ID_PATTERN: Final = r"^[A-Za-z0-9_-]{1,64}$"
MAX_TOKEN_CHARS: Final = 4096
TOO_DEEP: Final = "The message is nested too deeply."


class Envelope(msgspec.Struct):
    """What every request has: a type and an id."""

    type: str
    id: Any = None


class Request(msgspec.Struct, tag_field="type", forbid_unknown_fields=False):
    id: int


class Hello(Request, tag="hello"):
    protocol: int = PROTOCOL_VERSION


class LineWatch(Request, tag="line.watch"):
    line: str


class LineUnwatch(Request, tag="line.unwatch"):
    line: str


class QueueJoin(Request, tag="queue.join"):
    line: str


class QueueLeave(Request, tag="queue.leave"):
    pass


class Offer(Request, tag="offer"):
    sdp: str


class Answer(Request, tag="answer"):
    sdp: str


class Hangup(Request, tag="hangup"):
    pass


class StaffAnswerNext(Request, tag="staff.answer_next"):
    line: str


class StaffStatus(Request, tag="staff.status"):
    available: bool


class Resume(Request, tag="resume"):
    token: str
    keepMedia: bool = False


class CallRejoin(Request, tag="call.rejoin"):
    callId: str


class InterpreterInvite(Request, tag="interpreter.invite"):
    language: str


class InterpreterCheck(Request, tag="interpreter.check"):
    token: str


class InterpreterJoin(Request, tag="interpreter.join"):
    token: str


class ParticipantRemove(Request, tag="participant.remove"):
    participantId: str


class IdentifyRequest(Request, tag="identify.request"):
    pass


class IdentifyStart(Request, tag="identify.start"):
    pass


class VideoRequest(Request, tag="video.request"):
    purpose: str


class VideoConsent(Request, tag="video.consent"):
    allow: bool


class VideoStop(Request, tag="video.stop"):
    pass


REQUEST_TYPES: Final[dict[str, type[Request]]] = {
    str(cls.__struct_config__.tag): cls
    for cls in (
        Hello,
        LineWatch,
        LineUnwatch,
        QueueJoin,
        QueueLeave,
        Offer,
        Answer,
        Hangup,
        StaffAnswerNext,
        StaffStatus,
        Resume,
        CallRejoin,
        InterpreterInvite,
        InterpreterCheck,
        InterpreterJoin,
        ParticipantRemove,
        IdentifyRequest,
        IdentifyStart,
        VideoRequest,
        VideoConsent,
        VideoStop,
    )
}

_ENVELOPE_DECODER: Final = msgspec.json.Decoder(Envelope)
_DECODERS: Final[dict[str, msgspec.json.Decoder[Any]]] = {
    name: msgspec.json.Decoder(cls) for name, cls in REQUEST_TYPES.items()
}
_ENCODER: Final = msgspec.json.Encoder()


def _valid_id(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 2**53 - 1:
        return value
    return None


def peek_id(raw: str | bytes) -> int | None:
    """The request id of a message, if it can be read, without handling the message."""
    try:
        return _valid_id(_ENVELOPE_DECODER.decode(raw).id)
    except (msgspec.DecodeError, RecursionError, UnicodeEncodeError):
        return None


def decode_request(raw: str | bytes) -> Request:
    """Parse one client message or raise :class:`DecodeError` with the code and id."""
    try:
        envelope = _ENVELOPE_DECODER.decode(raw)
    except msgspec.DecodeError as exc:
        raise DecodeError(ErrorCode.BAD_REQUEST, f"Malformed message: {exc}", None) from exc
    except UnicodeEncodeError:
        # Only a str built in this process can hold a lone surrogate (a socket's text is
        # decoded strictly); msgspec cannot encode it to read it.
        raise DecodeError(ErrorCode.BAD_REQUEST, "Malformed message: not UTF-8.", None) from None
    except RecursionError:
        # msgspec recurses into nested values, even ones it skips; its C code stops at the
        # interpreter's recursion limit (Py_EnterRecursiveCall) and raises this, safely.
        raise DecodeError(ErrorCode.BAD_REQUEST, TOO_DEEP, None) from None
    request_id = _valid_id(envelope.id)
    decoder = _DECODERS.get(envelope.type)
    if decoder is None:
        raise DecodeError(
            ErrorCode.UNKNOWN_TYPE, f"Unknown message type {envelope.type[:40]!r}.", request_id
        )
    if request_id is None:
        raise DecodeError(ErrorCode.BAD_REQUEST, "`id` must be a positive integer.", None)
    try:
        request: Request = decoder.decode(raw)
    except msgspec.ValidationError as exc:
        raise DecodeError(ErrorCode.BAD_REQUEST, f"Invalid message: {exc}", request_id) from exc
    except RecursionError:
        raise DecodeError(ErrorCode.BAD_REQUEST, TOO_DEEP, request_id) from None
    _validate_fields(request)
    return request


def _validate_fields(request: Request) -> None:
    line = getattr(request, "line", None)
    if line is not None and not re.fullmatch(LINE_ID_PATTERN, line):
        raise DecodeError(ErrorCode.UNKNOWN_LINE, None, request.id)
    for name in ("callId", "participantId"):
        value = getattr(request, name, None)
        if value is not None and not re.fullmatch(OPAQUE_ID_PATTERN, value):
            code = ErrorCode.UNKNOWN_CALL if name == "callId" else ErrorCode.UNKNOWN_PARTICIPANT
            raise DecodeError(code, None, request.id)
    token = getattr(request, "token", None)
    if token is not None and not (1 <= len(token) <= MAX_TOKEN_CHARS):
        raise DecodeError(ErrorCode.INVALID_TOKEN, None, request.id)
    language = getattr(request, "language", None)
    if language is not None and len(language) > 35:
        raise DecodeError(ErrorCode.BAD_REQUEST, "`language` is too long.", request.id)
    sdp = getattr(request, "sdp", None)
    if sdp is not None and not (1 <= len(sdp) <= MAX_SDP_CHARS):
        raise DecodeError(ErrorCode.INVALID_SDP, "The SDP is empty or too long.", request.id)


class DecodeError(ProtocolError):
    """A message that could not be turned into a request."""

    def __init__(self, code: ErrorCode, message: str | None, request_id: int | None) -> None:
        super().__init__(code, message)
        self.request_id = request_id


def encode_result(request_id: int, result: dict[str, Any]) -> bytes:
    return _ENCODER.encode({"type": "result", "id": request_id, "result": result})


def encode_error(request_id: int | None, code: ErrorCode, message: str) -> bytes:
    return _ENCODER.encode(
        {"type": "error", "id": request_id, "error": {"code": code.value, "message": message}}
    )


def encode_event(event_type: str, fields: dict[str, Any]) -> bytes:
    return _ENCODER.encode({"type": event_type, **fields})
