"""A resident and a professional in a call through a running gateway (aiortc clients)."""

from __future__ import annotations

from tests.support.client import Caller
from tests.support.gateway import RunningGateway
from tests.support.video import PatternTrack

__all__ = ["RESIDENT_TONE", "STAFF_TONE", "connect_call"]

RESIDENT_TONE = 440.0
STAFF_TONE = 1000.0


async def connect_call(
    gateway: RunningGateway, cameras: bool = False, staff_link: str | None = None
) -> tuple[Caller, Caller]:
    resident = Caller(await gateway.resident(), RESIDENT_TONE, PatternTrack() if cameras else None)
    joined = await resident.signal.request("queue.join", line="demo")
    assert joined["position"] == 1
    resident.resume_token = joined["resumeToken"]
    await resident.start_media()
    staff = Caller(
        await gateway.staff(lines=("demo",), link=staff_link),
        STAFF_TONE,
        PatternTrack() if cameras else None,
    )
    answered = await staff.signal.request("staff.answer_next", line="demo")
    assert answered["line"] == "demo"
    staff.resume_token = answered["resumeToken"]
    await staff.start_media()
    connected = await resident.signal.next_event("call.connected")
    assert connected["callId"] == answered["callId"]
    return resident, staff
