"""Concurrent joins, answers, leaves and hang-ups on one line never lose or double a caller.

Runs against every backend, including the one whose every operation yields to the event
loop, so that the operations interleave wherever a network store would let them.
"""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

from rooms.calls import CallOutcome
from rooms.clock import FakeClock
from rooms.participants import Participant, ParticipantRole
from rooms.room import RoomEndedError
from rooms.store import Store
from rooms.switchboard import Switchboard, new_participant_id

CALLERS = 200


async def test_200_concurrent_joins_answers_and_leaves(store: Store, clock: FakeClock) -> None:
    board = Switchboard(store, clock, "n1", timedelta(seconds=30))
    rng = random.Random(7)
    joined: dict[str, int] = {}
    order: list[str] = []
    left: set[str] = set()
    answered: list[str] = []
    rooms: dict[str, str] = {}

    async def caller(index: int) -> None:
        await asyncio.sleep(rng.random() / 1000)
        ticket, position = await board.join_queue("demo", CALLERS, new_participant_id())
        joined[ticket] = position
        order.append(ticket)
        if rng.random() < 0.3:
            await asyncio.sleep(rng.random() / 1000)
            entry = await board.leave_queue("demo", ticket, "left")
            if entry is not None:
                left.add(ticket)

    async def professional() -> None:
        for _ in range(60):
            await asyncio.sleep(rng.random() / 1000)
            me = Participant(new_participant_id(), ParticipantRole.PROFESSIONAL)
            got = await board.answer_next("demo", me)
            if got is not None:
                answered.append(got.entry.ticket)
                rooms[got.entry.ticket] = got.room.id

    await asyncio.gather(*(caller(i) for i in range(CALLERS)), *(professional() for _ in range(3)))

    queued = await store.queues.tickets("demo")
    assert len(answered) == len(set(answered)), "a caller was answered twice"
    assert not set(answered) & left, "a caller both left and was answered"
    assert set(answered) | left | set(queued) == set(joined), "a caller was lost"
    assert len(answered) + len(left) + len(queued) == CALLERS
    # Positions stay consistent: the queue keeps join order, and each position is its index.
    assert queued == [t for t in order if t in set(queued)]
    for index, ticket in enumerate(queued, start=1):
        assert await store.queues.position("demo", ticket) == index
    # Answered in the order they joined (first in, first out).
    assert answered == [t for t in order if t in set(answered)]
    for ticket, room_id in rooms.items():
        room = await store.rooms.get(room_id)
        assert room is not None and ticket in room.participants
        assert await store.rooms.room_of(ticket) == room_id
    records = await store.calls.recent(limit=1000)
    abandoned = [r for r in records if r.outcome is CallOutcome.ABANDONED]
    assert len(abandoned) == len(left)


async def test_concurrent_hangups_end_a_room_once(store: Store, clock: FakeClock) -> None:
    board = Switchboard(store, clock, "n1", timedelta(seconds=30))
    room_ids = []
    for _ in range(40):
        ticket, _ = await board.join_queue("demo", 100)
        professional = Participant(new_participant_id(), ParticipantRole.PROFESSIONAL)
        got = await board.answer_next("demo", professional)
        assert got is not None
        interpreter = Participant(new_participant_id(), ParticipantRole.INTERPRETER, language="ar")
        await board.join(got.room.id, interpreter)
        room_ids.append((got.room.id, ticket, professional.id, interpreter.id))
    ended = 0

    async def attempt(op: object, room_id: str, participant_id: str) -> None:
        nonlocal ended
        try:
            change = await op(room_id, participant_id)  # type: ignore[operator]
        except RoomEndedError:
            return
        ended += change.ended

    jobs = []
    for room_id, resident, professional_id, interpreter_id in room_ids:
        jobs += [
            attempt(board.hangup, room_id, resident),
            attempt(board.hangup, room_id, professional_id),
            attempt(board.leave, room_id, interpreter_id),
        ]
    random.Random(3).shuffle(jobs)
    await asyncio.gather(*jobs)
    assert ended == len(room_ids)
    assert await store.rooms.all() == []
    records = [r for r in await store.calls.recent(limit=1000) if r.answered_at is not None]
    assert len(records) == len(room_ids)
    assert len({r.call_id for r in records}) == len(room_ids)
