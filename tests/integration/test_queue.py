"""Service-line queues through the gateway: positions, estimates, cancel, closed and full."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.cli import drain
from rooms.clock import FakeClock
from tests.support.client import RequestFailed, SignalClient
from tests.support.gateway import RunningGateway, make_config, running_gateway

LINES = {
    "lines": {
        "neuvonta": {
            "names": {"fi": "Neuvonta", "en": "Counselling"},
            "hours": {d: ["09:00-15:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
            "max_queue": 2,
            "default_handle_minutes": 5,
            "queue_when_unstaffed": True,
        }
    }
}
# Sunday 2026-11-22 10:00 Helsinki (UTC+2)
SUNDAY = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
# Tuesday 2026-11-24 10:00 Helsinki
TUESDAY = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(TUESDAY)


@pytest.fixture
async def lines_gateway(clock: FakeClock) -> AsyncIterator[RunningGateway]:
    async with running_gateway(make_config(LINES), clock=clock) as gw:
        yield gw


async def test_positions_update_as_queue_moves(gateway: RunningGateway) -> None:
    first = await gateway.resident()
    second = await gateway.resident()
    assert (await first.request("queue.join", line="demo"))["position"] == 1
    joined = await second.request("queue.join", line="demo")
    assert joined["position"] == 2
    assert joined["estimatedWaitSeconds"] > 0
    staff = await gateway.staff(lines=("demo",))
    # A professional came online: the estimate shrinks or stays, the position stays.
    await staff.request("staff.answer_next", line="demo")
    await first.next_event("call.connected")
    update = await second.next_event("queue.update")
    while update["position"] != 1:
        update = await second.next_event("queue.update")
    assert update["position"] == 1
    await staff.request("hangup")
    for client in (first, second, staff):
        await client.close()


async def test_cancel_leaves_queue_and_moves_others_up() -> None:
    async with running_gateway(make_config({"calls": {"grace_seconds": 0.5}})) as gateway:
        await _cancel_and_close(gateway)


async def _cancel_and_close(gateway: RunningGateway) -> None:
    first = await gateway.resident()
    second = await gateway.resident()
    watcher = await gateway.resident()
    status = (await watcher.request("line.watch", line="demo"))["status"]
    assert status["queueLength"] == 0
    await first.request("queue.join", line="demo")
    await second.request("queue.join", line="demo")
    await first.request("queue.leave")
    update = await second.next_event("queue.update")
    while update["position"] != 1:
        update = await second.next_event("queue.update")
    status_event = await watcher.next_event("line.status")
    while status_event["status"]["queueLength"] != 1:
        status_event = await watcher.next_event("line.status")
    # Closing the page (socket) leaves the queue too, once the grace period is over.
    await second.close()
    while status_event["status"]["queueLength"] != 0:
        status_event = await watcher.next_event("line.status")
    assert gateway.center.queued == 0
    await first.close()
    await watcher.close()


async def test_answer_is_first_in_first_out(gateway: RunningGateway) -> None:
    callers = [await gateway.resident() for _ in range(3)]
    for caller in callers:
        await caller.request("queue.join", line="demo")
    staff = await gateway.staff(lines=("demo",))
    for expected in callers:
        call = await staff.request("staff.answer_next", line="demo")
        connected = await expected.next_event("call.connected")
        assert connected["callId"] == call["callId"]
        await staff.request("hangup")
        await expected.next_event("call.ended")
    for client in [*callers, staff]:
        await client.close()


async def test_closed_line_refuses_and_tells_next_opening(
    lines_gateway: RunningGateway, clock: FakeClock
) -> None:
    clock.set(SUNDAY)
    client = await lines_gateway.resident()
    status = (await client.request("line.watch", line="neuvonta"))["status"]
    assert status["open"] is False
    assert status["accepting"] is False
    assert status["nextOpening"]["weekday"] == 0
    assert status["nextOpening"]["time"] == "09:00"
    assert status["nextOpening"]["date"] == "2026-11-23"
    with pytest.raises(RequestFailed) as info:
        await client.request("queue.join", line="neuvonta")
    assert info.value.code == "line_closed"
    await client.close()


async def test_full_queue_refuses(lines_gateway: RunningGateway) -> None:
    clients = [await lines_gateway.resident() for _ in range(3)]
    await clients[0].request("queue.join", line="neuvonta")
    await clients[1].request("queue.join", line="neuvonta")
    with pytest.raises(RequestFailed) as info:
        await clients[2].request("queue.join", line="neuvonta")
    assert info.value.code == "queue_full"
    status = (await clients[2].request("line.watch", line="neuvonta"))["status"]
    assert status["accepting"] is False
    assert status["queueLength"] == 2
    for client in clients:
        await client.close()


async def test_staff_only_answers_own_lines(lines_gateway: RunningGateway) -> None:
    resident = await lines_gateway.resident()
    await resident.request("queue.join", line="neuvonta")
    staff = await lines_gateway.staff(lines=("demo",))
    with pytest.raises(RequestFailed) as info:
        await staff.request("staff.answer_next", line="neuvonta")
    assert info.value.code == "forbidden"
    with pytest.raises(RequestFailed) as info:
        await staff.request("queue.join", line="demo")
    assert info.value.code == "forbidden"
    await resident.close()
    await staff.close()


async def test_call_records_keep_only_line_times_and_counts(gateway: RunningGateway) -> None:
    resident = await gateway.resident()
    await resident.request("queue.join", line="demo")
    staff = await gateway.staff(lines=("demo",))
    await staff.request("staff.answer_next", line="demo")
    await resident.request("hangup")
    await staff.next_event("call.ended")
    records = await gateway.center_store.calls.recent()
    assert len(records) == 1
    record = records[0]
    assert record.line_id == "demo"
    assert record.answered_at is not None
    assert record.end_reason == "hangup"
    assert set(vars(record)) == {
        "call_id",
        "line_id",
        "queued_at",
        "answered_at",
        "ended_at",
        "outcome",
        "end_reason",
        "participants",
        "identified",
    }
    # Participants only as counts by role: nothing that tells who they were.
    assert record.participants == {"resident": 1, "professional": 1}
    assert record.identified is None  # only the level, and only when identified
    await resident.close()
    await staff.close()


async def test_draining_node_takes_no_new_queue_places(gateway: RunningGateway) -> None:
    queued = await gateway.resident()
    late = await gateway.resident()
    staff = await gateway.staff(lines=("demo",))
    await queued.request("queue.join", line="demo")
    await drain(gateway.app, 0)  # no call in progress: returns at once
    with pytest.raises(RequestFailed) as info:
        await late.request("queue.join", line="demo")
    assert info.value.code == "draining"
    # Whoever already queued keeps the place, and a professional can still answer.
    await staff.request("staff.answer_next", line="demo")
    await queued.next_event("call.connected")
    await staff.request("hangup")
    for client in (queued, late, staff):
        await client.close()


async def test_no_available_professional_refuses_the_queue_and_away_is_not_counted() -> None:
    async with running_gateway(make_config(unstaffed_demo=False)) as gw:
        resident = await gw.resident()
        status = (await resident.request("line.watch", line="demo"))["status"]
        assert (status["answerable"], status["accepting"], status["reason"]) == (
            False,
            False,
            "unstaffed",
        )
        with pytest.raises(RequestFailed) as refused:
            await resident.request("queue.join", line="demo")
        assert refused.value.code == "unstaffed"
        staff = await gw.staff(lines=("demo",))
        assert (await staff.request("hello"))["staff"]["available"] is True
        assert (await gw.center.status("demo")).staff_online == 1
        assert await staff.request("staff.status", available=False) == {"available": False}
        away = await gw.center.status("demo")
        assert (away.staff_online, away.answerable, away.reason) == (0, False, "unstaffed")
        with pytest.raises(RequestFailed) as refused:
            await resident.request("queue.join", line="demo")
        assert refused.value.code == "unstaffed"
        await staff.request("staff.status", available=True)
        joined = await resident.request("queue.join", line="demo")
        assert (joined["answerable"], joined["warning"]) == (True, None)
        await resident.request("queue.leave")
        for client in (resident, staff):
            await client.close()


async def test_away_professional_cannot_answer(gateway: RunningGateway) -> None:
    staff = await gateway.staff(lines=("demo",))
    await staff.request("staff.status", available=False)
    with pytest.raises(RequestFailed) as refused:
        await staff.request("staff.answer_next", line="demo")
    assert refused.value.code == "invalid_state"
    await staff.close()


async def test_line_allowing_unstaffed_queueing_accepts_with_warning(
    gateway: RunningGateway,
) -> None:
    resident = await gateway.resident()
    joined = await resident.request("queue.join", line="demo")
    assert (joined["answerable"], joined["warning"]) == (False, "unstaffed")
    status = await gateway.center.status("demo")
    assert (status.accepting, status.warning) == (True, "unstaffed")
    await resident.close()


async def test_hello_gives_staff_the_configured_wrapup() -> None:
    async with running_gateway(make_config({"calls": {"wrapup_seconds": 12}})) as gw:
        staff = await gw.staff(lines=("demo",))
        assert (await staff.request("hello"))["staff"]["wrapupSeconds"] == 12
        await staff.close()


async def next_matching(
    client: SignalClient, type_: str, check: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """The next event of `type_` that passes `check` (earlier ones are skipped)."""
    while True:
        event = await client.next_event(type_)
        if check(event):
            return event


async def test_staff_see_waiting_callers_in_order_with_waiting_times(
    lines_gateway: RunningGateway, clock: FakeClock
) -> None:
    gw = lines_gateway
    staff = await gw.staff(lines=("neuvonta",))
    watched = await staff.request("line.watch", line="neuvonta")
    assert watched["queue"] == {
        "line": "neuvonta",
        "waiting": [],
        "staffAvailable": 1,
        "staffAway": 0,
    }
    first, second = await gw.resident(), await gw.resident()
    first_id = (await first.request("queue.join", line="neuvonta"))["participantId"]
    for _ in range(2):  # leases and presence are renewed as the clock moves
        clock.advance(20)
        await gw.center.maintain()
    second_id = (await second.request("queue.join", line="neuvonta"))["participantId"]
    event = await next_matching(staff, "staff.queue", lambda e: len(e["waiting"]) == 2)
    assert [w["position"] for w in event["waiting"]] == [1, 2]
    assert [w["waitedSeconds"] for w in event["waiting"]] == [40, 0]
    ids = [w["id"] for w in event["waiting"]]
    assert len(set(ids)) == 2 and not {first_id, second_id} & set(ids)
    assert all(set(w) == {"id", "position", "waitedSeconds"} for w in event["waiting"])
    clock.advance(20)
    await gw.center.maintain()
    again = await staff.request("line.watch", line="neuvonta")
    assert [(w["id"], w["waitedSeconds"]) for w in again["queue"]["waiting"]] == [
        (ids[0], 60),
        (ids[1], 20),
    ]
    # A colleague signs in and goes away; the first caller leaves: the list follows.
    colleague = await gw.staff(lines=("neuvonta",))
    await colleague.request("staff.status", available=False)
    counted = await next_matching(staff, "staff.queue", lambda e: e["staffAway"] == 1)
    assert counted["staffAvailable"] == 1
    await first.request("queue.leave")
    left = await next_matching(staff, "staff.queue", lambda e: len(e["waiting"]) == 1)
    assert [(w["id"], w["position"]) for w in left["waiting"]] == [(ids[1], 1)]
    # Residents never get the staff list, not even when watching the same line.
    resident_watch = await second.request("line.watch", line="neuvonta")
    assert "queue" not in resident_watch
    assert second.events("staff.queue").empty()
    for client in (first, second, staff, colleague):
        await client.close()


async def test_staff_of_other_lines_do_not_get_the_waiting_list(clock: FakeClock) -> None:
    async with running_gateway(make_config(LINES), clock=clock) as gw:
        other = await gw.staff(lines=("demo",))
        watched = await other.request("line.watch", line="neuvonta")
        assert "queue" not in watched
        resident = await gw.resident()
        await resident.request("queue.join", line="neuvonta")
        await other.next_event("line.status")
        assert other.events("staff.queue").empty()
        for client in (resident, other):
            await client.close()


async def test_queued_caller_is_told_when_nobody_can_answer_any_more(
    gateway: RunningGateway,
) -> None:
    staff = await gateway.staff(lines=("demo",))
    resident = await gateway.resident()
    joined = await resident.request("queue.join", line="demo")
    assert joined["answerable"] is True
    await staff.request("staff.status", available=False)
    update = await next_matching(resident, "queue.update", lambda e: e["answerable"] is False)
    assert (update["position"], update["line"]) == (1, "demo")
    await staff.request("staff.status", available=True)
    await next_matching(resident, "queue.update", lambda e: e["answerable"] is True)
    for client in (resident, staff):
        await client.close()
