"""The call centre of one node: service-line queues, calls, and their media.

Turns protocol requests into changes on ``rooms`` (queues, records) and ``media`` (peer
connections, forwarding). Everything a resident leaves behind is a :class:`CallRecord` with
the line and the times; nothing that identifies them.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from media.ice import IcePolicy
from media.peer import GlareError, MediaPeer, NegotiationError, NoPendingOfferError
from rooms.calls import CallOutcome, CallRecord
from rooms.clock import Clock
from rooms.errors import AlreadyQueuedError, QueueFullError
from rooms.estimate import estimate_wait_seconds
from rooms.lines import ServiceLine
from rooms.status import LineStatus, line_status
from rooms.store import Store
from signaling.errors import ErrorCode, ProtocolError
from signaling.session import QueuePlace, Role, Session
from signaling.tokens import StaffClaims

logger = logging.getLogger(__name__)

OFFER_WAIT_SECONDS = 30.0


@dataclass(eq=False)
class ActiveCall:
    """A call in progress on this node between a resident and a professional."""

    call_id: str
    line_id: str
    queued_at: datetime
    answered_at: datetime
    resident: Session
    staff: Session

    def participants(self) -> tuple[Session, Session]:
        return (self.resident, self.staff)

    def other(self, session: Session) -> Session:
        return self.staff if session is self.resident else self.resident


@dataclass
class CallCenterCounters:
    """Counts for metrics; never anything about who called."""

    calls_answered: int = 0
    calls_ended: int = 0
    queue_joined: int = 0
    queue_abandoned: int = 0
    queue_rejected: int = 0
    media_failures: int = 0


class CallCenter:
    """Queues and calls for the service lines served by this node."""

    def __init__(
        self,
        lines: Mapping[str, ServiceLine],
        store: Store,
        clock: Clock,
        ice: IcePolicy,
        forwarding: str = "packet",
    ) -> None:
        self._forwarding = forwarding
        self._lines = dict(lines)
        self._store = store
        self._clock = clock
        self._ice = ice
        self._numbers = itertools.count(1)
        self._tickets: dict[str, Session] = {}
        self._queued_at: dict[str, datetime] = {}
        self._watchers: dict[str, set[Session]] = {line_id: set() for line_id in self._lines}
        self._staff: set[Session] = set()
        self._calls: dict[str, ActiveCall] = {}
        self._last_status: dict[str, LineStatus] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.counters = CallCenterCounters()
        self.draining = False  # set when the node drains: no new queue places

    # -- sessions ---------------------------------------------------------------------------

    @property
    def lines(self) -> Mapping[str, ServiceLine]:
        return self._lines

    @property
    def active_calls(self) -> int:
        return len(self._calls)

    def calls(self) -> list[ActiveCall]:
        """The calls in progress on this node."""
        return list(self._calls.values())

    @property
    def queued(self) -> int:
        return len(self._tickets)

    def open_session(self, staff: StaffClaims | None) -> Session:
        """A new session for a socket: staff when signed in, otherwise an anonymous resident."""
        role = Role.STAFF if staff is not None else Role.RESIDENT
        session = Session(role=role, number=next(self._numbers), staff=staff)
        if staff is not None:
            self._staff.add(session)
            self._spawn(self._publish_lines(self._staff_line_ids(session)))
        return session

    async def close_session(self, session: Session) -> None:
        """Release everything a departing socket held."""
        for line_id in list(session.watching):
            self.unwatch(session, line_id)
        if session.call is not None:
            await self._end_call(session.call, "peer_left")
        if session.queue_place is not None:
            await self._leave_queue(session, CallOutcome.ABANDONED, "left")
        if session.peer is not None:
            await self._close_peer(session)
        if session in self._staff:
            self._staff.discard(session)
            await self._publish_lines(self._staff_line_ids(session))
        session.close()

    # -- lines ------------------------------------------------------------------------------

    def line(self, line_id: str) -> ServiceLine:
        line = self._lines.get(line_id)
        if line is None:
            raise ProtocolError(ErrorCode.UNKNOWN_LINE)
        return line

    async def status(self, line_id: str) -> LineStatus:
        line = self.line(line_id)
        queue_length = await self._store.queues.length(line_id)
        mean = await self._store.stats.mean_talk_time(line_id)
        return line_status(line, self._clock.now(), queue_length, self._staff_online(line_id), mean)

    async def watch(self, session: Session, line_id: str) -> LineStatus:
        status = await self.status(line_id)
        self._watchers[line_id].add(session)
        session.watching.add(line_id)
        return status

    def unwatch(self, session: Session, line_id: str) -> None:
        self.line(line_id)
        self._watchers[line_id].discard(session)
        session.watching.discard(line_id)

    # -- queue ------------------------------------------------------------------------------

    async def join_queue(self, session: Session, line_id: str) -> tuple[int, int]:
        """Put a resident in a line's queue; returns position and estimated wait."""
        if session.role is not Role.RESIDENT:
            raise ProtocolError(ErrorCode.FORBIDDEN, "Professionals cannot queue.")
        line = self.line(line_id)
        if session.queue_place is not None or session.call is not None:
            raise ProtocolError(ErrorCode.INVALID_STATE, "Already queued or in a call.")
        if self.draining:
            self.counters.queue_rejected += 1
            raise ProtocolError(ErrorCode.DRAINING)
        now = self._clock.now()
        if not line.hours.is_open(now):
            self.counters.queue_rejected += 1
            raise ProtocolError(ErrorCode.LINE_CLOSED)
        ticket = secrets.token_urlsafe(12)
        try:
            position = await self._store.queues.enqueue(line_id, ticket, now, line.max_queue)
        except QueueFullError:
            self.counters.queue_rejected += 1
            raise ProtocolError(ErrorCode.QUEUE_FULL) from None
        except AlreadyQueuedError:  # a fresh ticket cannot collide; treat as state error
            raise ProtocolError(ErrorCode.INVALID_STATE) from None
        self.counters.queue_joined += 1
        self._tickets[ticket] = session
        self._queued_at[ticket] = now
        estimate = await self._estimate(line, position)
        session.queue_place = QueuePlace(line_id, ticket, position, estimate)
        session.peer = MediaPeer(self._ice, session.label, forwarding=self._forwarding)
        session.peer.on_failed = lambda: self._spawn(self._media_failed(session))
        await self._publish_line(line_id)
        return position, estimate

    async def leave_queue(self, session: Session) -> None:
        if session.queue_place is None:
            raise ProtocolError(ErrorCode.INVALID_STATE, "Not in a queue.")
        await self._leave_queue(session, CallOutcome.ABANDONED, "left")
        await self._close_peer(session)

    async def _leave_queue(self, session: Session, outcome: CallOutcome, reason: str) -> None:
        place = session.queue_place
        if place is None:
            return
        session.queue_place = None
        await self._store.queues.remove(place.line_id, place.ticket)
        self._tickets.pop(place.ticket, None)
        queued_at = self._queued_at.pop(place.ticket, self._clock.now())
        self.counters.queue_abandoned += 1
        await self._store.calls.add(
            CallRecord(
                call_id=_new_call_id(),
                line_id=place.line_id,
                queued_at=queued_at,
                answered_at=None,
                ended_at=self._clock.now(),
                outcome=outcome,
                end_reason=reason,
            )
        )
        await self._publish_line(place.line_id)

    # -- calls ------------------------------------------------------------------------------

    async def answer_next(self, session: Session, line_id: str) -> ActiveCall:
        """Connect a professional with the first caller in a line's queue."""
        if session.role is not Role.STAFF or session.staff is None:
            raise ProtocolError(ErrorCode.UNAUTHORIZED)
        self.line(line_id)
        if line_id not in session.staff.lines:
            raise ProtocolError(ErrorCode.FORBIDDEN, "This line is not assigned to you.")
        if session.call is not None:
            raise ProtocolError(ErrorCode.INVALID_STATE, "Already in a call.")
        while True:
            entry = await self._store.queues.pop_next(line_id)
            if entry is None:
                raise ProtocolError(ErrorCode.QUEUE_EMPTY)
            resident = self._tickets.pop(entry.ticket, None)
            if resident is not None and not resident.closed:
                break
        now = self._clock.now()
        queued_at = self._queued_at.pop(entry.ticket, entry.enqueued_at)
        resident.queue_place = None
        call = ActiveCall(
            call_id=_new_call_id(),
            line_id=line_id,
            queued_at=queued_at,
            answered_at=now,
            resident=resident,
            staff=session,
        )
        self._calls[call.call_id] = call
        resident.call = call
        session.call = call
        if session.peer is not None:
            await self._close_peer(session)
        session.peer = MediaPeer(self._ice, session.label, forwarding=self._forwarding)
        session.peer.on_failed = lambda: self._spawn(self._media_failed(session))
        self._bridge(call)
        self.counters.calls_answered += 1
        for participant in call.participants():
            participant.send_event(
                "call.connected",
                callId=call.call_id,
                line=line_id,
                role=participant.role.value,
            )
        self._spawn(self._offer_if_needed(resident))
        await self._publish_line(line_id)
        return call

    async def hangup(self, session: Session) -> None:
        if session.call is None:
            raise ProtocolError(ErrorCode.INVALID_STATE, "Not in a call.")
        await self._end_call(session.call, "hangup")

    def _bridge(self, call: ActiveCall) -> None:
        """Wire each participant's inbound audio to the other's outbound track."""
        resident_peer, staff_peer = call.resident.peer, call.staff.peer
        assert resident_peer is not None and staff_peer is not None  # set before bridging
        resident_peer.send_to(staff_peer, "audio")
        staff_peer.send_to(resident_peer, "audio")

    async def _end_call(self, call: ActiveCall, reason: str) -> None:
        if self._calls.pop(call.call_id, None) is None:
            return
        now = self._clock.now()
        for participant in call.participants():
            participant.call = None
            participant.send_event("call.ended", callId=call.call_id, reason=reason)
        for participant in call.participants():
            await self._close_peer(participant)
        record = CallRecord(
            call_id=call.call_id,
            line_id=call.line_id,
            queued_at=call.queued_at,
            answered_at=call.answered_at,
            ended_at=now,
            outcome=CallOutcome.ANSWERED,
            end_reason=reason,
        )
        await self._store.calls.add(record)
        if record.talk_seconds is not None:
            await self._store.stats.record_talk_time(call.line_id, record.talk_seconds)
        self.counters.calls_ended += 1
        await self._publish_line(call.line_id)

    async def _media_failed(self, session: Session) -> None:
        self.counters.media_failures += 1
        if session.call is not None:
            await self._end_call(session.call, "media_failed")
        elif session.queue_place is not None:
            place = session.queue_place
            await self._leave_queue(session, CallOutcome.ABANDONED, "media_failed")
            await self._close_peer(session)
            session.send_event("queue.ended", line=place.line_id, reason="media_failed")

    async def _close_peer(self, session: Session) -> None:
        peer, session.peer = session.peer, None
        if peer is not None:
            await peer.close()

    # -- negotiation ------------------------------------------------------------------------

    async def offer(self, session: Session, sdp: str) -> str:
        """Apply a client's offer; returns the gateway's answer."""
        peer = session.peer
        if peer is None or (session.queue_place is None and session.call is None):
            raise ProtocolError(ErrorCode.INVALID_STATE, "Join a queue or a call first.")
        try:
            answer = await peer.accept_offer(sdp)
        except GlareError as exc:
            raise ProtocolError(ErrorCode.GLARE) from exc
        except NegotiationError as exc:
            raise ProtocolError(ErrorCode.INVALID_SDP, _sdp_message(exc)) from exc
        self._spawn(self._offer_if_needed(session))
        return answer

    async def answer(self, session: Session, sdp: str) -> None:
        """Apply a client's answer to the gateway's offer."""
        peer = session.peer
        if peer is None:
            raise ProtocolError(ErrorCode.INVALID_STATE, "No media session.")
        try:
            await peer.accept_answer(sdp)
        except NoPendingOfferError as exc:
            raise ProtocolError(ErrorCode.INVALID_STATE, str(exc)) from exc
        except NegotiationError as exc:
            raise ProtocolError(ErrorCode.INVALID_SDP, _sdp_message(exc)) from exc
        self._spawn(self._offer_if_needed(session))

    async def _offer_if_needed(self, session: Session) -> None:
        peer = session.peer
        if peer is None or not peer.needs_offer:
            return
        if not await peer.wait_connected(OFFER_WAIT_SECONDS):
            return  # never connected: the failure handler ends the call
        sdp = await peer.create_offer()
        if sdp is not None and session.peer is peer:
            session.send_event("offer", sdp=sdp)

    # -- publishing -------------------------------------------------------------------------

    async def _estimate(self, line: ServiceLine, position: int) -> int:
        mean = await self._store.stats.mean_talk_time(line.id)
        return estimate_wait_seconds(position, line.talk_seconds(mean), self._staff_online(line.id))

    async def _publish_lines(self, line_ids: list[str]) -> None:
        for line_id in line_ids:
            await self._publish_line(line_id)

    async def _publish_line(self, line_id: str) -> None:
        """Tell queued callers their place and watchers the line's status, if changed."""
        line = self._lines[line_id]
        tickets = await self._store.queues.tickets(line_id)
        mean = await self._store.stats.mean_talk_time(line_id)
        staff_online = self._staff_online(line_id)
        for index, ticket in enumerate(tickets, start=1):
            session = self._tickets.get(ticket)
            if session is None or session.queue_place is None:
                continue
            estimate = estimate_wait_seconds(index, line.talk_seconds(mean), staff_online)
            place = session.queue_place
            if place.last_position != index or place.last_estimate != estimate:
                place.last_position, place.last_estimate = index, estimate
                session.send_event(
                    "queue.update", line=line_id, position=index, estimatedWaitSeconds=estimate
                )
        status = line_status(line, self._clock.now(), len(tickets), staff_online, mean)
        if self._last_status.get(line_id) != status:
            self._last_status[line_id] = status
            message = status.to_json()
            for watcher in list(self._watchers[line_id]):
                watcher.send_event("line.status", line=line_id, status=message)

    async def refresh(self) -> None:
        """Re-publish every line (opening hours change with time, not with events)."""
        for line_id in self._lines:
            await self._publish_line(line_id)

    def _staff_online(self, line_id: str) -> int:
        return sum(1 for s in self._staff if s.staff is not None and line_id in s.staff.lines)

    def _staff_line_ids(self, session: Session) -> list[str]:
        if session.staff is None:
            return []
        return [line_id for line_id in session.staff.lines if line_id in self._lines]

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
        for call in list(self._calls.values()):
            await self._end_call(call, "shutdown")
        for session in list(self._tickets.values()):
            place = session.queue_place
            if place is not None:
                await self._leave_queue(session, CallOutcome.ABANDONED, "shutdown")
                session.send_event("queue.ended", line=place.line_id, reason="shutdown")
            await self._close_peer(session)
        for session in list(self._staff):
            await self._close_peer(session)
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


def _new_call_id() -> str:
    return "c-" + secrets.token_urlsafe(9)


def _sdp_message(exc: Exception) -> str:
    """A short reason without echoing the client's SDP back."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"The session description could not be used: {text[:120]}"
