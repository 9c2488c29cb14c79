"""A scripted signalling client with an in-process aiortc peer, as a browser would be."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from typing import Any

import aiohttp
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)

from media.ice import pinned_host_addresses
from tests.support.audio import AudioSink, ToneTrack

LOOPBACK = ("127.0.0.1",)


class RequestFailed(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


ENDED = (
    aiohttp.WSMsgType.CLOSE,
    aiohttp.WSMsgType.CLOSING,
    aiohttp.WSMsgType.CLOSED,
    aiohttp.WSMsgType.ERROR,
)


class SignalClient:
    """One WebSocket to the gateway: requests with ids, events in a queue."""

    def __init__(self, http: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.http = http
        self.ws = ws
        self._ids = itertools.count(1)
        self._pending: dict[int | None, asyncio.Future[dict[str, Any]]] = {}
        self._events: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self.unsolicited_errors: list[dict[str, Any]] = []
        self._reader = asyncio.ensure_future(self._read())
        self.closed = asyncio.Event()

    @classmethod
    async def connect(
        cls,
        base_url: str,
        http: aiohttp.ClientSession | None = None,
        origin: str | None = None,
        autoping: bool = True,
    ) -> SignalClient:
        own = http is None
        if http is None:
            http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        ws = await http.ws_connect(
            base_url.replace("http", "ws", 1) + "/ws",
            headers={"Origin": origin or base_url},
            heartbeat=None,
            autoping=autoping,
        )
        client = cls(http, ws)
        client._owns_http = own
        return client

    _owns_http = False
    close_reason: str | None = None
    """The reason the gateway gave when it closed the socket."""

    async def _read(self) -> None:
        try:
            while True:
                message = await self.ws.receive()
                if message.type == aiohttp.WSMsgType.CLOSE:
                    self.close_reason = str(message.extra or "")
                if message.type in ENDED:
                    break
                if message.type != aiohttp.WSMsgType.TEXT:
                    continue
                data = json.loads(message.data)
                kind = data.get("type")
                if kind in ("result", "error") and data.get("id") in self._pending:
                    self._pending.pop(data["id"]).set_result(data)
                else:
                    if kind == "error":
                        self.unsolicited_errors.append(data)
                    self.events(str(kind)).put_nowait(data)
        finally:
            self.closed.set()
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(ConnectionError("socket closed"))

    async def send_raw(self, data: str | bytes) -> None:
        if isinstance(data, bytes):
            await self.ws.send_bytes(data)
        else:
            await self.ws.send_str(data)

    async def call(self, type_: str, **fields: Any) -> dict[str, Any]:
        """Send a request and return the whole reply (result or error)."""
        request_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        await self.ws.send_str(json.dumps({"id": request_id, "type": type_, **fields}))
        return await asyncio.wait_for(future, timeout=15)

    async def request(self, type_: str, **fields: Any) -> dict[str, Any]:
        """Send a request; return its result or raise :class:`RequestFailed`."""
        reply = await self.call(type_, **fields)
        if reply["type"] == "error":
            raise RequestFailed(reply["error"]["code"], reply["error"]["message"])
        result: dict[str, Any] = reply["result"]
        return result

    def events(self, type_: str) -> asyncio.Queue[dict[str, Any]]:
        """The queue of received events of one type."""
        return self._events.setdefault(type_, asyncio.Queue())

    async def next_event(self, type_: str, timeout: float = 10) -> dict[str, Any]:
        """Wait for the next event of ``type_``."""
        return await asyncio.wait_for(self.events(type_).get(), timeout)

    async def wait_participant(
        self, state: str, role: str | None = None, timeout: float = 10
    ) -> dict[str, Any]:
        """Wait for a ``participant.updated`` event with that state (and role)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            event = await self.next_event("participant.updated", max(0.01, deadline - loop.time()))
            participant = event["participant"]
            if participant["state"] == state and role in (None, participant["role"]):
                return event

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
        if self._owns_http:
            await self.http.close()


class Caller:
    """A participant with a tone 'microphone' and a sink for what it hears."""

    def __init__(
        self, signal: SignalClient, frequency: float, camera: MediaStreamTrack | None = None
    ) -> None:
        self.signal = signal
        self.tone = ToneTrack(frequency)
        self.camera = camera
        self.sink = AudioSink()
        self.sinks: list[AudioSink] = [self.sink]  # one per received audio track
        self.video_received: list[MediaStreamTrack] = []
        self.pc: RTCPeerConnection | None = None
        self.resume_token: str | None = None  # the latest one the gateway handed out
        self._offers: asyncio.Task[None] | None = None

    async def start_media(self) -> None:
        """Offer audio to the gateway and keep answering its offers."""
        # No ICE servers: aiortc's default would be a public STUN server.
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pc = pc
        pc.addTrack(self.tone)
        if self.camera is not None:
            pc.addTrack(self.camera)

        @pc.on("track")
        def on_track(track: Any) -> None:
            if track.kind == "video":
                self.video_received.append(track)
            elif self.sink.consuming:
                extra = AudioSink()
                self.sinks.append(extra)
                extra.consume(track)
            else:
                self.sink.consume(track)

        with pinned_host_addresses(LOOPBACK):
            await pc.setLocalDescription(await pc.createOffer())
        result = await self.signal.request("offer", sdp=pc.localDescription.sdp)
        await pc.setRemoteDescription(RTCSessionDescription(result["sdp"], "answer"))
        self._offers = asyncio.ensure_future(self._answer_offers())

    async def _answer_offers(self) -> None:
        while True:
            event = await self.signal.next_event("offer", timeout=3600)
            pc = self.pc
            if pc is None:
                return
            await pc.setRemoteDescription(RTCSessionDescription(event["sdp"], "offer"))
            with pinned_host_addresses(LOOPBACK):
                await pc.setLocalDescription(await pc.createAnswer())
            await self.signal.request("answer", sdp=pc.localDescription.sdp)

    async def wait_hears(self, frequency: float, timeout: float = 10) -> float:
        """Wait until the dominant received frequency is within 5 % of ``frequency``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        heard = 0.0
        while loop.time() < deadline:
            heard = self.sink.dominant_frequency()
            if abs(heard - frequency) < frequency * 0.05:
                return heard
            await asyncio.sleep(0.2)
        raise AssertionError(f"expected to hear {frequency} Hz, heard {heard:.0f} Hz")

    def heard(self) -> list[float]:
        """The dominant frequency of each received audio track (0 for a silent one)."""
        return [sink.dominant_frequency() for sink in self.sinks]

    async def wait_hears_all(
        self, frequencies: list[float], not_frequency: float | None = None, timeout: float = 10
    ) -> None:
        """Wait until each of ``frequencies`` is heard on some track (and never our own)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        heard: list[float] = []
        while loop.time() < deadline:
            heard = self.heard()
            found = all(any(abs(h - f) < f * 0.05 for h in heard) for f in frequencies)
            if found:
                if not_frequency is not None:
                    assert not any(abs(h - not_frequency) < not_frequency * 0.05 for h in heard)
                return
            await asyncio.sleep(0.2)
        raise AssertionError(f"expected to hear {frequencies} Hz, heard {heard}")

    def reset_sinks(self) -> None:
        for sink in self.sinks:
            sink.reset()

    async def restart_media(self, signal: SignalClient) -> None:
        """A reloaded page: a new socket and a new peer connection (the old one closed)."""
        await self.stop_media()
        self.signal = signal
        self.tone = ToneTrack(self.tone.frequency)
        self.sink = AudioSink()
        self.sinks = [self.sink]
        await self.start_media()

    async def stop_media(self) -> None:
        if self._offers is not None:
            self._offers.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._offers
            self._offers = None
        for sink in self.sinks:
            await sink.stop()
        if self.pc is not None:
            await self.pc.close()
            self.pc = None
