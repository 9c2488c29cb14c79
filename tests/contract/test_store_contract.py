"""The store interface's contract: every backend passes these unchanged."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from rooms.clock import FakeClock
from rooms.consent import ConsentAnswer, ConsentEntry
from rooms.errors import AlreadyQueuedError, QueueFullError
from rooms.estimate import RECENT_ANSWERS, AnswerSample
from rooms.identification import PendingFlow
from rooms.participants import Participant, ParticipantRole, ParticipantState
from rooms.resume import ResumeGrant
from rooms.room import Room
from rooms.store import Store
from tests.contract.conftest import T0

LEASE = timedelta(seconds=30)


# -- queues ---------------------------------------------------------------------------------


async def test_queue_is_fifo_with_owner_and_lease(store: Store) -> None:
    q = store.queues
    for i, ticket in enumerate(["a", "b", "c"]):
        position = await q.enqueue("demo", ticket, T0 + timedelta(seconds=i), 10, "n1", T0 + LEASE)
        assert position == i + 1
    assert await q.tickets("demo") == ["a", "b", "c"]
    entries = await q.entries("demo")
    assert [(e.ticket, e.enqueued_at) for e in entries] == [
        (t, T0 + timedelta(seconds=i)) for i, t in enumerate("abc")
    ]
    assert await q.entries("other") == []
    entry = await q.get("demo", "b")
    assert entry is not None and entry.owner == "n1" and entry.lease_expires == T0 + LEASE
    first = await q.pop_next("demo")
    assert first is not None and first.ticket == "a"
    assert await q.position("demo", "c") == 2
    assert await q.length("demo") == 2
    assert await q.remove("demo", "b") is not None
    assert await q.remove("demo", "b") is None
    assert await q.tickets("demo") == ["c"]
    assert await q.length("other") == 0


async def test_queue_limits_and_duplicates(store: Store) -> None:
    q = store.queues
    await q.enqueue("demo", "a", T0, 2)
    with pytest.raises(AlreadyQueuedError):
        await q.enqueue("demo", "a", T0, 2)
    await q.enqueue("demo", "b", T0, 2)
    with pytest.raises(QueueFullError):
        await q.enqueue("demo", "c", T0, 2)
    assert await q.tickets("demo") == ["a", "b"]


async def test_queue_leases_renew_and_expire(store: Store) -> None:
    q = store.queues
    await q.enqueue("demo", "a", T0, 10, "n1", T0 + LEASE)
    await q.enqueue("demo", "b", T0, 10, "n1", T0 + LEASE)
    assert await q.renew("demo", "b", "n2", T0 + 3 * LEASE)
    assert not await q.renew("demo", "zz", "n2", T0 + 3 * LEASE)
    assert await q.take_expired("demo", T0 + LEASE / 2) == []
    gone = await q.take_expired("demo", T0 + 2 * LEASE)
    assert [e.ticket for e in gone] == ["a"]
    kept = await q.get("demo", "b")
    assert kept is not None and kept.owner == "n2"
    assert await q.tickets("demo") == ["b"]


# -- rooms ----------------------------------------------------------------------------------


def _room(room_id: str = "c-1") -> Room:
    room = Room(id=room_id, line_id="demo", queued_at=T0, answered_at=T0, node="n1")
    room.add(Participant("p-r", ParticipantRole.RESIDENT))
    room.add(Participant("p-p", ParticipantRole.PROFESSIONAL, staff_ref="ref"))
    return room


async def test_rooms_are_stored_as_copies(store: Store) -> None:
    room = _room()
    await store.rooms.put(room)
    room.set_state("p-r", ParticipantState.CONNECTED)  # not put back: not stored
    stored = await store.rooms.get("c-1")
    assert stored is not None
    assert stored.participants["p-r"].state is ParticipantState.JOINING
    assert stored.participants["p-p"].staff_ref == "ref"
    stored.set_state("p-r", ParticipantState.CONNECTED)
    await store.rooms.put(stored)
    again = await store.rooms.get("c-1")
    assert again is not None and again.participants["p-r"].state is ParticipantState.CONNECTED
    assert again.to_json() == stored.to_json()


async def test_rooms_index_participants(store: Store) -> None:
    room = _room()
    await store.rooms.put(room)
    assert await store.rooms.room_of("p-r") == "c-1"
    room.add(Participant("p-i", ParticipantRole.INTERPRETER, language="ar"))
    await store.rooms.put(room)
    assert await store.rooms.room_of("p-i") == "c-1"
    assert [r.id for r in await store.rooms.all()] == ["c-1"]
    await store.rooms.delete("c-1")
    assert await store.rooms.get("c-1") is None
    assert await store.rooms.room_of("p-r") is None
    assert await store.rooms.all() == []


# -- presence, resume tokens, one-time ids, locks ------------------------------------------


async def test_presence_counts_until_expiry(store: Store) -> None:
    await store.presence.announce("s1", ("demo", "other"), T0 + LEASE)
    await store.presence.announce("s2", ("demo",), T0 + 2 * LEASE)
    assert await store.presence.count("demo", T0) == 2
    assert await store.presence.count("other", T0) == 1
    assert await store.presence.count("demo", T0 + LEASE) == 1
    await store.presence.withdraw("s2")
    assert await store.presence.count("demo", T0 + LEASE) == 0


async def test_resume_tokens_are_single_use_and_replaced(store: Store) -> None:
    grant = ResumeGrant("p-1", ParticipantRole.RESIDENT, "demo")
    await store.resume.put("d1", grant, T0 + LEASE)
    await store.resume.put("d2", grant, T0 + LEASE)  # replaces d1
    assert await store.resume.take("d1", T0) is None
    assert await store.resume.take("d2", T0) == grant
    assert await store.resume.take("d2", T0) is None
    await store.resume.put("d3", grant, T0 + LEASE)
    assert await store.resume.take("d3", T0 + LEASE) is None  # expired
    await store.resume.put("d4", grant, T0 + LEASE)
    await store.resume.revoke("p-1")
    assert await store.resume.take("d4", T0) is None


async def test_identification_flows_are_taken_once(store: Store) -> None:
    flows = store.identification
    flow = PendingFlow("room-1/p-r", T0 + LEASE)
    await flows.put("s1", flow)
    await flows.put("s2", PendingFlow("room-1/p-p", T0 + LEASE))
    assert await flows.take("unknown", T0) is None
    assert await flows.take("s1", T0) == flow
    assert await flows.take("s1", T0) is None  # a replay finds nothing
    assert await flows.take("s2", T0 + LEASE) is None  # expired
    await flows.put("s3", PendingFlow("room-1/p-r", T0 + LEASE))
    assert await flows.take("s3", T0 + LEASE / 2) is not None


async def test_an_identification_flow_is_taken_by_one_of_many(store: Store) -> None:
    await store.identification.put("s1", PendingFlow("room-1/p-r", T0 + LEASE))
    taken = await asyncio.gather(*(store.identification.take("s1", T0) for _ in range(5)))
    assert [t for t in taken if t is not None] == [PendingFlow("room-1/p-r", T0 + LEASE)]


def test_a_pending_flow_round_trips_as_json() -> None:
    flow = PendingFlow("room-1/p-r", T0 + LEASE)
    assert PendingFlow.from_json(flow.to_json()) == flow


async def test_one_time_ids(store: Store, clock: FakeClock) -> None:
    assert not await store.tokens.used("j1")
    assert await store.tokens.consume("j1", T0 + LEASE)
    assert await store.tokens.used("j1")
    assert not await store.tokens.consume("j1", T0 + LEASE)
    assert not await store.tokens.consume("j2", T0)  # already expired


async def test_locks_exclude_each_other(store: Store) -> None:
    inside: list[str] = []
    overlaps = 0

    async def worker(name: str) -> None:
        nonlocal overlaps
        for _ in range(20):
            async with store.locks.hold("line:demo"):
                if inside:
                    overlaps += 1
                inside.append(name)
                await asyncio.sleep(0)
                inside.remove(name)

    await asyncio.gather(*(worker(str(i)) for i in range(10)))
    assert overlaps == 0


async def test_presence_counts_only_available_consoles(store: Store) -> None:
    await store.presence.announce("s1", ("demo",), T0 + LEASE)
    await store.presence.announce("s2", ("demo",), T0 + LEASE, available=False)
    assert await store.presence.count("demo", T0) == 1
    counts = await store.presence.counts("demo", T0)
    assert (counts.available, counts.away) == (1, 1)
    await store.presence.announce("s1", ("demo",), T0 + LEASE, available=False)
    assert await store.presence.count("demo", T0) == 0


# -- line statistics ------------------------------------------------------------------------


async def test_recent_answers_keep_the_latest_in_time_order(store: Store) -> None:
    stats = store.stats
    for i in range(RECENT_ANSWERS + 5):
        at = T0 + timedelta(seconds=60 * i)
        await stats.record_answer("demo", AnswerSample(at, at - timedelta(seconds=30), 1 + i % 2))
    await stats.record_answer("other", AnswerSample(T0, T0, 1))
    kept = await stats.recent_answers("demo", T0)
    assert len(kept) == RECENT_ANSWERS
    assert kept[0].answered_at == T0 + timedelta(seconds=60 * 5)  # the oldest five are gone
    assert [a.answered_at for a in kept] == sorted(a.answered_at for a in kept)
    assert kept[-1].staff_available == 1 + (RECENT_ANSWERS + 4) % 2
    since = T0 + timedelta(seconds=60 * (RECENT_ANSWERS + 2))
    assert [a.answered_at for a in await stats.recent_answers("demo", since)] == [
        since,
        since + timedelta(seconds=60),
        since + timedelta(seconds=120),
    ]
    assert await stats.recent_answers("nobody", T0) == []


# -- consent log ----------------------------------------------------------------------------


async def test_consent_log_keeps_entries_per_room_in_order(store: Store) -> None:
    answers = [ConsentAnswer.ALLOWED, ConsentAnswer.WITHDRAWN]
    for i, answer in enumerate(answers):
        entry = ConsentEntry(
            T0 + timedelta(seconds=i), "c-1", "demo", "video", "other", answer, "resident"
        )
        await store.consents.add(entry)
    await store.consents.add(
        ConsentEntry(T0, "c-2", "demo", "video", "other", ConsentAnswer.DECLINED, "resident")
    )
    assert [e.answer for e in await store.consents.for_room("c-1")] == answers
    assert len(await store.consents.for_room("c-2")) == 1
    assert await store.consents.for_room("c-3") == []
