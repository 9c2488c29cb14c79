"""A resume that races the end of the grace period, on a store that yields at every step.

Whatever the timing, the answer is a documented one, and afterwards the participant is
either fully back (in the store and on the node) or fully gone: never half of each.
"""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager

from rooms.participants import ParticipantState
from tests.support.client import SignalClient
from tests.support.gateway import RunningGateway, make_config, running_gateway
from tests.support.stores import yielding_memory_store

GRACE = 0.3
OFFSETS = [GRACE + step / 100 for step in range(-10, 11, 2)]  # 0.20 … 0.40 s
DOCUMENTED = {"invalid_token", "unknown_call"}


def racing_gateway() -> AbstractAsyncContextManager[RunningGateway]:
    config = make_config({"calls": {"grace_seconds": GRACE}})
    return running_gateway(config, store_factory=yielding_memory_store)


async def test_queued_resume_racing_the_grace_period() -> None:
    async with racing_gateway() as gateway:
        outcomes = set()
        for offset in OFFSETS:
            caller = await gateway.resident()
            joined = await caller.request("queue.join", line="demo")
            await caller.close()
            await asyncio.sleep(offset)
            back = await gateway.resident()
            reply = await back.call("resume", token=joined["resumeToken"])
            await asyncio.sleep(GRACE + 0.2)  # a timer that should not fire any more
            ticket = joined["participantId"]
            queued = await gateway.center_store.queues.get("demo", ticket)
            local = [p for p in gateway.center.participants() if p.id == ticket]
            if reply["type"] == "result":
                outcomes.add("resumed")
                assert queued is not None and local and local[0].session is not None
                assert await back.request("queue.leave") == {}
            else:
                outcomes.add(reply["error"]["code"])
                assert reply["error"]["code"] in DOCUMENTED, reply
                assert queued is None and not local
            await back.close()
        assert "resumed" in outcomes  # the sweep covered both sides of the deadline
        assert outcomes - {"resumed"}
        assert gateway.center.queued == 0


async def test_call_resume_racing_the_grace_period() -> None:
    async with racing_gateway() as gateway:
        staff = await gateway.staff(lines=("demo",))
        outcomes = set()
        for offset in OFFSETS:
            caller = await gateway.resident()
            joined = await caller.request("queue.join", line="demo")
            answered = await staff.request("staff.answer_next", line="demo")
            await caller.close()
            await asyncio.sleep(offset)
            back = await gateway.resident()
            reply = await back.call("resume", token=joined["resumeToken"])
            await asyncio.sleep(GRACE + 0.2)
            room = await gateway.center_store.rooms.get(answered["callId"])
            if reply["type"] == "result":
                outcomes.add("resumed")
                assert room is not None
                state = room.participants[joined["participantId"]].state
                assert state is ParticipantState.CONNECTED
                await back.request("hangup")
            else:
                outcomes.add(reply["error"]["code"])
                assert reply["error"]["code"] in DOCUMENTED, reply
                assert room is None  # a call of two ends when the resident has left
            await _drain_events(staff)
            await back.close()
            assert gateway.center.active_calls == 0 and not [
                p for p in gateway.center.participants() if p.role.value == "resident"
            ]
        assert "resumed" in outcomes and outcomes - {"resumed"}
        await staff.close()


async def _drain_events(client: SignalClient) -> None:
    """Wait for the call to end on the professional's side, then forget its events."""
    await client.next_event("call.ended", timeout=5)
    await asyncio.sleep(0.05)
    for queue in client._events.values():
        while not queue.empty():
            queue.get_nowait()
