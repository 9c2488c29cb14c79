"""What a node holds for the participants it serves: their sockets and peer connections.

The truth about queues and rooms is in the store (:mod:`rooms`); these objects are only
the per-connection side of it, and go when the participant has left.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rooms.participants import ParticipantRole

if TYPE_CHECKING:
    from media.peer import MediaPeer
    from signaling.clients import ClientState
    from signaling.session import Session


@dataclass(eq=False)
class LocalParticipant:
    """A participant served by this node: in a queue (``room_id`` None) or in a room."""

    id: str
    role: ParticipantRole
    line_id: str
    room_id: str | None = None
    language: str | None = None
    staff_ref: str | None = None
    session: Session | None = None  # None while reconnecting
    peer: MediaPeer | None = None
    grace: asyncio.TimerHandle | None = None
    last_position: int | None = None
    last_estimate: int | None = None
    last_answerable: bool | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one change at a time
    place_of: ClientState | None = None  # the client whose queue place this is

    @property
    def queued(self) -> bool:
        return self.room_id is None

    @property
    def label(self) -> str:
        """A log label that identifies nobody."""
        return self.session.label if self.session is not None else f"{self.role.value}(away)"

    def send_event(self, event_type: str, **fields: Any) -> None:
        """Send to the participant's socket; dropped while they are away (resume catches up)."""
        if self.session is not None:
            self.session.send_event(event_type, **fields)

    def cancel_grace(self) -> None:
        if self.grace is not None:
            self.grace.cancel()
            self.grace = None


@dataclass(eq=False)
class Link:
    """One participant's audio or video sent to another: from which peer, to which, the stream."""

    source: MediaPeer
    destination: MediaPeer
    handle: object
    kind: str = "audio"


@dataclass(eq=False)
class LocalRoom:
    """A room that runs on this node: its local participants and the media links."""

    id: str
    line_id: str
    members: dict[str, LocalParticipant] = field(default_factory=dict)
    links: dict[tuple[int, int, str], Link] = field(default_factory=dict)
    video: bool = False  # the media gate: video forwarded only while the resident consents

    def participants(self) -> list[LocalParticipant]:
        return list(self.members.values())
