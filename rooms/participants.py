"""Participants of a call: a role, a state machine, and slots for identity and consent.

A participant is known by an opaque id; nothing here identifies a person. The identity and
consent slots stay empty until strong identification (a later feature) fills them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final

__all__ = [
    "ALLOWED_TRANSITIONS",
    "InvalidTransitionError",
    "Participant",
    "ParticipantRole",
    "ParticipantState",
    "StateChange",
]

logger = logging.getLogger(__name__)


class ParticipantRole(StrEnum):
    """What a participant is in the call (more roles can be added)."""

    RESIDENT = "resident"
    PROFESSIONAL = "professional"
    INTERPRETER = "interpreter"


class ParticipantState(StrEnum):
    """joining → connected → reconnecting → (connected again or) left."""

    JOINING = "joining"  # in the room, media not up yet
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"  # the connection dropped; inside the grace period
    LEFT = "left"


ALLOWED_TRANSITIONS: Final[MappingProxyType[ParticipantState, frozenset[ParticipantState]]] = (
    MappingProxyType(
        {
            ParticipantState.JOINING: frozenset(
                {ParticipantState.CONNECTED, ParticipantState.RECONNECTING, ParticipantState.LEFT}
            ),
            ParticipantState.CONNECTED: frozenset(
                {ParticipantState.RECONNECTING, ParticipantState.LEFT}
            ),
            ParticipantState.RECONNECTING: frozenset(
                {ParticipantState.CONNECTED, ParticipantState.LEFT}
            ),
            ParticipantState.LEFT: frozenset(),
        }
    )
)


class InvalidTransitionError(Exception):
    """A state change the participant state machine does not allow."""

    def __init__(self, old: ParticipantState, new: ParticipantState) -> None:
        super().__init__(f"participant cannot go from {old.value} to {new.value}")
        self.old = old
        self.new = new


@dataclass(frozen=True)
class StateChange:
    """A real change of a participant's state."""

    participant_id: str
    old: ParticipantState
    new: ParticipantState


@dataclass
class Participant:
    """One person in a call, by role only.

    ``staff_ref`` ties a professional to their staff sign-in (an opaque digest, never a
    name) so that they can rejoin; ``language`` is an interpreter's language.
    """

    id: str
    role: ParticipantRole
    language: str | None = None
    staff_ref: str | None = None
    identity: dict[str, str] | None = None  # filled by strong identification
    consents: dict[str, bool] = field(default_factory=dict)  # e.g. {"video": True}
    _state: ParticipantState = ParticipantState.JOINING

    @property
    def state(self) -> ParticipantState:
        return self._state

    @property
    def present(self) -> bool:
        """Still part of the call (not left)."""
        return self._state is not ParticipantState.LEFT

    def set_state(self, new: ParticipantState) -> StateChange | None:
        """Change state; None when already there; refuses what the machine does not allow."""
        old = self._state
        if new is old:
            return None
        if new not in ALLOWED_TRANSITIONS[old]:
            raise InvalidTransitionError(old, new)
        self._state = new
        logger.debug("participant %s %s -> %s", self.role.value, old.value, new.value)
        return StateChange(self.id, old, new)

    def public(self) -> dict[str, Any]:
        """What the other participants may see: id, role, state, an interpreter's language,
        and for the resident the level of identification in this call (None: anonymous)."""
        data: dict[str, Any] = {"id": self.id, "role": self.role.value, "state": self._state.value}
        if self.language is not None:
            data["language"] = self.language
        if self.role is ParticipantRole.RESIDENT:
            data["identified"] = None if self.identity is None else self.identity.get("level")
        return data

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "role": self.role.value,
            "state": self._state.value,
            "language": self.language,
            "staff_ref": self.staff_ref,
            "identity": self.identity,
            "consents": dict(self.consents),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Participant:
        return cls(
            id=str(data["id"]),
            role=ParticipantRole(data["role"]),
            language=data.get("language"),
            staff_ref=data.get("staff_ref"),
            identity=data.get("identity"),
            consents=dict(data.get("consents") or {}),
            _state=ParticipantState(data["state"]),
        )
