"""The step-up inside a room: identification, then video only with the resident's consent.

Pure functions on a :class:`~rooms.room.Room`, run under the room's lock by the
switchboard. They raise :class:`~rooms.consent.ConsentRuleError` when a rule refuses.
"""

from __future__ import annotations

from datetime import datetime

from rooms.consent import (
    ConsentAnswer,
    ConsentEntry,
    ConsentRuleError,
    VideoState,
    check_identity,
    check_purpose,
    require_present,
)
from rooms.participants import Participant, ParticipantRole
from rooms.room import Room

__all__ = [
    "answer_video",
    "bind_identity",
    "request_identification",
    "request_video",
    "stop_video",
]


def _resident(room: Room) -> Participant:
    resident = room.resident()
    if resident is None:
        raise ConsentRuleError("invalid_state", "The resident is not in the call.")
    return resident


def request_identification(room: Room, by_id: str) -> Participant:
    """A professional asks the resident to identify; returns the resident."""
    require_present(room.participant(by_id), ParticipantRole.PROFESSIONAL)
    resident = _resident(room)
    if resident.identity is not None:
        raise ConsentRuleError("invalid_state", "The resident is already identified.")
    room.identification_requested = True
    return resident


def bind_identity(room: Room, resident_id: str, identity: dict[str, str]) -> Participant:
    """Bind a verified identity to the resident it was started for, in this room only."""
    resident = require_present(room.participant(resident_id), ParticipantRole.RESIDENT)
    resident.identity = check_identity(identity)
    return resident


def request_video(room: Room, by_id: str, purpose: str) -> Participant:
    """A professional asks for video; only once the resident is identified in this call."""
    require_present(room.participant(by_id), ParticipantRole.PROFESSIONAL)
    check_purpose(purpose)
    resident = _resident(room)
    if resident.identity is None:
        raise ConsentRuleError(
            "not_identified", "Video needs the resident to be identified in this call first."
        )
    if room.video is not VideoState.OFF:
        raise ConsentRuleError("invalid_state", "Video is already requested or on.")
    room.video = VideoState.REQUESTED
    room.video_purpose = purpose
    return resident


def answer_video(room: Room, resident_id: str, allow: bool, now: datetime) -> ConsentEntry:
    """The resident allows or declines the pending request."""
    resident = require_present(room.participant(resident_id), ParticipantRole.RESIDENT)
    if room.video is not VideoState.REQUESTED or room.video_purpose is None:
        raise ConsentRuleError("invalid_state", "No video request is waiting for an answer.")
    if resident.identity is None:  # cannot happen through request_video; kept as a guard
        raise ConsentRuleError("not_identified", "The resident is not identified.")
    resident.consents["video"] = allow
    room.video = VideoState.ON if allow else VideoState.OFF
    answer = ConsentAnswer.ALLOWED if allow else ConsentAnswer.DECLINED
    entry = _entry(room, now, answer, ParticipantRole.RESIDENT)
    if not allow:
        room.video_purpose = None
    return entry


def stop_video(room: Room, by_id: str, now: datetime) -> ConsentEntry:
    """Anyone present stops video (or takes back the request); the resident's is a withdrawal."""
    by = room.participant(by_id)
    if by is None or not by.present:
        raise ConsentRuleError("forbidden", "Only someone in the call can stop video.")
    if room.video is VideoState.OFF or room.video_purpose is None:
        raise ConsentRuleError("invalid_state", "Video is not on.")
    resident = room.resident()
    if resident is not None:
        resident.consents["video"] = False
    withdrawn = by.role is ParticipantRole.RESIDENT and room.video is VideoState.ON
    answer = ConsentAnswer.WITHDRAWN if withdrawn else ConsentAnswer.STOPPED
    entry = _entry(room, now, answer, by.role)
    room.video = VideoState.OFF
    room.video_purpose = None
    return entry


def end_video(room: Room, now: datetime, by: ParticipantRole) -> ConsentEntry | None:
    """Video stops because someone left or the call ended; None when it was off."""
    if room.video is VideoState.OFF or room.video_purpose is None:
        return None
    entry = _entry(room, now, ConsentAnswer.STOPPED, by)
    room.video = VideoState.OFF
    room.video_purpose = None
    resident = room.resident()
    if resident is not None:
        resident.consents["video"] = False
    return entry


def _entry(room: Room, now: datetime, answer: ConsentAnswer, by: ParticipantRole) -> ConsentEntry:
    assert room.video_purpose is not None
    return ConsentEntry(now, room.id, room.line_id, "video", room.video_purpose, answer, by.value)
