"""Strong identification and video consent inside one room, and the consent log.

The rules, enforced here and nowhere else:

- only a professional present in the room asks for identification or video;
- an identity binds to the resident it was started for, in that room only, and lives in
  the room's state until the room ends (never in a log, a call record or a file);
- video can be requested only once the resident is identified in this call;
- video runs only after the resident's explicit *allow*; anyone present stops it, and the
  resident's stop is a withdrawal of consent;
- every answer, withdrawal and stop goes to the consent log: time, room, line, purpose and
  answer, nothing that identifies anybody.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Final, Protocol

from rooms.participants import Participant, ParticipantRole

__all__ = [
    "VIDEO_PURPOSES",
    "ConsentAnswer",
    "ConsentEntry",
    "ConsentLog",
    "ConsentRuleError",
    "MemoryConsentLog",
    "VideoState",
]

# Why the professional asks for video; the pages explain each in the resident's language.
# A fixed list rather than free text, so that nothing personal can reach the consent log.
VIDEO_PURPOSES: Final = frozenset({"see_document", "assess_situation", "sign_language", "other"})
IDENTITY_FIELDS: Final = frozenset({"name", "code", "birthdate", "level", "provider"})


class VideoState(StrEnum):
    """off → requested → on (allowed) or off (declined); on → off (stopped, withdrawn)."""

    OFF = "off"
    REQUESTED = "requested"
    ON = "on"


class ConsentAnswer(StrEnum):
    ALLOWED = "allowed"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"  # the resident stopped video they had allowed
    STOPPED = "stopped"  # someone else stopped it (or the request was taken back)


class ConsentRuleError(Exception):
    """A request the identification and consent rules refuse; ``code`` names the rule."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ConsentEntry:
    """One line of the consent log. No identity, no participant id."""

    at: datetime
    room_id: str
    line_id: str
    subject: str  # "video"
    purpose: str
    answer: ConsentAnswer
    by: str  # the role that gave the answer or stopped it

    def to_json(self) -> dict[str, str]:
        return {
            "at": self.at.isoformat(),
            "room_id": self.room_id,
            "line_id": self.line_id,
            "subject": self.subject,
            "purpose": self.purpose,
            "answer": self.answer.value,
            "by": self.by,
        }


class ConsentLog(Protocol):
    """Append-only log of consent answers (kept like call records: counts, times, no one)."""

    async def add(self, entry: ConsentEntry) -> None: ...

    async def for_room(self, room_id: str) -> list[ConsentEntry]:
        """The room's entries, oldest first."""
        ...


@dataclass
class MemoryConsentLog:
    """In-process ConsentLog keeping the newest ``max_entries``."""

    max_entries: int = 10000
    _entries: deque[ConsentEntry] = field(init=False)

    def __post_init__(self) -> None:
        if self.max_entries < 1:
            raise ValueError("max_entries must be >= 1")
        self._entries = deque(maxlen=self.max_entries)

    async def add(self, entry: ConsentEntry) -> None:
        self._entries.append(entry)

    async def for_room(self, room_id: str) -> list[ConsentEntry]:
        return [e for e in self._entries if e.room_id == room_id]


def require_present(participant: Participant | None, role: ParticipantRole) -> Participant:
    """The participant, present and of `role`; else ConsentRuleError forbidden."""
    if participant is None or not participant.present or participant.role is not role:
        raise ConsentRuleError("forbidden", f"Only a {role.value} in the call can do this.")
    return participant


def check_identity(identity: dict[str, str]) -> dict[str, str]:
    """An identity for the room: the known fields only, all strings, name and level set."""
    unknown = set(identity) - IDENTITY_FIELDS
    if unknown or not identity.get("name") or not identity.get("level"):
        raise ValueError("an identity needs name and level, and only the known fields")
    return {k: str(v) for k, v in identity.items()}


def check_purpose(purpose: str) -> str:
    if purpose not in VIDEO_PURPOSES:
        raise ConsentRuleError("invalid_message", "Unknown purpose for video.")
    return purpose
