"""One-time tokens, clocks, call records and the store factory."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from rooms import (
    CallOutcome,
    CallRecord,
    FakeClock,
    MemoryCallRecordStore,
    MemoryOneTimeTokenStore,
    MemoryQueueStore,
    SystemClock,
    create_memory_store,
)

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


async def test_token_is_accepted_once() -> None:
    clock = FakeClock(T0)
    tokens = MemoryOneTimeTokenStore(clock)
    expires = T0 + timedelta(minutes=5)
    assert await tokens.consume("jti-1", expires) is True
    assert await tokens.consume("jti-1", expires) is False
    assert await tokens.consume("jti-2", expires) is True
    clock.advance(299)
    assert await tokens.consume("jti-1", expires) is False


async def test_expired_ids_are_purged_and_expired_tokens_refused() -> None:
    clock = FakeClock(T0)
    tokens = MemoryOneTimeTokenStore(clock)
    assert await tokens.consume("a", T0 + timedelta(seconds=10))
    assert await tokens.consume("b", T0 + timedelta(seconds=100))
    assert len(tokens) == 2
    clock.advance(10)
    assert await tokens.consume("a", T0 + timedelta(seconds=10)) is False  # expired
    assert len(tokens) == 1  # "a" forgotten, "b" kept
    assert await tokens.consume("b", T0 + timedelta(seconds=100)) is False


def test_fake_clock() -> None:
    clock = FakeClock(datetime(2026, 11, 23, 12, 0, tzinfo=ZoneInfo("Europe/Helsinki")))
    assert clock.now() == datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    assert clock.now().tzinfo is UTC
    clock.advance(90.5)
    assert clock.now() == datetime(2026, 11, 23, 10, 1, 30, 500000, tzinfo=UTC)
    clock.set(T0)
    assert clock.now() == T0
    with pytest.raises(ValueError):
        clock.set(datetime(2026, 1, 1))
    assert SystemClock().now().tzinfo is UTC


def record(call_id: str, line: str, outcome: CallOutcome = CallOutcome.ANSWERED) -> CallRecord:
    answered = T0 + timedelta(seconds=45) if outcome is CallOutcome.ANSWERED else None
    return CallRecord(call_id, line, T0, answered, T0 + timedelta(seconds=345), outcome, "hangup")


def test_call_record_durations() -> None:
    r = record("c-1", "demo")
    assert r.wait_seconds == 45.0
    assert r.talk_seconds == 300.0
    gone = record("c-2", "demo", CallOutcome.ABANDONED)
    assert gone.wait_seconds is None and gone.talk_seconds is None
    assert CallOutcome("answered") is CallOutcome.answered  # lower-case alias
    assert CallOutcome("rejected") is CallOutcome.REJECTED
    assert str(CallOutcome.ABANDONED) == "abandoned"
    with pytest.raises(ValueError):
        CallRecord("c", "demo", T0, None, T0, CallOutcome.ANSWERED, "hangup")


async def test_call_records_newest_first_and_bounded() -> None:
    store = MemoryCallRecordStore(max_records=3)
    for i, line in enumerate(["a", "b", "a", "a"]):
        await store.add(record(f"c-{i}", line))
    assert [r.call_id for r in await store.recent()] == ["c-3", "c-2", "c-1"]
    assert [r.call_id for r in await store.recent("a")] == ["c-3", "c-2"]
    assert [r.call_id for r in await store.recent(limit=1)] == ["c-3"]
    assert await store.recent("zzz") == []


async def test_create_memory_store() -> None:
    store = create_memory_store(FakeClock(T0))
    assert isinstance(store.queues, MemoryQueueStore)
    assert await store.queues.enqueue("demo", "t", T0, 5) == 1
    assert await store.tokens.consume("x", T0 + timedelta(seconds=1))
    await store.stats.record_talk_time("demo", 60.0)
    assert await store.stats.mean_talk_time("demo") == 60.0
    await store.close()
    await store.close()
