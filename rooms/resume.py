"""Resume tokens: a dropped participant takes their place back, once per token.

A token is 32 random bytes, handed to the participant's page (which keeps it in
``sessionStorage``); the store keeps only its SHA-256 digest, bound to one participant.
Redeeming a token uses it up; every resume hands out the next one, and a new token for a
participant revokes the previous one.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from rooms.clock import Clock
from rooms.participants import ParticipantRole

__all__ = [
    "InvalidTokenError",
    "MemoryResumeStore",
    "ResumeGrant",
    "ResumeStore",
    "ResumeTokens",
    "token_digest",
]

MAX_TOKEN_CHARS = 128


class InvalidTokenError(Exception):
    """Unknown, used, expired or foreign token."""


@dataclass(frozen=True)
class ResumeGrant:
    """Whose place a token gives back."""

    participant_id: str
    role: ParticipantRole
    line_id: str
    staff_ref: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "participant_id": self.participant_id,
            "role": self.role.value,
            "line_id": self.line_id,
            "staff_ref": self.staff_ref,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ResumeGrant:
        return cls(
            participant_id=str(data["participant_id"]),
            role=ParticipantRole(data["role"]),
            line_id=str(data["line_id"]),
            staff_ref=data.get("staff_ref"),
        )


class ResumeStore(Protocol):
    """Token digests and the grant each stands for, with an expiry."""

    async def put(self, digest: str, grant: ResumeGrant, expires_at: datetime) -> None:
        """Store a new token for ``grant.participant_id``, revoking its earlier ones."""
        ...

    async def take(self, digest: str, now: datetime) -> ResumeGrant | None:
        """Atomically fetch and delete; None if unknown, used or expired."""
        ...

    async def revoke(self, participant_id: str) -> None:
        """Forget every token of a participant (they have left)."""
        ...


class MemoryResumeStore:
    """In-process ResumeStore."""

    def __init__(self) -> None:
        self._tokens: dict[str, tuple[ResumeGrant, datetime]] = {}
        self._by_participant: dict[str, str] = {}

    async def put(self, digest: str, grant: ResumeGrant, expires_at: datetime) -> None:
        await self.revoke(grant.participant_id)
        self._tokens[digest] = (grant, expires_at)
        self._by_participant[grant.participant_id] = digest

    async def take(self, digest: str, now: datetime) -> ResumeGrant | None:
        item = self._tokens.pop(digest, None)
        if item is None:
            return None
        grant, expires_at = item
        self._by_participant.pop(grant.participant_id, None)
        return grant if now < expires_at else None

    async def revoke(self, participant_id: str) -> None:
        digest = self._by_participant.pop(participant_id, None)
        if digest is not None:
            self._tokens.pop(digest, None)

    def __len__(self) -> int:
        return len(self._tokens)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ResumeTokens:
    """Issues and redeems resume tokens against a :class:`ResumeStore`."""

    def __init__(self, store: ResumeStore, clock: Clock, lifetime: timedelta) -> None:
        self._store = store
        self._clock = clock
        self._lifetime = lifetime

    async def issue(self, grant: ResumeGrant) -> str:
        token = secrets.token_urlsafe(32)
        await self._store.put(token_digest(token), grant, self._clock.now() + self._lifetime)
        return token

    async def redeem(self, token: str, staff_ref: str | None = None) -> ResumeGrant:
        """The grant of a token, using it up.

        A professional's token works only for the same staff session (``staff_ref``); a
        resident's or interpreter's only on an anonymous socket (``staff_ref`` None).
        """
        if not isinstance(token, str) or not 16 <= len(token) <= MAX_TOKEN_CHARS:
            raise InvalidTokenError("malformed token")
        grant = await self._store.take(token_digest(token), self._clock.now())
        if grant is None:
            raise InvalidTokenError("unknown, used or expired token")
        if grant.staff_ref != staff_ref:
            # Used up all the same: a token shown to the wrong session is burnt.
            raise InvalidTokenError("the token belongs to another session")
        return grant

    async def revoke(self, participant_id: str) -> None:
        await self._store.revoke(participant_id)
