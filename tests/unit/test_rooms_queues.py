"""Queue store: FIFO, limits, duplicates, removal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from rooms import AlreadyQueuedError, MemoryQueueStore, QueueEntry, QueueFullError

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


async def fill(store: MemoryQueueStore, line: str, tickets: list[str]) -> list[int]:
    return [
        await store.enqueue(line, t, T0 + timedelta(seconds=i), max_length=10)
        for i, t in enumerate(tickets)
    ]


async def test_enqueue_returns_positions_and_pop_is_fifo() -> None:
    store = MemoryQueueStore()
    assert await fill(store, "demo", ["a", "b", "c"]) == [1, 2, 3]
    assert await store.tickets("demo") == ["a", "b", "c"]
    assert await store.length("demo") == 3
    first = await store.pop_next("demo")
    assert first == QueueEntry("a", "demo", T0)
    popped = await store.pop_next("demo")
    assert popped is not None and popped.ticket == "b"
    assert await store.position("demo", "c") == 1
    assert await store.enqueue("demo", "d", T0, max_length=10) == 2


async def test_pop_from_empty_queue() -> None:
    store = MemoryQueueStore()
    assert await store.pop_next("demo") is None
    await fill(store, "demo", ["a"])
    await store.pop_next("demo")
    assert await store.pop_next("demo") is None
    assert await store.length("demo") == 0
    assert await store.tickets("demo") == []


async def test_queue_full() -> None:
    store = MemoryQueueStore()
    await store.enqueue("demo", "a", T0, max_length=2)
    await store.enqueue("demo", "b", T0, max_length=2)
    with pytest.raises(QueueFullError):
        await store.enqueue("demo", "c", T0, max_length=2)
    assert await store.tickets("demo") == ["a", "b"]
    await store.pop_next("demo")
    assert await store.enqueue("demo", "c", T0, max_length=2) == 2


async def test_duplicate_ticket_rejected_but_allowed_in_other_line() -> None:
    store = MemoryQueueStore()
    await store.enqueue("demo", "a", T0, max_length=5)
    with pytest.raises(AlreadyQueuedError):
        await store.enqueue("demo", "a", T0, max_length=5)
    assert await store.length("demo") == 1
    assert await store.enqueue("other", "a", T0, max_length=5) == 1


async def test_remove_updates_positions() -> None:
    store = MemoryQueueStore()
    await fill(store, "demo", ["a", "b", "c", "d"])
    removed = await store.remove("demo", "b")
    assert removed is not None and removed.ticket == "b"
    assert await store.position("demo", "a") == 1
    assert await store.position("demo", "c") == 2
    assert await store.position("demo", "d") == 3
    assert await store.position("demo", "b") is None
    assert await store.remove("demo", "b") is None
    assert await store.remove("nope", "b") is None
    # A removed ticket may queue again, at the back.
    assert await store.enqueue("demo", "b", T0, max_length=10) == 4
    assert await store.tickets("demo") == ["a", "c", "d", "b"]


async def test_lines_are_independent() -> None:
    store = MemoryQueueStore()
    await fill(store, "one", ["a", "b"])
    await fill(store, "two", ["x"])
    assert await store.length("one") == 2
    assert await store.length("two") == 1
    popped = await store.pop_next("two")
    assert popped is not None and popped.line_id == "two"
    assert await store.tickets("one") == ["a", "b"]
