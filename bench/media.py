"""Cheap WebRTC endpoints: pre-encoded Opus out, RTP bytes read off the transport in.

Neither side encodes nor decodes per packet. The sender hands aiortc ``av.Packet`` objects
(aiortc only packetises them); the receiver takes decrypted RTP from the DTLS transport
before aiortc parses it (as the gateway's ``media/peer.py`` does), reads the stamp from the
Opus padding and counts. Packets are not passed on to aiortc, so no jitter buffer or
decoder ever runs in the generator.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import av
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection
from aiortc.mediastreams import MediaStreamError

from bench.payload import SAMPLES_PER_FRAME, TIME_BASE, is_onset, read_stamp, wrap
from media.ice import pinned_host_addresses

LOOPBACK = ("127.0.0.1",)
FRAME_NS = 20_000_000


class StampedOpusTrack(MediaStreamTrack):
    """An audio track that sends a pre-encoded Opus cycle, stamped, at a 20 ms pace."""

    kind = "audio"

    def __init__(self, cycle: Sequence[bytes]) -> None:
        super().__init__()
        self._cycle = cycle
        self._index = 0
        self._start_ns = 0
        self.sent = 0
        # Send times of the last few tone onsets (the first packet of each cycle).
        self.onsets: list[int] = []

    async def recv(self) -> av.Packet[Any]:
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic_ns()
        if self._start_ns == 0:
            self._start_ns = now
        due = self._start_ns + self._index * FRAME_NS
        if due > now:
            await asyncio.sleep((due - now) / 1e9)
            now = time.monotonic_ns()
        if self.readyState != "live":
            raise MediaStreamError
        position = self._index % len(self._cycle)
        if position == 0:
            self.onsets.append(now)
            del self.onsets[:-4]
        packet = av.Packet(wrap(self._cycle[position], now, self._index))
        packet.pts = self._index * SAMPLES_PER_FRAME
        packet.time_base = TIME_BASE
        self._index += 1
        self.sent += 1
        return packet


class ReceiveStats:
    """What one endpoint received: counts, first arrival, one-way latency samples."""

    def __init__(self) -> None:
        self.received = 0
        self.stamped = 0
        self.first_ns = 0
        self.first_arrival = asyncio.Event()
        self.recording = False
        # (arrival ns, latency ns) from payload stamps, and from tone onsets.
        self.latency: list[tuple[int, int]] = []
        self.onset_latency: list[tuple[int, int]] = []
        self.max_sequence = -1
        self.window_packets = 0
        self.window_sequences: set[int] = set()
        self.reordered = 0
        self.peer: StampedOpusTrack | None = None
        self._last_size = 1 << 30

    def on_payload(self, payload: bytes, now: int) -> None:
        self.received += 1
        if self.first_ns == 0:
            self.first_ns = now
            self.first_arrival.set()
        size = len(payload)
        onset = is_onset(self._last_size, size)
        self._last_size = size
        stamp = read_stamp(payload)
        if stamp is not None:
            self.stamped += 1
            sent_ns, sequence = stamp
            if sequence < self.max_sequence:
                self.reordered += 1
            else:
                self.max_sequence = sequence
            if self.recording:
                self.latency.append((now, now - sent_ns))
                self.window_packets += 1
                self.window_sequences.add(sequence)
        if onset and self.recording and self.peer is not None:
            # The latest onset the peer sent before this arrival (within a second).
            for sent_ns in reversed(self.peer.onsets):
                if sent_ns <= now:
                    if now - sent_ns < 900_000_000:
                        self.onset_latency.append((now, now - sent_ns))
                    break


def hook_receiving(pc: RTCPeerConnection, stats: ReceiveStats, hooked: set[int]) -> None:
    """Read every RTP packet arriving on ``pc``'s transports into ``stats``."""
    for transceiver in pc.getTransceivers():
        transport: Any = transceiver.receiver.transport
        if transport is None or id(transport) in hooked:
            continue
        hooked.add(id(transport))

        async def handle_rtp_data(data: bytes, arrival_time_ms: int) -> None:
            now = time.monotonic_ns()
            first = data[0]
            offset = 12 + 4 * (first & 0x0F)
            if first & 0x10 and len(data) >= offset + 4:
                offset += 4 + 4 * int.from_bytes(data[offset + 2 : offset + 4], "big")
            end = len(data) - (data[-1] if first & 0x20 else 0)
            if offset < end:
                stats.on_payload(data[offset:end], now)

        transport._handle_rtp_data = handle_rtp_data


def new_peer_connection() -> RTCPeerConnection:
    """No ICE servers: aiortc's default would be a public STUN server."""
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


async def set_local(pc: RTCPeerConnection, kind: str, addresses: Sequence[str] = LOOPBACK) -> str:
    """Create and apply an offer or answer with host candidates on ``addresses`` only."""
    with pinned_host_addresses(addresses):
        description = await (pc.createOffer() if kind == "offer" else pc.createAnswer())
        await pc.setLocalDescription(description)
    return str(pc.localDescription.sdp)
