"""A room: one call and its participants, with an explicit state of its own."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from rooms.consent import VideoState
from rooms.participants import Participant, ParticipantRole, ParticipantState, StateChange

__all__ = ["EndReason", "Room", "RoomEndedError", "RoomState"]

logger = logging.getLogger(__name__)


class RoomState(StrEnum):
    OPEN = "open"
    ENDED = "ended"


class EndReason(StrEnum):
    """Why a room ended (also the ``reason`` of ``call.ended``)."""

    HANGUP = "hangup"  # the professional hung up
    PEER_LEFT = "peer_left"  # everyone but one participant left
    TIMEOUT = "timeout"  # the grace period ran out
    MEDIA_FAILED = "media_failed"
    MEDIA_TIMEOUT = "media_timeout"  # no media came up in time
    SHUTDOWN = "shutdown"


class RoomEndedError(Exception):
    """The room has ended: nobody joins it or changes in it any more."""


@dataclass
class Room:
    """One call on one line: participants by id, open until it ends with a reason."""

    id: str
    line_id: str
    queued_at: datetime
    answered_at: datetime
    node: str = ""
    participants: dict[str, Participant] = field(default_factory=dict)
    state: RoomState = RoomState.OPEN
    end_reason: EndReason | None = None
    ended_at: datetime | None = None
    identification_requested: bool = False
    video: VideoState = VideoState.OFF
    video_purpose: str | None = None

    @property
    def open(self) -> bool:
        return self.state is RoomState.OPEN

    def add(self, participant: Participant) -> None:
        if not self.open:
            raise RoomEndedError(self.id)
        if participant.id in self.participants:
            raise ValueError("participant already in the room")
        self.participants[participant.id] = participant

    def participant(self, participant_id: str) -> Participant | None:
        return self.participants.get(participant_id)

    def present(self) -> list[Participant]:
        """Participants who have not left."""
        return [p for p in self.participants.values() if p.present]

    def present_with_role(self, role: ParticipantRole) -> list[Participant]:
        return [p for p in self.present() if p.role is role]

    def set_state(self, participant_id: str, new: ParticipantState) -> StateChange | None:
        """Change one participant's state (the room must be open)."""
        if not self.open:
            raise RoomEndedError(self.id)
        return self.participants[participant_id].set_state(new)

    def should_end(self) -> bool:
        """Everyone but one participant has left."""
        return self.open and len(self.present()) <= 1

    def end(self, reason: EndReason, now: datetime) -> bool:
        """End the room (idempotent; False if it had already ended)."""
        if not self.open:
            return False
        logger.debug("room open -> ended (%s)", reason.value)
        self.state = RoomState.ENDED
        self.end_reason = reason
        self.ended_at = now
        return True

    def resident(self) -> Participant | None:
        """The resident still in the call, if any."""
        present = self.present_with_role(ParticipantRole.RESIDENT)
        return present[0] if present else None

    def identified_level(self) -> str | None:
        """The assurance level of the resident's identification in this call, if any."""
        for p in self.participants.values():
            if p.role is ParticipantRole.RESIDENT and p.identity is not None:
                return p.identity.get("level")
        return None

    def counts_by_role(self) -> dict[str, int]:
        """How many took part, by role: all a call record keeps of the participants.

        A professional who rejoined after leaving counts once (same staff sign-in).
        """
        seen: set[str] = set()
        counts: Counter[str] = Counter()
        for p in self.participants.values():
            if p.staff_ref is not None:
                if p.staff_ref in seen:
                    continue
                seen.add(p.staff_ref)
            counts[p.role.value] += 1
        return dict(counts)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "line_id": self.line_id,
            "queued_at": self.queued_at.isoformat(),
            "answered_at": self.answered_at.isoformat(),
            "node": self.node,
            "participants": [p.to_json() for p in self.participants.values()],
            "state": self.state.value,
            "end_reason": None if self.end_reason is None else self.end_reason.value,
            "ended_at": None if self.ended_at is None else self.ended_at.isoformat(),
            "identification_requested": self.identification_requested,
            "video": self.video.value,
            "video_purpose": self.video_purpose,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Room:
        room = cls(
            id=str(data["id"]),
            line_id=str(data["line_id"]),
            queued_at=datetime.fromisoformat(data["queued_at"]),
            answered_at=datetime.fromisoformat(data["answered_at"]),
            node=str(data.get("node", "")),
            state=RoomState(data["state"]),
            end_reason=None if data.get("end_reason") is None else EndReason(data["end_reason"]),
            ended_at=None
            if data.get("ended_at") is None
            else datetime.fromisoformat(data["ended_at"]),
            identification_requested=bool(data.get("identification_requested", False)),
            video=VideoState(data.get("video", VideoState.OFF.value)),
            video_purpose=data.get("video_purpose"),
        )
        for item in data["participants"]:
            participant = Participant.from_json(item)
            room.participants[participant.id] = participant
        return room


def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)
