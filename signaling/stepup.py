"""Identification and video consent over signalling (docs/protocol.md, `identify.*`, `video.*`).

The rules live in :mod:`rooms.stepup`; this module turns requests into switchboard steps,
tells the room's participants, and opens or closes the media gate for video. An identity
reaches the room only through :meth:`StepUp.identified`, which the OpenID Connect callback
calls with the flow's binding: the room and participant the flow was started for.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from rooms.consent import ConsentRuleError, VideoState
from rooms.participants import ParticipantRole
from rooms.room import Room, RoomEndedError
from rooms.switchboard import Switchboard
from signaling.errors import ErrorCode, ProtocolError
from signaling.local import LocalParticipant
from signaling.session import Session

__all__ = ["IdentityFlows", "StepUp", "parse_binding"]

logger = logging.getLogger(__name__)

RULE_ERRORS: dict[str, ErrorCode] = {
    "forbidden": ErrorCode.FORBIDDEN,
    "invalid_state": ErrorCode.INVALID_STATE,
    "not_identified": ErrorCode.NOT_IDENTIFIED,
    "invalid_message": ErrorCode.BAD_REQUEST,
}
FAILURE_CODES = frozenset({"cancelled", "level_too_low", "expired", "failed"})
PUBLIC_IDENTITY = ("level", "provider")


class IdentityFlows(Protocol):
    """What the signalling needs of the OpenID Connect relying party."""

    @property
    def provider_name(self) -> str: ...

    async def begin(self, binding: str) -> str:
        """Start a flow for `binding`; the authorization URL to open."""
        ...


@dataclass(frozen=True)
class Binding:
    room_id: str
    participant_id: str

    def __str__(self) -> str:
        return f"{self.room_id}/{self.participant_id}"


def parse_binding(value: str) -> Binding | None:
    room_id, sep, participant_id = value.partition("/")
    if not sep or not room_id or not participant_id or "/" in participant_id:
        return None
    return Binding(room_id, participant_id)


class Members(Protocol):
    """The call center's side: who is in a room here, and the media gate."""

    def members(self, room_id: str) -> list[LocalParticipant]: ...

    def set_video(self, room_id: str, on: bool) -> None: ...


class StepUp:
    """identify.request / identify.start / video.request / video.consent / video.stop."""

    def __init__(
        self,
        switchboard: Switchboard,
        members: Members,
        flows: Callable[[], IdentityFlows | None],
    ) -> None:
        self._switchboard = switchboard
        self._members = members
        self._flows = flows

    # -- identification ---------------------------------------------------------------------

    async def request_identification(self, me: LocalParticipant) -> None:
        flows = self._require_flows()
        room = await self._rule(me, self._switchboard.request_identification, me.id)
        self._send(
            room,
            "identify.requested",
            roles={ParticipantRole.RESIDENT},
            by=ParticipantRole.PROFESSIONAL.value,
            provider=flows.provider_name,
        )

    async def start_identification(self, me: LocalParticipant) -> str:
        flows = self._require_flows()
        if me.role is not ParticipantRole.RESIDENT:
            raise ProtocolError(ErrorCode.FORBIDDEN, "Only the resident identifies.")
        room = await self._room(me)
        resident = room.resident()
        if resident is None or resident.id != me.id:
            raise ProtocolError(ErrorCode.INVALID_STATE)
        if resident.identity is not None:
            raise ProtocolError(ErrorCode.INVALID_STATE, "Already identified in this call.")
        return await flows.begin(str(Binding(room.id, me.id)))

    async def identified(self, binding: str, identity: dict[str, str]) -> bool:
        """A verified identity for `binding`; False when that participant is no longer there."""
        target = parse_binding(binding)
        if target is None:
            return False
        try:
            room = await self._switchboard.bind_identity(
                target.room_id, target.participant_id, identity
            )
        except (RoomEndedError, ConsentRuleError, ValueError):
            return False
        public = {k: identity[k] for k in PUBLIC_IDENTITY if k in identity}
        for member in self._members.members(room.id):
            fields: dict[str, Any] = {"participantId": target.participant_id, **public}
            if member.role is ParticipantRole.PROFESSIONAL:
                fields["identity"] = dict(identity)
            member.send_event("participant.identified", callId=room.id, **fields)
        logger.info("identification bound in a call (level %s)", identity.get("level"))
        return True

    async def failed(self, binding: str, code: str) -> None:
        """A flow for `binding` failed: tell the resident and the professionals."""
        target = parse_binding(binding)
        if target is None:
            return
        code = code if code in FAILURE_CODES else "failed"
        for member in self._members.members(target.room_id):
            if member.id == target.participant_id or member.role is ParticipantRole.PROFESSIONAL:
                member.send_event("identify.failed", callId=target.room_id, code=code)

    # -- video ------------------------------------------------------------------------------

    async def request_video(self, me: LocalParticipant, purpose: str) -> None:
        room = await self._rule(me, self._switchboard.request_video, me.id, purpose)
        self._video_state(room, by=me.role.value, reason=None)

    async def consent(self, me: LocalParticipant, allow: bool) -> None:
        room = await self._rule(me, self._switchboard.answer_video, me.id, allow)
        self._members.set_video(room.id, room.video is VideoState.ON)
        self._video_state(
            room,
            by=me.role.value,
            reason="allowed" if allow else "declined",
            purpose=room.video_purpose,
        )

    async def stop_video(self, me: LocalParticipant) -> None:
        before = await self._room(me)
        was_on = before.video is VideoState.ON
        room = await self._rule(me, self._switchboard.stop_video, me.id)
        self._members.set_video(room.id, False)
        withdrawn = me.role is ParticipantRole.RESIDENT and was_on
        self._video_state(room, by=me.role.value, reason="withdrawn" if withdrawn else "stopped")

    def video_payload(self, room: Room) -> dict[str, Any]:
        """The call's video state as `call.connected`, `resume` and the rest carry it."""
        return {"state": room.video.value, "purpose": room.video_purpose}

    # -- helpers ----------------------------------------------------------------------------

    def _require_flows(self) -> IdentityFlows:
        flows = self._flows()
        if flows is None:
            raise ProtocolError(ErrorCode.IDENTIFICATION_UNAVAILABLE)
        return flows

    async def _room(self, me: LocalParticipant) -> Room:
        if me.room_id is None:
            raise ProtocolError(ErrorCode.INVALID_STATE, "Not in a call.")
        room = await self._switchboard.get(me.room_id)
        if room is None or not room.open:
            raise ProtocolError(ErrorCode.UNKNOWN_CALL)
        return room

    async def _rule(
        self, me: LocalParticipant, step: Callable[..., Awaitable[Room]], *args: Any
    ) -> Room:
        if me.room_id is None:
            raise ProtocolError(ErrorCode.INVALID_STATE, "Not in a call.")
        try:
            return await step(me.room_id, *args)
        except RoomEndedError:
            raise ProtocolError(ErrorCode.UNKNOWN_CALL) from None
        except ConsentRuleError as exc:
            raise ProtocolError(
                RULE_ERRORS.get(exc.code, ErrorCode.INVALID_STATE), str(exc)
            ) from None

    def _video_state(
        self, room: Room, by: str, reason: str | None, purpose: str | None = None
    ) -> None:
        self._send(
            room,
            "video.state",
            state=room.video.value,
            purpose=purpose if purpose is not None else room.video_purpose,
            by=by,
            reason=reason,
        )

    def _send(
        self,
        room: Room,
        event: str,
        roles: set[ParticipantRole] | None = None,
        **fields: Any,
    ) -> None:
        for member in self._members.members(room.id):
            if roles is None or member.role in roles:
                member.send_event(event, callId=room.id, **fields)


def in_call(session: Session) -> LocalParticipant:
    local = session.participant
    if local is None or local.room_id is None:
        raise ProtocolError(ErrorCode.INVALID_STATE, "Not in a call.")
    return local
