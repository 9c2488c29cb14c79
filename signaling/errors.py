"""The closed set of protocol error codes and the exception that carries one."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """Every error a client can receive (documented in docs/protocol.md)."""

    BAD_REQUEST = "bad_request"
    UNKNOWN_TYPE = "unknown_type"
    TOO_LARGE = "too_large"
    RATE_LIMITED = "rate_limited"
    UNSUPPORTED_PROTOCOL = "unsupported_protocol"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    UNKNOWN_LINE = "unknown_line"
    LINE_CLOSED = "line_closed"
    QUEUE_FULL = "queue_full"
    QUEUE_EMPTY = "queue_empty"
    UNSTAFFED = "unstaffed"
    INVALID_STATE = "invalid_state"
    INVALID_SDP = "invalid_sdp"
    GLARE = "glare"
    DRAINING = "draining"
    INVALID_TOKEN = "invalid_token"
    UNKNOWN_CALL = "unknown_call"
    UNKNOWN_PARTICIPANT = "unknown_participant"
    IDENTIFICATION_UNAVAILABLE = "identification_unavailable"
    NOT_IDENTIFIED = "not_identified"
    INTERNAL_ERROR = "internal_error"


DEFAULT_MESSAGES: dict[ErrorCode, str] = {
    ErrorCode.BAD_REQUEST: "The message is not valid.",
    ErrorCode.UNKNOWN_TYPE: "Unknown message type.",
    ErrorCode.TOO_LARGE: "The message is too large.",
    ErrorCode.RATE_LIMITED: "Too many messages; slow down.",
    ErrorCode.UNSUPPORTED_PROTOCOL: "Unsupported protocol version.",
    ErrorCode.UNAUTHORIZED: "This needs a staff session.",
    ErrorCode.FORBIDDEN: "Not allowed for this session.",
    ErrorCode.UNKNOWN_LINE: "No such service line.",
    ErrorCode.LINE_CLOSED: "The service line is closed now.",
    ErrorCode.QUEUE_FULL: "The queue is full.",
    ErrorCode.QUEUE_EMPTY: "Nobody is waiting in the queue.",
    ErrorCode.UNSTAFFED: "No one is answering right now.",
    ErrorCode.INVALID_STATE: "Not possible in the current state.",
    ErrorCode.INVALID_SDP: "The session description could not be used.",
    ErrorCode.GLARE: "The gateway has an offer outstanding; answer it first.",
    ErrorCode.DRAINING: "This node is shutting down; connect again.",
    ErrorCode.INVALID_TOKEN: "The token is not valid (unknown, used or expired).",
    ErrorCode.UNKNOWN_CALL: "The call has ended.",
    ErrorCode.UNKNOWN_PARTICIPANT: "No such participant in the call.",
    ErrorCode.IDENTIFICATION_UNAVAILABLE: "Strong identification is not available here.",
    ErrorCode.NOT_IDENTIFIED: "Video needs the resident to be identified in this call first.",
    ErrorCode.INTERNAL_ERROR: "The gateway failed to handle the request.",
}


class ProtocolError(Exception):
    """Raised by handlers to reply with an error code; the request has had no effect."""

    def __init__(self, code: ErrorCode, message: str | None = None) -> None:
        super().__init__(message or DEFAULT_MESSAGES[code])
        self.code = code
        self.message = message or DEFAULT_MESSAGES[code]


class StaffSessionEnded(ProtocolError):
    """The staff sign-in behind a session has expired or been signed out (``reason``: the
    socket's close reason). Replied to as ``unauthorized``; the socket is then closed."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(ErrorCode.UNAUTHORIZED, message)
        self.reason = reason
