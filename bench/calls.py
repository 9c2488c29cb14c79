"""Calls through the gateway (one-to-one, or three-party with an interpreter), and direct
pairs that bypass it."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiohttp
from aiortc import RTCPeerConnection, RTCSessionDescription

from bench.media import (
    ReceiveStats,
    StampedOpusTrack,
    hook_receiving,
    new_peer_connection,
    set_local,
)
from bench.proc import GatewayProcess
from gateway.cli import signin_link
from gateway.config import load_config
from tests.support.client import SignalClient

LINE = "demo"
STEP_TIMEOUT = 20.0
INTERPRETER_LANGUAGE = "ar"
# Stamp sources in a three-party call (one-to-one calls send as source 0 throughout).
RESIDENT_SOURCE, STAFF_SOURCE, INTERPRETER_SOURCE = 0, 1, 2


class Endpoint:
    """One participant's peer connection: a stamped sender and a counting receiver."""

    def __init__(self, cycle: Sequence[bytes], source: int = 0) -> None:
        self.pc: RTCPeerConnection = new_peer_connection()
        self.track = StampedOpusTrack(cycle, source)
        self.stats = ReceiveStats()
        self._hooked: set[int] = set()
        self.pc.addTrack(self.track)

    def hook(self) -> None:
        hook_receiving(self.pc, self.stats, self._hooked)

    async def close(self) -> None:
        self.track.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.pc.close(), 10)


class SignalledEndpoint(Endpoint):
    """An endpoint that negotiates with the gateway over a signalling socket."""

    def __init__(self, cycle: Sequence[bytes], signal: SignalClient, source: int = 0) -> None:
        super().__init__(cycle, source)
        self.signal = signal
        self._answering: asyncio.Task[None] | None = None

    async def offer(self) -> None:
        sdp = await set_local(self.pc, "offer")
        result = await self.signal.request("offer", sdp=sdp)
        await self.pc.setRemoteDescription(RTCSessionDescription(result["sdp"], "answer"))
        self.hook()
        if self._answering is None:
            self._answering = asyncio.ensure_future(self._answer_offers())

    async def _answer_offers(self) -> None:
        while True:
            event = await self.signal.events("offer").get()
            await self.pc.setRemoteDescription(RTCSessionDescription(event["sdp"], "offer"))
            self.hook()
            sdp = await set_local(self.pc, "answer")
            await self.signal.request("answer", sdp=sdp)

    async def close(self) -> None:
        if self._answering is not None:
            self._answering.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._answering
        await super().close()


async def connect_resident(gateway: GatewayProcess) -> SignalClient:
    client = await SignalClient.connect(gateway.base_url)
    await client.request("hello", protocol=1)
    return client


async def connect_staff(gateway: GatewayProcess, name: str) -> SignalClient:
    """A professional with a session of their own (one-time link -> cookie -> socket)."""
    config = load_config(None, gateway.env)
    token = signin_link(config, name, (LINE,)).split("#token=", 1)[1]
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    try:
        async with http.post(
            gateway.base_url + "/api/staff/signin",
            json={"token": token},
            headers={"Origin": gateway.base_url},
        ) as response:
            if response.status != 200:
                raise RuntimeError(
                    f"staff sign-in failed: {response.status} {await response.text()}"
                )
        client = await SignalClient.connect(gateway.base_url, http=http)
    except BaseException:
        await http.close()
        raise
    client._owns_http = True
    hello = await client.request("hello", protocol=1)
    if hello.get("role") != "staff":
        raise RuntimeError(f"expected a staff socket, got {hello.get('role')}")
    return client


@dataclass
class Call:
    """A resident and a professional talking through the gateway, maybe with an interpreter.

    ``join_seconds`` is the one-to-one join (``staff.answer_next`` to the first packet at
    both ends); for a three-party call ``interpreter_join_seconds`` is the interpreter's
    (``interpreter.join`` to the first packet of each of the four new streams).
    """

    resident: SignalledEndpoint
    staff: SignalledEndpoint
    staff_signal: SignalClient
    own_staff_socket: bool
    call_id: str = ""
    join_seconds: float = 0.0
    interpreter: SignalledEndpoint | None = None
    interpreter_join_seconds: float = 0.0
    timeline: dict[str, float] = field(default_factory=dict)

    @property
    def endpoints(self) -> tuple[SignalledEndpoint, ...]:
        if self.interpreter is None:
            return (self.resident, self.staff)
        return (self.resident, self.staff, self.interpreter)

    async def hang_up(self) -> None:
        # The professional's hangup ends the call for everyone.
        with contextlib.suppress(Exception):
            await self.staff_signal.request("hangup")
        for endpoint in self.endpoints:
            await endpoint.close()
        with contextlib.suppress(Exception):
            await self.resident.signal.close()
        if self.interpreter is not None:
            with contextlib.suppress(Exception):
                await self.interpreter.signal.close()
        if self.own_staff_socket:
            with contextlib.suppress(Exception):
                await self.staff_signal.close()


async def place_call(
    gateway: GatewayProcess,
    cycle: Sequence[bytes],
    queue_lock: asyncio.Lock,
    staff_signal: SignalClient | None = None,
    staff_name: str = "Bench professional",
    party: int = 2,
) -> Call:
    """Resident queues and offers; a professional answers and offers; wait for media both ways.

    ``queue_lock`` keeps one resident in the queue at a time, so the professional's
    ``staff.answer_next`` takes exactly this resident (the queue is first in, first out).
    Join time runs from sending ``staff.answer_next`` to the first packet received at both
    ends. With ``party=3`` an interpreter is then invited and joins (:func:`add_interpreter`).
    """
    if party not in (2, 3):
        raise ValueError(f"a call has 2 or 3 participants, not {party}")
    three = party == 3
    own = staff_signal is None
    step = "resident connect"
    resident_signal = await connect_resident(gateway)
    staff_socket = staff_signal
    resident: SignalledEndpoint | None = None
    staff: SignalledEndpoint | None = None
    try:
        if staff_socket is None:
            step = "staff sign-in"
            staff_socket = await connect_staff(gateway, staff_name)
        resident = SignalledEndpoint(cycle, resident_signal, RESIDENT_SOURCE if three else 0)
        staff = SignalledEndpoint(cycle, staff_socket, STAFF_SOURCE if three else 0)
        async with queue_lock:
            step = "queue.join"
            await resident_signal.request("queue.join", line=LINE)
            step = "resident offer"
            await resident.offer()
            started = time.monotonic_ns()
            step = "staff.answer_next"
            answered = await staff_socket.request("staff.answer_next", line=LINE)
        call = Call(resident, staff, staff_socket, own, call_id=str(answered["callId"]))
        # Each side measures latency against what the other sends (tone onsets).
        resident.stats.expect(staff.track)
        staff.stats.expect(resident.track)
        step = "staff offer"
        await staff.offer()
        step = "first packet at the resident"
        await asyncio.wait_for(resident.stats.first_arrival.wait(), STEP_TIMEOUT)
        step = "first packet at the professional"
        await asyncio.wait_for(staff.stats.first_arrival.wait(), STEP_TIMEOUT)
        last = max(resident.stats.first_ns, staff.stats.first_ns)
        call.join_seconds = (last - started) / 1e9
    except BaseException as exc:
        if isinstance(exc, Exception):
            exc.add_note(f"step: {step}")
        for endpoint in (resident, staff):
            if endpoint is not None:
                await endpoint.close()
        with contextlib.suppress(Exception):
            await resident_signal.close()
        if own and staff_socket is not None:
            with contextlib.suppress(Exception):
                await staff_socket.close()
        raise
    if three:
        try:
            await add_interpreter(gateway, call, cycle)
        except BaseException:
            await call.hang_up()
            raise
    return call


async def add_interpreter(gateway: GatewayProcess, call: Call, cycle: Sequence[bytes]) -> None:
    """The professional invites an interpreter, who joins on an anonymous socket and offers.

    The gateway then offers every participant the stream it lacks (its answer to the
    interpreter carries one, an ``offer`` event the other; the resident and the professional
    each get an ``offer`` adding the interpreter's). Join time runs from sending
    ``interpreter.join`` to the first packet of each of the four new streams: both at the
    interpreter, and the interpreter's at the resident and at the professional.
    """
    step = "interpreter.invite"
    interpreter: SignalledEndpoint | None = None
    signal: SignalClient | None = None
    try:
        invite = await call.staff_signal.request(
            "interpreter.invite", language=INTERPRETER_LANGUAGE
        )
        token = str(invite["url"]).split("#token=", 1)[1]
        step = "interpreter connect"
        signal = await connect_resident(gateway)
        interpreter = SignalledEndpoint(cycle, signal, INTERPRETER_SOURCE)
        interpreter.stats.expect(call.resident.track, call.staff.track)
        call.resident.stats.expect(call.staff.track, interpreter.track)
        call.staff.stats.expect(call.resident.track, interpreter.track)
        started = time.monotonic_ns()
        step = "interpreter.join"
        await signal.request("interpreter.join", token=token)
        step = "interpreter offer"
        await interpreter.offer()
        waits = (
            ("both streams at the interpreter", interpreter, (RESIDENT_SOURCE, STAFF_SOURCE)),
            ("the interpreter at the resident", call.resident, (INTERPRETER_SOURCE,)),
            ("the interpreter at the professional", call.staff, (INTERPRETER_SOURCE,)),
        )
        last = started
        for what, endpoint, sources in waits:
            step = f"first packet: {what}"
            first = await asyncio.wait_for(endpoint.stats.wait_streams(sources), STEP_TIMEOUT)
            last = max(last, first)
    except BaseException as exc:
        if isinstance(exc, Exception):
            exc.add_note(f"step: {step}")
        if interpreter is not None:
            await interpreter.close()
        if signal is not None:
            with contextlib.suppress(Exception):
                await signal.close()
        raise
    call.interpreter = interpreter
    call.interpreter_join_seconds = (last - started) / 1e9


@dataclass
class DirectPair:
    """Two endpoints connected to each other without the gateway: the reference path."""

    a: Endpoint
    b: Endpoint

    @property
    def endpoints(self) -> tuple[Endpoint, Endpoint]:
        return (self.a, self.b)

    async def close(self) -> None:
        await self.a.close()
        await self.b.close()


async def direct_pair(cycle: Sequence[bytes]) -> DirectPair:
    a, b = Endpoint(cycle), Endpoint(cycle)
    a.stats.expect(b.track)
    b.stats.expect(a.track)
    try:
        offer = await set_local(a.pc, "offer")
        await b.pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        b.hook()
        answer = await set_local(b.pc, "answer")
        await a.pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        a.hook()
        await asyncio.wait_for(a.stats.first_arrival.wait(), STEP_TIMEOUT)
        await asyncio.wait_for(b.stats.first_arrival.wait(), STEP_TIMEOUT)
    except BaseException:
        await a.close()
        await b.close()
        raise
    return DirectPair(a, b)


def describe(exc: BaseException) -> str:
    text = str(exc)
    notes = "; ".join(getattr(exc, "__notes__", []))
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        text = "timeout"
    else:
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return f"{text} ({notes})" if notes else text
