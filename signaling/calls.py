"""The call centre of one node: queues, rooms of participants, and their media.

Turns protocol requests into operations on :mod:`rooms` (the store holds the truth:
queue entries, rooms, participants, presence, resume tokens) and :mod:`media` (peer
connections and forwarding). This node keeps only what belongs to a connection: sockets
and peer connections of the participants it serves. Every participant's audio goes to
every other participant of the room, packet by packet, never decoded.

A participant whose socket drops keeps their place for the grace period; a new socket
takes it back with a single-use resume token. Everything a call leaves behind is a
:class:`~rooms.calls.CallRecord`: the line, the times and counts by role.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import re
import secrets
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from media.fastpath import OutboundStream
from media.ice import IcePolicy
from media.peer import GlareError, MediaPeer, NegotiationError, NoPendingOfferError
from rooms.clock import Clock
from rooms.errors import AlreadyQueuedError, QueueFullError
from rooms.estimate import LineLoad, estimate_wait_seconds
from rooms.lines import ServiceLine
from rooms.load import line_load
from rooms.participants import (
    InvalidTransitionError,
    Participant,
    ParticipantRole,
    ParticipantState,
    StateChange,
)
from rooms.resume import InvalidTokenError, ResumeGrant, ResumeTokens
from rooms.room import EndReason, Room, RoomEndedError
from rooms.status import LineStatus, line_status
from rooms.store import Store
from rooms.switchboard import RoomChange, Switchboard, new_participant_id
from signaling.clients import ClientTracker
from signaling.errors import ErrorCode, ProtocolError, StaffSessionEnded
from signaling.local import Link, LocalParticipant, LocalRoom
from signaling.session import SESSION_EXPIRED, SIGNED_OUT, Role, Session
from signaling.staffqueue import StaffQueue
from signaling.stepup import IdentityFlows, StepUp
from signaling.tokens import StaffClaims, TokenError, TokenService, revocation_id

logger = logging.getLogger(__name__)

OFFER_WAIT_SECONDS: Final = 30.0
LINKED_KINDS: Final = ("audio", "video")
LEASE: Final = timedelta(seconds=30)  # a queue entry lives this long unless renewed
PRESENCE_TTL: Final = timedelta(seconds=30)
RESUME_TOKEN_LIFETIME: Final = timedelta(hours=12)
RETRY_SECONDS: Final = 0.5
LANGUAGE_PATTERN: Final = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{1,8}){0,3}$")


@dataclass(frozen=True)
class CallSettings:
    """The call centre's tunables (from the ``[calls]`` section of the configuration)."""

    grace_seconds: float = 60.0
    invite_minutes: int = 30
    media_timeout_seconds: float = 20.0
    base_url: str = ""
    forwarding: str = "packet"
    wrapup_seconds: int = 30


@dataclass
class CallCenterCounters:
    """Counts for metrics; never anything about who called."""

    calls_answered: int = 0
    calls_ended: int = 0
    queue_joined: int = 0
    queue_abandoned: int = 0
    queue_rejected: int = 0
    media_failures: int = 0
    resumed: int = 0
    resume_refused: int = 0
    interpreters_joined: int = 0
    media_timeouts: int = 0


class CallCenter:
    """Queues and rooms for the service lines served by this node."""

    def __init__(
        self,
        lines: Mapping[str, ServiceLine],
        store: Store,
        clock: Clock,
        ice: IcePolicy,
        tokens: TokenService,
        settings: CallSettings | None = None,
        node_id: str | None = None,
        clients: ClientTracker | None = None,
    ) -> None:
        self.clients = clients if clients is not None else ClientTracker()
        self._settings = settings or CallSettings()
        self._lines = dict(lines)
        self._store = store
        self._clock = clock
        self._ice = ice
        self._tokens = tokens
        self.node_id = node_id or secrets.token_hex(4)
        self._switchboard = Switchboard(store, clock, self.node_id, LEASE)
        self._resume = ResumeTokens(store.resume, clock, RESUME_TOKEN_LIFETIME)
        self._numbers = itertools.count(1)
        self._watchers: dict[str, set[Session]] = {line_id: set() for line_id in self._lines}
        self._staff: set[Session] = set()
        self._participants: dict[str, LocalParticipant] = {}
        self._rooms: dict[str, LocalRoom] = {}
        self._last_status: dict[str, LineStatus] = {}
        self._last_staff_queue: dict[str, StaffQueue] = {}
        self._waiting_key = secrets.token_bytes(16)  # waiting ids for staff, per node
        self._tasks: set[asyncio.Task[Any]] = set()
        self.counters = CallCenterCounters()
        self.draining = False  # set when the node drains: no new queue places
        self.identity_flows: IdentityFlows | None = None  # the OpenID Connect relying party
        self.stepup = StepUp(self._switchboard, self, lambda: self.identity_flows)

    # -- what runs here ---------------------------------------------------------------------

    @property
    def lines(self) -> Mapping[str, ServiceLine]:
        return self._lines

    @property
    def grace(self) -> timedelta:
        return timedelta(seconds=self._settings.grace_seconds)

    @property
    def wrapup_seconds(self) -> int:
        return self._settings.wrapup_seconds

    @property
    def active_calls(self) -> int:
        return len(self._rooms)

    def calls(self) -> list[LocalRoom]:
        """The rooms in progress on this node."""
        return list(self._rooms.values())

    @property
    def queued(self) -> int:
        return sum(1 for p in self._participants.values() if p.queued)

    def participants(self) -> list[LocalParticipant]:
        """Participants this node serves (queued, in a call, or away within grace)."""
        return list(self._participants.values())

    # -- sessions ---------------------------------------------------------------------------

    def open_session(self, staff: StaffClaims | None) -> Session:
        """A new session for a socket: staff when signed in, otherwise anonymous.

        A staff session ends (its socket is closed) when its sign-in expires, idle or not.
        """
        role = Role.STAFF if staff is not None else Role.RESIDENT
        session = Session(role=role, number=next(self._numbers), staff=staff)
        if staff is not None:
            self._staff.add(session)
            session.presence_id = secrets.token_urlsafe(9)
            self._arm_expiry(session)
            self._spawn(self._announce(session))
        return session

    async def check_staff(self, session: Session) -> None:
        """Check again, on use, that a staff session's sign-in still holds: not expired,
        not signed out. Cheap: the clock and one look-up in the one-time token store.

        Raises :class:`StaffSessionEnded` (``unauthorized``) when it does not; sessions
        that are not staff pass (what needs staff refuses them on its own).
        """
        staff = session.staff
        if session.role is not Role.STAFF or staff is None:
            return
        if self._clock.now() >= staff.expires_at:
            raise StaffSessionEnded(SESSION_EXPIRED, "Your sign-in has expired: sign in again.")
        if await self._store.tokens.used(revocation_id(staff.token_id)):
            raise StaffSessionEnded(SIGNED_OUT, "You have signed out: sign in again.")

    def _arm_expiry(self, session: Session) -> None:
        """End the staff session when its sign-in expires, even if it sends nothing."""
        if session.staff is None or session.closed:
            return
        remaining = (session.staff.expires_at - self._clock.now()).total_seconds()
        if remaining <= 0:
            session.end(SESSION_EXPIRED)
            return
        loop = asyncio.get_running_loop()
        # Woken early (a clock that jumped), it looks again and sleeps the rest.
        session.expiry = loop.call_later(remaining, self._arm_expiry, session)

    async def close_session(self, session: Session) -> None:
        """A socket has gone: its participant keeps their place for the grace period."""
        for line_id in list(session.watching):
            self.unwatch(session, line_id)
        local = session.participant
        session.participant = None
        if local is not None:
            async with local.lock:
                if local.session is session:
                    await self._went_away(local)
        if session.expiry is not None:
            session.expiry.cancel()
            session.expiry = None
        if session in self._staff:
            self._staff.discard(session)
            if session.presence_id is not None:
                await self._store.presence.withdraw(session.presence_id)
            await self._publish_lines(self._staff_line_ids(session))
        session.close()

    async def _went_away(self, local: LocalParticipant) -> None:
        """The participant's socket has gone (the caller holds ``local.lock``)."""
        local.session = None
        self._start_grace(local, self._settings.grace_seconds)
        if local.room_id is not None:
            await self._room_op(
                local.room_id, self._switchboard.set_state, local.id, ParticipantState.RECONNECTING
            )

    def _start_grace(self, local: LocalParticipant, seconds: float) -> None:
        local.cancel_grace()
        loop = asyncio.get_running_loop()
        local.grace = loop.call_later(seconds, lambda: self._spawn(self._grace_over(local)))

    async def _grace_over(self, local: LocalParticipant) -> None:
        """The grace period ran out without a resume: the participant has left."""
        async with local.lock:
            local.grace = None
            if local.session is not None or self._participants.get(local.id) is not local:
                return
            if local.room_id is not None:
                await self._leave_room(local, EndReason.TIMEOUT)
                return
            entry = await self._switchboard.leave_queue(local.line_id, local.id, "timeout")
            if entry is None and await self._store.rooms.room_of(local.id) is not None:
                # Answered this very moment: once in the room, leave it in a moment.
                self._start_grace(local, RETRY_SECONDS)
                return
            if entry is not None:
                self.counters.queue_abandoned += 1
            await self._drop(local)
        await self._publish_line(local.line_id)

    # -- lines ------------------------------------------------------------------------------

    def line(self, line_id: str) -> ServiceLine:
        line = self._lines.get(line_id)
        if line is None:
            raise ProtocolError(ErrorCode.UNKNOWN_LINE)
        return line

    async def status(self, line_id: str) -> LineStatus:
        line = self.line(line_id)
        queue_length = await self._store.queues.length(line_id)
        return line_status(line, self._clock.now(), queue_length, await self._load(line))

    async def watch(
        self, session: Session, line_id: str
    ) -> tuple[LineStatus, dict[str, object] | None]:
        """Status events for `line_id`; on a staff socket of that line, the waiting list too."""
        status = await self.status(line_id)
        self._watchers[line_id].add(session)
        session.watching.add(line_id)
        if not self._staffs_line(session, line_id):
            return status, None
        return status, (await self._staff_queue(line_id)).to_json(self._clock.now())

    def unwatch(self, session: Session, line_id: str) -> None:
        self.line(line_id)
        self._watchers[line_id].discard(session)
        session.watching.discard(line_id)

    # -- queue ------------------------------------------------------------------------------

    async def join_queue(self, session: Session, line_id: str) -> dict[str, Any]:
        """Put a resident in a line's queue; returns position, estimate and resume token."""
        if session.role is not Role.RESIDENT:
            raise ProtocolError(ErrorCode.FORBIDDEN, "Professionals cannot queue.")
        line = self.line(line_id)
        if session.participant is not None:
            raise ProtocolError(ErrorCode.INVALID_STATE, "Already queued or in a call.")
        if self.draining:
            self.counters.queue_rejected += 1
            raise ProtocolError(ErrorCode.DRAINING)
        if not line.hours.is_open(self._clock.now()):
            self.counters.queue_rejected += 1
            raise ProtocolError(ErrorCode.LINE_CLOSED)
        answerable = await self._staff_online(line_id) > 0
        if not answerable and not line.queue_when_unstaffed:
            self.counters.queue_rejected += 1
            raise ProtocolError(ErrorCode.UNSTAFFED)
        client = session.client
        if client is not None and not self.clients.take_place(client):
            self.counters.queue_rejected += 1
            raise ProtocolError(
                ErrorCode.RATE_LIMITED, "Too many queue places from this connection."
            )
        try:
            ticket, position = await self._switchboard.join_queue(line_id, line.max_queue)
        except (QueueFullError, AlreadyQueuedError) as exc:
            if client is not None:
                self.clients.release_place(client)
            self.counters.queue_rejected += 1
            if isinstance(exc, QueueFullError):
                raise ProtocolError(ErrorCode.QUEUE_FULL) from None
            raise ProtocolError(ErrorCode.INVALID_STATE) from None  # a fresh ticket collided
        self.counters.queue_joined += 1
        local = LocalParticipant(ticket, ParticipantRole.RESIDENT, line_id, session=session)
        local.place_of = client
        self._participants[ticket] = local
        session.participant = local
        estimate = await self._estimate(line, position)
        local.last_position, local.last_estimate = position, estimate
        local.last_answerable = answerable
        self._new_peer(local)
        token = await self._resume.issue(ResumeGrant(ticket, local.role, line_id))
        await self._publish_line(line_id)
        return {
            "line": line_id,
            "position": position,
            "estimatedWaitSeconds": estimate,
            "participantId": ticket,
            "resumeToken": token,
            "answerable": answerable,
            "warning": None if answerable else "unstaffed",
        }

    async def leave_queue(self, session: Session) -> None:
        local = session.participant
        if local is None or not local.queued:
            raise ProtocolError(ErrorCode.INVALID_STATE, "Not in a queue.")
        async with local.lock:
            entry = await self._switchboard.leave_queue(local.line_id, local.id, "left")
            if entry is None and await self._store.rooms.room_of(local.id) is not None:
                raise ProtocolError(ErrorCode.INVALID_STATE, "Just answered: hang up instead.")
            if entry is not None:
                self.counters.queue_abandoned += 1
            await self._drop(local)
        await self._publish_line(local.line_id)

    # -- rooms ------------------------------------------------------------------------------

    async def answer_next(self, session: Session, line_id: str) -> dict[str, Any]:
        """Connect a professional with the first caller in a line's queue."""
        staff = self._require_staff(session)
        self.line(line_id)
        if line_id not in staff.lines:
            raise ProtocolError(ErrorCode.FORBIDDEN, "This line is not assigned to you.")
        if session.participant is not None:
            raise ProtocolError(ErrorCode.INVALID_STATE, "Already in a call.")
        if not session.available:
            raise ProtocolError(ErrorCode.INVALID_STATE, "Set yourself available to answer.")
        while True:
            professional = Participant(
                new_participant_id(), ParticipantRole.PROFESSIONAL, staff_ref=_staff_ref(staff)
            )
            answered = await self._switchboard.answer_next(line_id, professional)
            if answered is None:
                await self._publish_line(line_id)
                raise ProtocolError(ErrorCode.QUEUE_EMPTY)
            resident = self._participants.get(answered.entry.ticket)
            if resident is not None:
                await resident.lock.acquire()
                if self._participants.get(resident.id) is resident:
                    break
                resident.lock.release()
            # Queued through a connection this node no longer holds: nobody to talk to.
            await self._switchboard.discard(answered.room.id, answered.entry)
        try:
            return await self._open_room(session, answered.room, resident, professional)
        finally:
            resident.lock.release()

    async def _open_room(
        self,
        session: Session,
        room: Room,
        resident: LocalParticipant,
        professional: Participant,
    ) -> dict[str, Any]:
        """Bring a just-answered room to life on this node (the resident's lock is held)."""
        line_id = room.line_id
        local_room = LocalRoom(room.id, line_id)
        self._rooms[room.id] = local_room
        resident.room_id = room.id
        self._release_place(resident)
        local_room.members[resident.id] = resident
        me = self._add_local(session, professional, line_id, room.id)
        self.counters.calls_answered += 1
        if resident.session is None:
            await self._room_op(
                room.id, self._switchboard.set_state, resident.id, ParticipantState.RECONNECTING
            )
        if resident.peer is None:
            self._new_peer(resident)
        self._link(local_room)
        token = await self._resume.issue(
            ResumeGrant(me.id, me.role, line_id, staff_ref=professional.staff_ref)
        )
        current = await self._switchboard.get(room.id) or room
        snapshot = [p.public() for p in current.present()]
        for member, role in ((resident, Role.RESIDENT), (me, Role.STAFF)):
            member.send_event(
                "call.connected",
                callId=room.id,
                line=line_id,
                role=role.value,
                participantId=member.id,
                participants=snapshot,
            )
        self._watch_media(me)
        self._watch_media(resident)
        await self._publish_line(line_id)
        return {
            "callId": room.id,
            "line": line_id,
            "participantId": me.id,
            "resumeToken": token,
            "participants": snapshot,
        }

    async def hangup(self, session: Session) -> None:
        local = session.participant
        if local is None or local.room_id is None:
            raise ProtocolError(ErrorCode.INVALID_STATE, "Not in a call.")
        async with local.lock:
            if session.participant is not local or local.room_id is None:
                raise ProtocolError(ErrorCode.INVALID_STATE, "Not in a call.")
            await self._room_op(
                local.room_id, self._switchboard.hangup, local.id, leaver=(local, "hangup")
            )

    async def remove_participant(self, session: Session, participant_id: str) -> None:
        """The professional takes an interpreter out of the call."""
        me = self._require_in_call(session, ParticipantRole.PROFESSIONAL)
        assert me.room_id is not None
        room = await self._switchboard.get(me.room_id)
        target = room.participant(participant_id) if room is not None else None
        if room is None or target is None or not target.present:
            raise ProtocolError(ErrorCode.UNKNOWN_PARTICIPANT)
        if target.role is not ParticipantRole.INTERPRETER:
            raise ProtocolError(ErrorCode.FORBIDDEN, "Only an interpreter can be removed.")
        local = self._participants.get(participant_id)
        if local is None:
            await self._room_op(room.id, self._switchboard.leave, participant_id)
            return
        async with local.lock:
            if self._participants.get(participant_id) is not local:
                return  # left meanwhile
            local.send_event("call.ended", callId=room.id, reason="removed", by="professional")
            await self._room_op(
                room.id, self._switchboard.leave, participant_id, leaver=(local, "removed")
            )

    async def _leave_room(self, local: LocalParticipant, reason: EndReason) -> None:
        """A participant leaves (grace over, media failed) without hanging up.

        The caller holds ``local.lock``.
        """
        room_id = local.room_id
        if room_id is None:
            return
        await self._room_op(
            room_id, self._switchboard.leave, local.id, reason, leaver=(local, reason.value)
        )

    def _announce_left(self, room: Room, participant_id: str, reason: str) -> None:
        left = room.participant(participant_id)
        local_room = self._rooms.get(room.id)
        if left is None or local_room is None:
            return
        for member in local_room.participants():
            if member.id != participant_id:
                member.send_event(
                    "participant.left",
                    callId=room.id,
                    participant=left.public(),
                    reason=reason,
                    by=_by(left.role, reason),
                )

    async def _room_op(
        self,
        room_id: str,
        op: Any,
        *args: Any,
        leaver: tuple[LocalParticipant, str] | None = None,
    ) -> RoomChange | None:
        """Run one switchboard operation on a room and tell its participants what changed.

        ``leaver``: the local participant the operation takes out of the room and why; the
        others hear ``participant.left``, the leaver is released (and gets no ``call.ended``).
        None when the room or the participant had already gone.
        """
        try:
            change: RoomChange = await op(room_id, *args)
        except RoomEndedError:
            by = leaver[0].role.value if leaver is not None else None
            if leaver is not None:
                await self._drop(leaver[0])
            await self._room_ended_locally(room_id, EndReason.PEER_LEFT, by)
            return None
        except (InvalidTransitionError, KeyError):
            # The participant left meanwhile (e.g. the grace period ran out first).
            if leaver is not None:
                await self._drop(leaver[0])
            return None
        if leaver is not None:
            local, reason = leaver
            self._announce_left(change.room, local.id, reason)
            await self._drop(local)
        if change.ended:
            by = _by(leaver[0].role, leaver[1]) if leaver is not None else None
            await self._room_ended_locally(room_id, change.room.end_reason or EndReason.HANGUP, by)
            return change
        self._announce_changes(change.room, change.changes)
        return change

    def _announce_changes(self, room: Room, changes: list[StateChange]) -> None:
        local_room = self._rooms.get(room.id)
        if local_room is None:
            return
        for change in changes:
            participant = room.participant(change.participant_id)
            if participant is None or change.new is ParticipantState.LEFT:
                continue
            for member in local_room.participants():
                if member.id != change.participant_id:
                    member.send_event(
                        "participant.updated", callId=room.id, participant=participant.public()
                    )

    async def _room_ended_locally(
        self, room_id: str, reason: EndReason, by: str | None = None
    ) -> None:
        """``by``: the role whose action or connection ended the room (None: the gateway)."""
        local_room = self._rooms.pop(room_id, None)
        if local_room is None:
            return
        for member in local_room.participants():
            member.send_event("call.ended", callId=room_id, reason=reason.value, by=by)
        for member in local_room.participants():
            await self._drop(member)
        self.counters.calls_ended += 1
        await self._publish_line(local_room.line_id)

    # -- interpreter ------------------------------------------------------------------------

    async def invite_interpreter(self, session: Session, language: str) -> dict[str, Any]:
        me = self._require_in_call(session, ParticipantRole.PROFESSIONAL)
        if not LANGUAGE_PATTERN.fullmatch(language):
            raise ProtocolError(ErrorCode.BAD_REQUEST, "`language` must be a language tag.")
        assert me.room_id is not None
        room = await self._switchboard.get(me.room_id)
        if room is None:
            raise ProtocolError(ErrorCode.UNKNOWN_CALL)
        if room.present_with_role(ParticipantRole.INTERPRETER):
            raise ProtocolError(ErrorCode.INVALID_STATE, "An interpreter is already in the call.")
        ttl = timedelta(minutes=self._settings.invite_minutes)
        token, expires = self._tokens.issue_invite(room.id, language, self._clock.now(), ttl)
        return {
            "url": f"{self._settings.base_url}/join#token={token}",
            "language": language,
            "expiresAt": expires.isoformat(),
        }

    async def check_invite(self, token: str) -> dict[str, Any]:
        claims = self._verify_invite(token)
        if await self._store.tokens.used(claims.token_id):
            raise ProtocolError(ErrorCode.INVALID_TOKEN, "This link has been used.")
        room = await self._switchboard.get(claims.room_id)
        if room is None or not room.open:
            raise ProtocolError(ErrorCode.UNKNOWN_CALL)
        return {
            "language": claims.language,
            "line": room.line_id,
            "expiresAt": claims.expires_at.isoformat(),
        }

    async def join_as_interpreter(self, session: Session, token: str) -> dict[str, Any]:
        if session.role is not Role.RESIDENT:
            raise ProtocolError(
                ErrorCode.FORBIDDEN, "Open the link in a browser without staff sign-in."
            )
        if session.participant is not None:
            raise ProtocolError(ErrorCode.INVALID_STATE, "Already queued or in a call.")
        claims = self._verify_invite(token)
        interpreter = Participant(
            new_participant_id(), ParticipantRole.INTERPRETER, language=claims.language
        )
        conflict: list[ErrorCode] = []

        async def apply(room: Room) -> list[StateChange]:
            if room.present_with_role(ParticipantRole.INTERPRETER):
                conflict.append(ErrorCode.INVALID_STATE)
                return []
            if not await self._store.tokens.consume(claims.token_id, claims.expires_at):
                conflict.append(ErrorCode.INVALID_TOKEN)
                return []
            room.add(interpreter)
            return []

        try:
            change = await self._switchboard.change(claims.room_id, apply)
        except RoomEndedError:
            raise ProtocolError(ErrorCode.UNKNOWN_CALL) from None
        if conflict:
            message = (
                "An interpreter is already in the call."
                if conflict[0] is ErrorCode.INVALID_STATE
                else "This link has been used."
            )
            raise ProtocolError(conflict[0], message)
        local_room = self._rooms.get(claims.room_id)
        if local_room is None:  # the room runs on another node (several nodes: routed later)
            await self._switchboard.leave(claims.room_id, interpreter.id)
            raise ProtocolError(ErrorCode.UNKNOWN_CALL)
        room = change.room
        me = self._add_local(session, interpreter, room.line_id, room.id)
        self.counters.interpreters_joined += 1
        for member in local_room.participants():
            if member is not me:
                member.send_event(
                    "participant.joined", callId=room.id, participant=interpreter.public()
                )
        self._link(local_room)
        self._watch_media(me)
        token_next = await self._resume.issue(ResumeGrant(me.id, me.role, room.line_id))
        return {
            "callId": room.id,
            "line": room.line_id,
            "language": claims.language,
            "participantId": me.id,
            "resumeToken": token_next,
            "participants": [p.public() for p in room.present()],
        }

    def _verify_invite(self, token: str) -> Any:
        try:
            return self._tokens.verify_invite(token, self._clock.now())
        except TokenError:
            raise ProtocolError(ErrorCode.INVALID_TOKEN) from None

    # -- resume and rejoin ------------------------------------------------------------------

    async def resume(self, session: Session, token: str, keep_media: bool) -> dict[str, Any]:
        """A new socket takes back a participant's queue place or call."""
        if session.participant is not None:
            raise ProtocolError(ErrorCode.INVALID_STATE, "This socket already has a place.")
        staff_ref = _staff_ref(session.staff) if session.staff is not None else None
        try:
            grant = await self._resume.redeem(token, staff_ref)
        except InvalidTokenError:
            self.counters.resume_refused += 1
            raise ProtocolError(ErrorCode.INVALID_TOKEN) from None
        local = self._participants.get(grant.participant_id)
        if local is None:
            self.counters.resume_refused += 1
            raise ProtocolError(ErrorCode.UNKNOWN_CALL)
        async with local.lock:
            if self._participants.get(local.id) is not local or session.closed:
                raise ProtocolError(ErrorCode.UNKNOWN_CALL)
            result = await self._take_over(session, local, keep_media)
            result["resumeToken"] = await self._resume.issue(grant)
        self.counters.resumed += 1
        return result

    async def rejoinable(self, session: Session) -> list[dict[str, Any]]:
        """Open calls this professional took part in (for the console's Rejoin)."""
        if session.staff is None:
            return []
        ref = _staff_ref(session.staff)
        calls = []
        for room in await self._store.rooms.all():
            if room.open and any(p.staff_ref == ref for p in room.participants.values()):
                calls.append({"callId": room.id, "line": room.line_id})
        return calls

    async def rejoin(self, session: Session, room_id: str) -> dict[str, Any]:
        """A professional comes back into a call they were in, from any of their consoles."""
        staff = self._require_staff(session)
        if session.participant is not None:
            raise ProtocolError(ErrorCode.INVALID_STATE, "Already in a call.")
        ref = _staff_ref(staff)
        room = await self._switchboard.get(room_id)
        if room is None or room_id not in self._rooms:
            raise ProtocolError(ErrorCode.UNKNOWN_CALL)
        mine = [p for p in room.participants.values() if p.staff_ref == ref]
        if not mine:
            raise ProtocolError(ErrorCode.FORBIDDEN, "Not a call of yours.")
        present = [p for p in mine if p.present and p.id in self._participants]
        if present:
            local = self._participants[present[0].id]
            async with local.lock:
                if self._participants.get(local.id) is not local:
                    raise ProtocolError(ErrorCode.UNKNOWN_CALL)
                result = await self._take_over(session, local, keep_media=False)
        else:
            professional = Participant(
                new_participant_id(), ParticipantRole.PROFESSIONAL, staff_ref=ref
            )
            try:
                change = await self._switchboard.join(room_id, professional)
            except RoomEndedError:
                raise ProtocolError(ErrorCode.UNKNOWN_CALL) from None
            local_room = self._rooms.get(room_id)
            if local_room is None:
                raise ProtocolError(ErrorCode.UNKNOWN_CALL)
            local = self._add_local(session, professional, room.line_id, room_id)
            for member in local_room.participants():
                if member is not local:
                    member.send_event(
                        "participant.joined", callId=room_id, participant=professional.public()
                    )
            self._link(local_room)
            self._watch_media(local)
            result = self._call_result(change.room, local)
        result["resumeToken"] = await self._resume.issue(
            ResumeGrant(local.id, local.role, local.line_id, staff_ref=ref)
        )
        return result

    async def _take_over(
        self, session: Session, local: LocalParticipant, keep_media: bool
    ) -> dict[str, Any]:
        """Attach ``local`` to ``session`` (the caller holds ``local.lock``).

        The place is checked in the store first; an old socket that still carries the
        participant is closed as replaced.
        """
        room: Room | None = None
        if local.queued:
            if not await self._switchboard.renew(local.line_id, local.id):
                await self._drop(local)
                raise ProtocolError(ErrorCode.UNKNOWN_CALL)
        else:
            assert local.room_id is not None
            change = await self._room_op(
                local.room_id, self._switchboard.set_state, local.id, ParticipantState.CONNECTED
            )
            if change is None or change.ended or self._participants.get(local.id) is not local:
                raise ProtocolError(ErrorCode.UNKNOWN_CALL)
            room = change.room
        old = local.session
        if old is not None and old is not session:
            old.participant = None
            old.send_event("session.replaced")
            old.replace()
        local.cancel_grace()
        local.session = session
        session.participant = local
        peer_ok = local.peer is not None and not local.peer.closed
        if not (keep_media and peer_ok):
            self._new_peer(local)
        if local.queued:
            line = self._lines[local.line_id]
            position = await self._store.queues.position(local.line_id, local.id) or 1
            estimate = await self._estimate(line, position)
            answerable = await self._answerable(line)
            local.last_position, local.last_estimate = position, estimate
            local.last_answerable = answerable
            return {
                "participantId": local.id,
                "role": local.role.value,
                "phase": "queued",
                "line": local.line_id,
                "position": position,
                "estimatedWaitSeconds": estimate,
                "answerable": answerable,
            }
        local_room = self._rooms.get(local.room_id or "")
        if local_room is not None:
            self._link(local_room)
        if keep_media and peer_ok:
            self._spawn(self._resend_offer(local))
        else:
            self._watch_media(local)
        assert room is not None
        return self._call_result(room, local)

    def _call_result(self, room: Room, local: LocalParticipant) -> dict[str, Any]:
        role = Role.STAFF.value if local.role is ParticipantRole.PROFESSIONAL else local.role.value
        return {
            "participantId": local.id,
            "role": role,
            "phase": "call",
            "callId": room.id,
            "line": room.line_id,
            "participants": [p.public() for p in room.present()],
        }

    # -- media ------------------------------------------------------------------------------

    def _new_peer(self, local: LocalParticipant) -> MediaPeer:
        """A fresh peer connection for a participant (closing and unlinking the old one)."""
        old = local.peer
        label = local.session.label if local.session is not None else local.role.value
        local_room = self._rooms.get(local.room_id or "")
        video = local_room is not None and local_room.video
        peer = MediaPeer(self._ice, label, allow_video=video, forwarding=self._settings.forwarding)
        peer.on_failed = lambda: self._spawn(self._media_failed(local, peer))
        local.peer = peer
        if old is not None:
            if self._settings.forwarding == "packet":
                self._move_links(old, peer)
            self._unlink(old)
            self._spawn(old.close())
        return peer

    def _move_links(self, old: MediaPeer, new: MediaPeer) -> None:
        """The others keep receiving on the streams they have: only the source changes.

        Nobody else renegotiates; the streams continue their sequence numbers.
        """
        for local_room in self._rooms.values():
            for key, link in list(local_room.links.items()):
                if link.source is old and isinstance(link.handle, OutboundStream):
                    del local_room.links[key]
                    new.forward(link.kind, link.handle)
                    local_room.links[(id(new), id(link.destination), link.kind)] = Link(
                        new, link.destination, link.handle, link.kind
                    )

    def _link(self, local_room: LocalRoom) -> None:
        """Send every participant's audio and video to every other one (once per pair).

        Video streams wait behind the media gate (closed unless the resident consents),
        so they are neither offered nor forwarded until it opens.
        """
        peers = [(m, m.peer) for m in local_room.participants() if m.peer is not None]
        offered: list[LocalParticipant] = []
        # The relay baseline (benchmarks only) carries audio alone.
        kinds = LINKED_KINDS if self._settings.forwarding == "packet" else ("audio",)
        for _, source in peers:
            for member, destination in peers:
                if source is destination or source.closed or destination.closed:
                    continue
                for kind in kinds:
                    key = (id(source), id(destination), kind)
                    if key in local_room.links:
                        continue
                    handle = source.send_to(destination, kind)
                    local_room.links[key] = Link(source, destination, handle, kind)
                    if member not in offered:
                        offered.append(member)
        for member in offered:
            self._spawn(self._offer_if_needed(member))

    def _unlink(self, peer: MediaPeer) -> None:
        """Forget every link from or to ``peer``; streams it fed stop on the other side."""
        for local_room in self._rooms.values():
            for key, link in list(local_room.links.items()):
                if link.source is peer:
                    link.destination.stop_outbound(link.handle)
                    del local_room.links[key]
                elif link.destination is peer:
                    link.source.unforward(link.handle)
                    del local_room.links[key]

    def _watch_media(self, local: LocalParticipant) -> None:
        """A joining participant counts as connected once their media is up."""
        peer = local.peer
        if peer is None:
            return

        async def wait() -> None:
            if not await peer.wait_connected(self._settings.media_timeout_seconds):
                await self._media_timed_out(local, peer)
                return
            if local.room_id is None or local.peer is not peer or local.session is None:
                return
            room = await self._switchboard.get(local.room_id)
            participant = room.participant(local.id) if room is not None else None
            if participant is not None and participant.state is ParticipantState.JOINING:
                await self._room_op(
                    local.room_id,
                    self._switchboard.set_state,
                    local.id,
                    ParticipantState.CONNECTED,
                )

        self._spawn(wait())

    async def _media_timed_out(self, local: LocalParticipant, peer: MediaPeer) -> None:
        """No media came up in time (e.g. a microphone prompt nobody answered): the
        participant leaves, with a reason everyone sees, instead of holding the call."""
        async with local.lock:
            if (
                local.peer is not peer
                or peer.closed
                or local.session is None  # away: the grace period decides
                or local.room_id is None
                or self._participants.get(local.id) is not local
            ):
                return
            self.counters.media_timeouts += 1
            local.send_event(
                "call.ended", callId=local.room_id, reason="media_timeout", by=local.role.value
            )
            await self._leave_room(local, EndReason.MEDIA_TIMEOUT)

    async def _media_failed(self, local: LocalParticipant, peer: MediaPeer) -> None:
        """A participant's media failed: a present participant leaves; one away keeps the
        place and gets a new peer connection on resume."""
        async with local.lock:
            if local.peer is not peer:
                return
            self.counters.media_failures += 1
            self._unlink(peer)
            local.peer = None
            await peer.close()
            if local.session is None or self._participants.get(local.id) is not local:
                return  # away: the resume brings a new peer connection
            if local.queued:
                await self._switchboard.leave_queue(local.line_id, local.id, "media_failed")
                self.counters.queue_abandoned += 1
                local.send_event("queue.ended", line=local.line_id, reason="media_failed")
                await self._drop(local)
            else:
                local.send_event(
                    "call.ended", callId=local.room_id, reason="media_failed", by=local.role.value
                )
                await self._leave_room(local, EndReason.MEDIA_FAILED)
                return
        await self._publish_line(local.line_id)

    def _release_place(self, local: LocalParticipant) -> None:
        if local.place_of is not None:
            self.clients.release_place(local.place_of)
            local.place_of = None

    async def _drop(self, local: LocalParticipant) -> None:
        """Release everything this node holds for a participant who has left."""
        local.cancel_grace()
        self._release_place(local)
        if self._participants.get(local.id) is local:
            del self._participants[local.id]
        if local.session is not None and local.session.participant is local:
            local.session.participant = None
        room = self._rooms.get(local.room_id) if local.room_id is not None else None
        if room is not None:
            room.members.pop(local.id, None)
        peer, local.peer = local.peer, None
        if peer is not None:
            self._unlink(peer)
            await peer.close()
        await self._resume.revoke(local.id)

    def _add_local(
        self, session: Session, participant: Participant, line_id: str, room_id: str
    ) -> LocalParticipant:
        local = LocalParticipant(
            participant.id,
            participant.role,
            line_id,
            room_id=room_id,
            language=participant.language,
            staff_ref=participant.staff_ref,
            session=session,
        )
        self._participants[local.id] = local
        self._rooms[room_id].members[local.id] = local
        session.participant = local
        self._new_peer(local)
        return local

    # -- negotiation ------------------------------------------------------------------------

    async def offer(self, session: Session, sdp: str) -> str:
        """Apply a client's offer; returns the gateway's answer."""
        _negotiation_allowed(session)
        local = session.participant
        peer = local.peer if local is not None else None
        if local is None or peer is None:
            raise ProtocolError(ErrorCode.INVALID_STATE, "Join a queue or a call first.")
        try:
            answer = await peer.accept_offer(sdp)
        except GlareError as exc:
            raise ProtocolError(ErrorCode.GLARE) from exc
        except NegotiationError as exc:
            raise ProtocolError(ErrorCode.INVALID_SDP, _sdp_message(exc)) from exc
        self._spawn(self._offer_if_needed(local))
        return answer

    async def answer(self, session: Session, sdp: str) -> None:
        """Apply a client's answer to the gateway's offer."""
        _negotiation_allowed(session)
        local = session.participant
        peer = local.peer if local is not None else None
        if local is None or peer is None:
            raise ProtocolError(ErrorCode.INVALID_STATE, "No media session.")
        try:
            await peer.accept_answer(sdp)
        except NoPendingOfferError as exc:
            raise ProtocolError(ErrorCode.INVALID_STATE, str(exc)) from exc
        except NegotiationError as exc:
            raise ProtocolError(ErrorCode.INVALID_SDP, _sdp_message(exc)) from exc
        self._spawn(self._offer_if_needed(local))

    async def _offer_if_needed(self, local: LocalParticipant) -> None:
        peer = local.peer
        if peer is None or not peer.needs_offer:
            return
        if not await peer.wait_connected(OFFER_WAIT_SECONDS):
            return  # never connected: the failure handler takes over
        sdp = await peer.create_offer()
        if sdp is not None and local.peer is peer:
            local.send_event("offer", sdp=sdp)

    async def _resend_offer(self, local: LocalParticipant) -> None:
        """After a resume that kept media: repeat an offer the client may have missed."""
        peer = local.peer
        if peer is None:
            return
        pending = peer.pending_offer()
        if pending is not None:
            local.send_event("offer", sdp=pending)
        else:
            await self._offer_if_needed(local)

    # -- publishing -------------------------------------------------------------------------

    async def _load(self, line: ServiceLine) -> LineLoad:
        return await line_load(self._store, line, self._clock.now(), self._settings.wrapup_seconds)

    async def _estimate(self, line: ServiceLine, position: int) -> int:
        return estimate_wait_seconds(position, await self._load(line))

    async def _answerable(self, line: ServiceLine) -> bool:
        return line.hours.is_open(self._clock.now()) and await self._staff_online(line.id) > 0

    async def _staff_queue(self, line_id: str) -> StaffQueue:
        entries = await self._store.queues.entries(line_id)
        counts = await self._store.presence.counts(line_id, self._clock.now())
        return StaffQueue.build(line_id, entries, counts, self._waiting_key)

    @staticmethod
    def _staffs_line(session: Session, line_id: str) -> bool:
        return session.staff is not None and line_id in session.staff.lines

    async def _publish_lines(self, line_ids: list[str]) -> None:
        for line_id in line_ids:
            await self._publish_line(line_id)

    async def _publish_line(self, line_id: str) -> None:
        """Tell queued callers their place and watchers the line's status, if changed."""
        line = self._lines[line_id]
        now = self._clock.now()
        tickets = await self._store.queues.tickets(line_id)
        load = await self._load(line)
        answerable = line.hours.is_open(now) and load.staff_available > 0
        for index, ticket in enumerate(tickets, start=1):
            local = self._participants.get(ticket)
            if local is None or not local.queued:
                continue
            estimate = estimate_wait_seconds(index, load)
            seen = (local.last_position, local.last_estimate, local.last_answerable)
            if seen != (index, estimate, answerable):
                local.last_position, local.last_estimate = index, estimate
                local.last_answerable = answerable
                local.send_event(
                    "queue.update",
                    line=line_id,
                    position=index,
                    estimatedWaitSeconds=estimate,
                    answerable=answerable,
                )
        status = line_status(line, now, len(tickets), load)
        if self._last_status.get(line_id) != status:
            self._last_status[line_id] = status
            message = status.to_json()
            for watcher in list(self._watchers[line_id]):
                watcher.send_event("line.status", line=line_id, status=message)
        queue = await self._staff_queue(line_id)
        if self._last_staff_queue.get(line_id) != queue:
            self._last_staff_queue[line_id] = queue
            staff_message = queue.to_json(now)
            for watcher in list(self._watchers[line_id]):
                if self._staffs_line(watcher, line_id):
                    watcher.send_event("staff.queue", **staff_message)

    async def refresh(self) -> None:
        """Re-publish every line (opening hours change with time, not with events)."""
        for line_id in self._lines:
            await self._publish_line(line_id)

    async def maintain(self) -> None:
        """Renew this node's leases and presence; sweep queue entries nobody renews."""
        for local in list(self._participants.values()):
            if local.queued:
                await self._switchboard.renew(local.line_id, local.id)
        for session in list(self._staff):
            await self._announce(session, publish=False)
        for line_id in self._lines:
            if await self._switchboard.sweep(line_id):
                await self._publish_line(line_id)

    async def set_available(self, session: Session, available: bool) -> None:
        """A console goes Available or Away; its lines are re-published."""
        self._require_staff(session)
        if session.available == available:
            return
        session.available = available
        await self._announce(session)

    async def _announce(self, session: Session, publish: bool = True) -> None:
        if session.staff is None or session.presence_id is None or session.closed:
            return
        lines = self._staff_line_ids(session)
        expires = self._clock.now() + PRESENCE_TTL
        await self._store.presence.announce(
            session.presence_id, tuple(lines), expires, session.available
        )
        if publish:
            await self._publish_lines(lines)

    async def _staff_online(self, line_id: str) -> int:
        return await self._store.presence.count(line_id, self._clock.now())

    def _staff_line_ids(self, session: Session) -> list[str]:
        if session.staff is None:
            return []
        return [line_id for line_id in session.staff.lines if line_id in self._lines]

    def _require_staff(self, session: Session) -> StaffClaims:
        if session.role is not Role.STAFF or session.staff is None:
            raise ProtocolError(ErrorCode.UNAUTHORIZED)
        return session.staff

    def in_call(self, session: Session, role: ParticipantRole | None = None) -> LocalParticipant:
        """The session's participant in a call (of `role`, when given)."""
        if role is None:
            local = session.participant
            if local is None or local.room_id is None:
                raise ProtocolError(ErrorCode.INVALID_STATE, "Not in a call.")
            return local
        return self._require_in_call(session, role)

    def members(self, room_id: str) -> list[LocalParticipant]:
        """The participants of a room served by this node."""
        local_room = self._rooms.get(room_id)
        return [] if local_room is None else local_room.participants()

    def set_video(self, room_id: str, on: bool) -> None:
        """Open or close the media gate for video in a room (every peer of it)."""
        local_room = self._rooms.get(room_id)
        if local_room is None:
            return
        local_room.video = on
        members = [m for m in local_room.participants() if m.peer is not None]
        for member in members:
            if member.peer is not None and not member.peer.closed:
                member.peer.set_video_allowed(on)
        self._link(local_room)
        for member in members:
            self._spawn(self._offer_if_needed(member))  # video sections on, or inactive

    def _require_in_call(self, session: Session, role: ParticipantRole) -> LocalParticipant:
        if role is ParticipantRole.PROFESSIONAL:
            self._require_staff(session)
        local = session.participant
        if local is None or local.room_id is None:
            raise ProtocolError(ErrorCode.INVALID_STATE, "Not in a call.")
        if local.role is not role:
            raise ProtocolError(ErrorCode.FORBIDDEN)
        return local

    # -- lifecycle --------------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("call centre task failed", exc_info=task.exception())

    async def shutdown(self) -> None:
        """End every call and queue place on this node and release all media."""
        for room_id in list(self._rooms):
            await self._switchboard.end(room_id, EndReason.SHUTDOWN)
            await self._room_ended_locally(room_id, EndReason.SHUTDOWN)
        for local in list(self._participants.values()):
            if local.queued:
                await self._switchboard.leave_queue(local.line_id, local.id, "shutdown")
                local.send_event("queue.ended", line=local.line_id, reason="shutdown")
            await self._drop(local)
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


def _negotiation_allowed(session: Session) -> None:
    """Offers cost real work: bounded per socket and per client (all its sockets)."""
    client_ok = session.client is None or session.client.offers.allow()
    if not (session.negotiations.allow() and client_ok):
        raise ProtocolError(ErrorCode.RATE_LIMITED, "Too many offers; wait a moment.")


def _by(role: ParticipantRole, reason: str) -> str:
    """Whose action or connection a leave was: the leaver's, the professional's for removed."""
    return ParticipantRole.PROFESSIONAL.value if reason == "removed" else role.value


def _staff_ref(staff: StaffClaims) -> str:
    """An opaque reference to one staff sign-in (its session token's id), never a name."""
    return hashlib.sha256(("staff:" + staff.token_id).encode()).hexdigest()[:32]


def _sdp_message(exc: Exception) -> str:
    """A short reason without echoing the client's SDP back."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"The session description could not be used: {text[:120]}"
