"""Forwarding of encoded Opus audio between participants, without decoding.

The inbound side taps each RTP packet as aiortc hands it to the receiver and passes the
Opus payload on at once (no jitter-buffer wait); aiortc's own decoder thread is given a
queue that discards, so nothing is ever decoded. The outbound side is a
:class:`EncodedAudioTrack` whose ``recv()`` returns ``av.Packet``s: aiortc's sender packs
pre-encoded packets as they are (no encoder runs) and rewrites SSRC, sequence numbers and
timestamps for its own leg.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Awaitable, Callable
from fractions import Fraction
from typing import Any

import av
from aiortc import MediaStreamTrack, RTCRtpReceiver
from aiortc.mediastreams import MediaStreamError
from aiortc.rtp import RtpPacket

logger = logging.getLogger(__name__)

OPUS_CLOCK_RATE = 48000
OPUS_TIME_BASE = Fraction(1, OPUS_CLOCK_RATE)
MAX_QUEUED_FRAMES = 25  # 0.5 s of 20 ms frames; older frames are dropped first


class EncodedAudioTrack(MediaStreamTrack):
    """An outbound audio track fed with encoded Opus frames from another participant."""

    kind = "audio"

    def __init__(self, max_queued: int = MAX_QUEUED_FRAMES) -> None:
        super().__init__()
        self._frames: deque[av.Packet[Any]] = deque(maxlen=max_queued)
        self._ready = asyncio.Event()
        self.frames_in = 0
        self.frames_dropped = 0

    def push(self, payload: bytes, pts: int) -> None:
        """Queue one encoded frame; the oldest is dropped when the queue is full."""
        if self.readyState != "live":
            return
        if len(self._frames) == self._frames.maxlen:
            self.frames_dropped += 1
        packet = av.Packet(payload)
        packet.pts = pts
        packet.time_base = OPUS_TIME_BASE
        self._frames.append(packet)
        self.frames_in += 1
        self._ready.set()

    async def recv(self) -> av.Packet[Any]:
        while not self._frames:
            if self.readyState != "live":
                raise MediaStreamError
            self._ready.clear()
            await self._ready.wait()
        return self._frames.popleft()

    def stop(self) -> None:
        super().stop()
        self._frames.clear()
        self._ready.set()


class _DiscardingDecoderQueue:
    """Stands in for aiortc's decoder queue: frames are dropped, ``None`` ends the thread."""

    def __init__(self) -> None:
        self._stopped = threading.Event()

    def put(self, item: object) -> None:
        if item is None:
            self._stopped.set()

    def get(self) -> None:
        self._stopped.wait()
        return None


class _TimestampUnwrapper:
    """Turns 32-bit RTP timestamps into a monotonic-ish count from the first packet."""

    def __init__(self) -> None:
        self._last: int | None = None
        self._value = 0

    def unwrap(self, timestamp: int) -> int:
        if self._last is None:
            self._last = timestamp
            return 0
        diff = ((timestamp - self._last + 0x80000000) & 0xFFFFFFFF) - 0x80000000
        self._last = timestamp
        self._value += diff
        return self._value


class AudioTap:
    """Receives one participant's Opus packets and fans them out to outbound tracks."""

    def __init__(self, opus_payload_types: frozenset[int]) -> None:
        self._payload_types = opus_payload_types
        self._sinks: list[EncodedAudioTrack] = []
        self._unwrapper = _TimestampUnwrapper()
        self._recent: deque[int] = deque(maxlen=64)
        self.packets_received = 0
        self.bytes_received = 0

    def set_payload_types(self, payload_types: frozenset[int]) -> None:
        self._payload_types = payload_types

    def add_sink(self, sink: EncodedAudioTrack) -> None:
        if sink not in self._sinks:
            self._sinks.append(sink)

    def remove_sink(self, sink: EncodedAudioTrack) -> None:
        if sink in self._sinks:
            self._sinks.remove(sink)

    def clear(self) -> None:
        self._sinks.clear()

    def on_packet(self, packet: RtpPacket) -> None:
        """Forward one RTP packet's payload if it is Opus and not a duplicate."""
        if packet.payload_type not in self._payload_types or not packet.payload:
            return
        if packet.sequence_number in self._recent:
            return
        self._recent.append(packet.sequence_number)
        self.packets_received += 1
        self.bytes_received += len(packet.payload)
        pts = self._unwrapper.unwrap(packet.timestamp)
        for sink in self._sinks:
            sink.push(packet.payload, pts)

    def attach(self, receiver: RTCRtpReceiver) -> None:
        """Hook into ``receiver`` before it starts (i.e. from the ``track`` event).

        The receiver keeps doing its RTCP work (statistics, receiver reports, NACKs); its
        decoder thread gets a queue that discards frames, so nothing is decoded.
        """
        if getattr(receiver, "_tukilinja_tapped", False):
            return
        receiver._tukilinja_tapped = True  # type: ignore[attr-defined]
        # aiortc has no public hook for encoded frames; these are the two places to reach.
        receiver._RTCRtpReceiver__decoder_queue = _DiscardingDecoderQueue()  # type: ignore[attr-defined]
        original: Callable[..., Awaitable[None]] = receiver._handle_rtp_packet
        tap = self.on_packet

        async def handle_rtp_packet(packet: RtpPacket, arrival_time_ms: int) -> None:
            tap(packet)
            await original(packet, arrival_time_ms)

        receiver._handle_rtp_packet = handle_rtp_packet  # type: ignore[method-assign]


def opus_payload_types(sdp: str, kind: str = "audio") -> frozenset[int]:
    """Payload types that ``sdp`` maps to Opus in its ``kind`` sections."""
    types: set[int] = set()
    in_kind = False
    for line in sdp.splitlines():
        if line.startswith("m="):
            in_kind = line.startswith(f"m={kind} ")
        elif in_kind and line.startswith("a=rtpmap:"):
            head, _, codec = line[len("a=rtpmap:") :].partition(" ")
            if codec.lower().startswith("opus/") and head.isdigit():
                types.add(int(head))
    return frozenset(types)


def drain_track(track: MediaStreamTrack) -> asyncio.Task[Any]:
    """Consume an inbound track until it ends (it carries nothing once the tap is attached)."""

    async def run() -> None:
        try:
            while True:
                await track.recv()
        except MediaStreamError:
            pass

    return asyncio.ensure_future(run())
