"""One signalling session: a socket's role, its outbound queue and what it holds."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final

from signaling.protocol import encode_event
from signaling.ratelimit import TokenBucket
from signaling.tokens import StaffClaims

if TYPE_CHECKING:
    from signaling.clients import ClientState
    from signaling.local import LocalParticipant

logger = logging.getLogger(__name__)

MAX_PENDING_MESSAGES: Final = 256
# Negotiations (offers and answers) per socket: 10 at once, then one every 6 s. A call
# needs two or three; each costs the gateway real work, so a flood is refused early.
NEGOTIATION_BURST: Final = 10
NEGOTIATIONS_PER_SECOND: Final = 1 / 6


# Why a staff session ended while its socket was open (the WebSocket close reason).
SESSION_EXPIRED: Final = "session expired"
SIGNED_OUT: Final = "signed out"


class Role(StrEnum):
    RESIDENT = "resident"
    STAFF = "staff"


@dataclass(eq=False)
class Session:
    """State of one connected client. Nothing here identifies a resident."""

    role: Role
    number: int
    staff: StaffClaims | None = None
    outbound: asyncio.Queue[bytes | None] = field(
        default_factory=lambda: asyncio.Queue(MAX_PENDING_MESSAGES)
    )
    watching: set[str] = field(default_factory=set)
    negotiations: TokenBucket = field(
        default_factory=lambda: TokenBucket(NEGOTIATIONS_PER_SECOND, NEGOTIATION_BURST)
    )
    participant: LocalParticipant | None = None  # the queue place or call this socket carries
    presence_id: str | None = None  # a professional's console, announced in the store
    available: bool = True  # a console is available when it opens (staff.status)
    client: ClientState | None = None  # per-client counts (a pseudonymous key, no address)
    overflowed: bool = False
    replaced: bool = False  # another socket took over its participant
    ended: str | None = None  # the staff sign-in ended: SESSION_EXPIRED or SIGNED_OUT
    expiry: asyncio.TimerHandle | None = field(default=None, repr=False)  # staff: sign-in ends
    closed: bool = False

    @property
    def label(self) -> str:
        """A log label that identifies nobody: role and a per-process counter."""
        return f"{self.role.value}#{self.number}"

    def send(self, message: bytes) -> None:
        """Queue a message for the writer; a client too slow to read is cut off."""
        if self.closed or self.overflowed:
            return
        try:
            self.outbound.put_nowait(message)
        except asyncio.QueueFull:
            self.overflowed = True
            logger.warning("%s is not reading its messages; disconnecting", self.label)
            self._close_outbound()

    def send_event(self, event_type: str, **fields: Any) -> None:
        self.send(encode_event(event_type, fields))

    def replace(self) -> None:
        """Another socket resumed this one's participant: close it after what is queued."""
        self.replaced = True
        self.close()

    def end(self, reason: str) -> None:
        """The staff sign-in is over (``reason``): close the socket after what is queued."""
        if self.ended is None:
            self.ended = reason
        self.close()

    def close(self) -> None:
        """Stop the writer after what is queued."""
        if not self.closed:
            self.closed = True
            if self.expiry is not None:
                self.expiry.cancel()
                self.expiry = None
            self._close_outbound()

    def _close_outbound(self) -> None:
        try:
            self.outbound.put_nowait(None)
        except asyncio.QueueFull:
            # Make room for the end marker: the backlog is dropped anyway.
            while not self.outbound.empty():
                self.outbound.get_nowait()
            self.outbound.put_nowait(None)
