"""Queue and room operations on the store, each serialised on its line or room.

Plain logic shared by every node: the node that runs a call keeps its sockets and peer
connections, the store keeps the truth, and every change to one line's queue or one room
happens under that line's or room's lock (:mod:`rooms.locks`), so that concurrent join,
answer, leave and hang-up cannot lose a caller, answer one twice or half-build a call.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TypeVar

from rooms import stepup
from rooms.calls import CallOutcome, CallRecord
from rooms.clock import Clock
from rooms.consent import ConsentEntry, VideoState
from rooms.estimate import AnswerSample
from rooms.locks import line_lock, room_lock
from rooms.participants import Participant, ParticipantRole, ParticipantState, StateChange
from rooms.queues import QueueEntry
from rooms.room import EndReason, Room, RoomEndedError
from rooms.store import Store

__all__ = [
    "Answered",
    "RoomChange",
    "Switchboard",
    "new_participant_id",
    "new_room_id",
]

T = TypeVar("T")


def new_participant_id() -> str:
    return "p-" + secrets.token_urlsafe(12)


def new_room_id() -> str:
    return "c-" + secrets.token_urlsafe(9)


@dataclass
class Answered:
    """A caller taken from the queue into a new room, and the entries that had expired."""

    room: Room
    entry: QueueEntry


@dataclass
class RoomChange:
    """What one room operation did: the room after it, state changes, whether it ended."""

    room: Room
    changes: list[StateChange] = field(default_factory=list)
    ended: bool = False


class Switchboard:
    """Queue places and rooms in the store; every method is one serialised operation."""

    def __init__(self, store: Store, clock: Clock, node_id: str, lease: timedelta) -> None:
        self._store = store
        self._clock = clock
        self.node_id = node_id
        self.lease = lease

    # -- queue ------------------------------------------------------------------------------

    async def join_queue(
        self, line_id: str, max_length: int, participant_id: str | None = None
    ) -> tuple[str, int]:
        """Queue a new caller; returns their participant id (the ticket) and position.

        Raises QueueFullError when the queue holds ``max_length`` callers.
        """
        ticket = participant_id or new_participant_id()
        now = self._clock.now()
        async with self._store.locks.hold(line_lock(line_id)):
            position = await self._store.queues.enqueue(
                line_id, ticket, now, max_length, self.node_id, now + self.lease
            )
        return ticket, position

    async def leave_queue(
        self, line_id: str, ticket: str, reason: str, outcome: CallOutcome = CallOutcome.ABANDONED
    ) -> QueueEntry | None:
        """Take a caller out of the queue (and record it); None if no longer queued."""
        async with self._store.locks.hold(line_lock(line_id)):
            entry = await self._store.queues.remove(line_id, ticket)
        if entry is not None:
            await self._record_unanswered(entry, outcome, reason)
        return entry

    async def renew(self, line_id: str, ticket: str) -> bool:
        """Extend a caller's lease (this node still holds them); False if not queued."""
        lease_expires = self._clock.now() + self.lease
        return await self._store.queues.renew(line_id, ticket, self.node_id, lease_expires)

    async def sweep(self, line_id: str) -> list[QueueEntry]:
        """Remove (and record) callers whose lease ran out: their node stopped renewing."""
        async with self._store.locks.hold(line_lock(line_id)):
            gone = await self._store.queues.take_expired(line_id, self._clock.now())
        for entry in gone:
            await self._record_unanswered(entry, CallOutcome.ABANDONED, "timeout")
        return gone

    async def answer_next(self, line_id: str, professional: Participant) -> Answered | None:
        """Take the longest-waiting caller and open a room with them and ``professional``."""
        async with self._store.locks.hold(line_lock(line_id)):
            now = self._clock.now()
            gone = await self._store.queues.take_expired(line_id, now)
            entry = await self._store.queues.pop_next(line_id)
            room = None
            if entry is not None:
                room = Room(
                    id=new_room_id(),
                    line_id=line_id,
                    queued_at=entry.enqueued_at,
                    answered_at=now,
                    node=self.node_id,
                )
                room.add(Participant(entry.ticket, ParticipantRole.RESIDENT))
                room.add(professional)
                await self._store.rooms.put(room)
        for expired in gone:
            await self._record_unanswered(expired, CallOutcome.ABANDONED, "timeout")
        if entry is None or room is None:
            return None
        staff = await self._store.presence.count(line_id, now)
        await self._store.stats.record_answer(line_id, AnswerSample(now, entry.enqueued_at, staff))
        return Answered(room, entry)

    async def discard(self, room_id: str, entry: QueueEntry) -> None:
        """Undo an answer whose caller is gone: no room, the queue place recorded as lost."""
        async with self._store.locks.hold(room_lock(room_id)):
            await self._store.rooms.delete(room_id)
        await self._record_unanswered(entry, CallOutcome.ABANDONED, "connection_lost")

    # -- rooms ------------------------------------------------------------------------------

    async def change(
        self, room_id: str, apply: Callable[[Room], Awaitable[list[StateChange]]]
    ) -> RoomChange:
        """Run ``apply`` on the room under its lock, then store it (or end it).

        ``apply`` may end the room; an ended room is recorded and deleted. Raises
        RoomEndedError when the room no longer exists.
        """
        async with self._store.locks.hold(room_lock(room_id)):
            room = await self._store.rooms.get(room_id)
            if room is None or not room.open:
                raise RoomEndedError(room_id)
            changes = await apply(room)
            if room.open and room.should_end():
                room.end(EndReason.PEER_LEFT, self._clock.now())
            if room.open:
                await self._store.rooms.put(room)
                return RoomChange(room, changes)
            await self._store.rooms.delete(room_id)
        await self._finish(room)
        return RoomChange(room, changes, ended=True)

    async def get(self, room_id: str) -> Room | None:
        return await self._store.rooms.get(room_id)

    async def set_state(
        self, room_id: str, participant_id: str, state: ParticipantState
    ) -> RoomChange:
        """One participant's new state (connected, reconnecting)."""

        async def apply(room: Room) -> list[StateChange]:
            change = room.set_state(participant_id, state)
            return [] if change is None else [change]

        return await self.change(room_id, apply)

    async def join(self, room_id: str, participant: Participant) -> RoomChange:
        """Add a participant (an interpreter, a professional rejoining)."""

        async def apply(room: Room) -> list[StateChange]:
            room.add(participant)
            return []

        return await self.change(room_id, apply)

    async def leave(
        self, room_id: str, participant_id: str, reason: EndReason = EndReason.PEER_LEFT
    ) -> RoomChange:
        """A participant leaves; when only one is left the room ends with ``reason``."""

        async def apply(room: Room) -> list[StateChange]:
            participant = room.participant(participant_id)
            if participant is None:
                return []
            change = participant.set_state(ParticipantState.LEFT)
            await self._video_after_leaving(room, participant)
            if room.should_end():
                room.end(reason, self._clock.now())
            return [] if change is None else [change]

        return await self.change(room_id, apply)

    async def hangup(self, room_id: str, participant_id: str) -> RoomChange:
        """The professional's hang-up ends the room; anyone else's is leaving it."""

        async def apply(room: Room) -> list[StateChange]:
            participant = room.participant(participant_id)
            if participant is None:
                return []
            change = participant.set_state(ParticipantState.LEFT)
            await self._video_after_leaving(room, participant)
            if participant.role is ParticipantRole.PROFESSIONAL or room.should_end():
                room.end(EndReason.HANGUP, self._clock.now())
            return [] if change is None else [change]

        return await self.change(room_id, apply)

    async def _video_after_leaving(self, room: Room, participant: Participant) -> None:
        """Video stops when the resident or the last professional leaves (consent log)."""
        gone = participant.role is ParticipantRole.RESIDENT or (
            participant.role is ParticipantRole.PROFESSIONAL
            and not room.present_with_role(ParticipantRole.PROFESSIONAL)
        )
        if gone:
            entry = stepup.end_video(room, self._clock.now(), participant.role)
            if entry is not None:
                await self._store.consents.add(entry)

    async def end(self, room_id: str, reason: EndReason) -> RoomChange | None:
        """End a room for everyone; None when it had already ended."""

        async def apply(room: Room) -> list[StateChange]:
            room.end(reason, self._clock.now())
            return []

        try:
            return await self.change(room_id, apply)
        except RoomEndedError:
            return None

    # -- identification and video (rules in rooms.stepup) -----------------------------------

    async def request_identification(self, room_id: str, by_id: str) -> Room:
        return await self._step(room_id, lambda room: stepup.request_identification(room, by_id))

    async def bind_identity(self, room_id: str, resident_id: str, identity: dict[str, str]) -> Room:
        return await self._step(
            room_id, lambda room: stepup.bind_identity(room, resident_id, identity)
        )

    async def request_video(self, room_id: str, by_id: str, purpose: str) -> Room:
        return await self._step(room_id, lambda room: stepup.request_video(room, by_id, purpose))

    async def answer_video(self, room_id: str, resident_id: str, allow: bool) -> Room:
        now = self._clock.now()
        return await self._step(
            room_id, lambda room: stepup.answer_video(room, resident_id, allow, now)
        )

    async def stop_video(self, room_id: str, by_id: str) -> Room:
        now = self._clock.now()
        return await self._step(room_id, lambda room: stepup.stop_video(room, by_id, now))

    async def _step(self, room_id: str, rule: Callable[[Room], object]) -> Room:
        """Apply one step-up rule under the room's lock; log what it returns to consent."""
        async with self._store.locks.hold(room_lock(room_id)):
            room = await self._store.rooms.get(room_id)
            if room is None or not room.open:
                raise RoomEndedError(room_id)
            outcome = rule(room)
            await self._store.rooms.put(room)
            if isinstance(outcome, ConsentEntry):
                await self._store.consents.add(outcome)
        return room

    # -- records ----------------------------------------------------------------------------

    async def _finish(self, room: Room) -> None:
        """An ended room: its record (counts by role), talk-time statistics, no tokens."""
        ended_at = room.ended_at or self._clock.now()
        reason = room.end_reason or EndReason.HANGUP
        record = CallRecord(
            call_id=room.id,
            line_id=room.line_id,
            queued_at=room.queued_at,
            answered_at=room.answered_at,
            ended_at=max(ended_at, room.answered_at),
            outcome=CallOutcome.ANSWERED,
            end_reason=reason.value,
            participants=room.counts_by_role(),
            identified=room.identified_level(),
        )
        if room.video is not VideoState.OFF:
            entry = stepup.end_video(room, ended_at, ParticipantRole.PROFESSIONAL)
            if entry is not None:
                await self._store.consents.add(entry)
        await self._store.calls.add(record)
        if record.talk_seconds is not None:
            await self._store.stats.record_talk_time(room.line_id, record.talk_seconds)
        for participant_id in room.participants:
            await self._store.resume.revoke(participant_id)

    async def _record_unanswered(
        self, entry: QueueEntry, outcome: CallOutcome, reason: str
    ) -> None:
        now = self._clock.now()
        await self._store.calls.add(
            CallRecord(
                call_id=new_room_id(),
                line_id=entry.line_id,
                queued_at=entry.enqueued_at,
                answered_at=None,
                ended_at=max(now, entry.enqueued_at),
                outcome=outcome,
                end_reason=reason,
                participants={ParticipantRole.RESIDENT.value: 1},
            )
        )
        await self._store.resume.revoke(entry.ticket)
