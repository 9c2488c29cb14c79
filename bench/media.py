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
from collections.abc import Iterable, Sequence
from typing import Any

import av
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection
from aiortc.mediastreams import MediaStreamError

from bench.payload import (
    INDEX_MASK,
    SAMPLES_PER_FRAME,
    SOURCE_SHIFT,
    TIME_BASE,
    is_onset,
    read_stamp,
    stamp_sequence,
    wrap,
)
from media.ice import pinned_host_addresses

LOOPBACK = ("127.0.0.1",)
FRAME_NS = 20_000_000


class StampedOpusTrack(MediaStreamTrack):
    """An audio track that sends a pre-encoded Opus cycle, stamped, at a 20 ms pace.

    ``source`` goes into the top byte of every stamp's sequence field, so a receiver that
    hears several senders (a three-party call) tells their streams apart; one-to-one calls
    use 0 throughout, which leaves their stamps the plain packet index.
    """

    kind = "audio"

    def __init__(self, cycle: Sequence[bytes], source: int = 0) -> None:
        super().__init__()
        stamp_sequence(source, 0)  # refuses a source that does not fit the stamp
        self._cycle = cycle
        self._index = 0
        self._start_ns = 0
        self.source = source
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
        sequence = stamp_sequence(self.source, self._index)
        packet = av.Packet(wrap(self._cycle[position], now, sequence))
        packet.pts = self._index * SAMPLES_PER_FRAME
        packet.time_base = TIME_BASE
        self._index += 1
        self.sent += 1
        return packet


class StreamStats:
    """One inbound stream of an endpoint: the packets of one sender (one stamp source)."""

    __slots__ = (
        "first_ns",
        "last_size",
        "max_index",
        "received",
        "reordered",
        "source",
        "window_indexes",
        "window_packets",
    )

    def __init__(self, source: int, first_ns: int) -> None:
        self.source = source
        self.first_ns = first_ns
        self.received = 0
        self.reordered = 0
        self.max_index = -1
        self.last_size = 1 << 30
        self.window_packets = 0
        # Packet indexes received while recording (duplicates collapse).
        self.window_indexes: set[int] = set()


class ReceiveStats:
    """What one endpoint received: counts, first arrival, one-way latency samples.

    Packets are kept apart by the stamp's source (:func:`bench.payload.split_sequence`):
    in a three-party call each endpoint receives two streams, and each is counted and
    checked for loss, duplicates and reordering on its own. Packets without a stamp (the
    relay baseline re-encodes them) count as source 0.
    """

    def __init__(self) -> None:
        self.received = 0
        self.stamped = 0
        self.first_ns = 0
        self.first_arrival = asyncio.Event()
        self.recording = False
        # (arrival ns, latency ns) from payload stamps, and from tone onsets.
        self.latency: list[tuple[int, int]] = []
        self.onset_latency: list[tuple[int, int]] = []
        # The tracks this endpoint should hear, by their stamp source.
        self.peers: dict[int, StampedOpusTrack] = {}
        self.streams: dict[int, StreamStats] = {}
        self._new_stream = asyncio.Event()

    def expect(self, *tracks: StampedOpusTrack) -> None:
        """The tracks whose packets this endpoint should receive (distinct sources)."""
        peers = {track.source: track for track in tracks}
        if len(peers) != len(tracks):
            raise ValueError("the tracks an endpoint hears need distinct sources")
        self.peers = peers

    @property
    def reordered(self) -> int:
        return sum(stream.reordered for stream in self.streams.values())

    @property
    def duplicates(self) -> int:
        """Packets received more than once while recording."""
        return sum(s.window_packets - len(s.window_indexes) for s in self.streams.values())

    def marks(self) -> dict[int, int]:
        """Per expected source: how many packets its track has sent so far."""
        return {source: track.sent for source, track in self.peers.items()}

    def delivery(self, start: dict[int, int], end: dict[int, int]) -> dict[int, tuple[int, int]]:
        """Per expected source: (distinct packets received, packets sent) in a window.

        ``start`` and ``end`` are :meth:`marks` at the window's ends: the packets with
        indexes in ``start[s] <= i < end[s]`` were sent in it. Only those count as
        received, so a packet sent just before the window and arriving in it does not
        make up for one lost inside it.
        """
        out: dict[int, tuple[int, int]] = {}
        for source, first in start.items():
            last = end[source]
            stream = self.streams.get(source)
            got = (
                0 if stream is None else sum(1 for i in stream.window_indexes if first <= i < last)
            )
            out[source] = (got, last - first)
        return out

    async def wait_streams(self, sources: Iterable[int]) -> int:
        """Until a packet of each of ``sources`` has arrived; the latest first arrival (ns)."""
        wanted = set(sources)
        while not wanted <= self.streams.keys():
            self._new_stream.clear()
            await self._new_stream.wait()
        return max((self.streams[s].first_ns for s in wanted), default=self.first_ns)

    def _add_stream(self, source: int, now: int) -> StreamStats:
        stream = self.streams[source] = StreamStats(source, now)
        self._new_stream.set()
        return stream

    def on_payload(self, payload: bytes, now: int) -> None:
        self.received += 1
        if self.first_ns == 0:
            self.first_ns = now
            self.first_arrival.set()
        size = len(payload)
        stamp = read_stamp(payload)
        source = 0 if stamp is None else stamp[1] >> SOURCE_SHIFT
        stream = self.streams.get(source)
        if stream is None:
            stream = self._add_stream(source, now)
        stream.received += 1
        onset = is_onset(stream.last_size, size)
        stream.last_size = size
        if stamp is not None:
            self.stamped += 1
            sent_ns, sequence = stamp
            index = sequence & INDEX_MASK
            if index < stream.max_index:
                stream.reordered += 1
            else:
                stream.max_index = index
            if self.recording:
                self.latency.append((now, now - sent_ns))
                stream.window_packets += 1
                stream.window_indexes.add(index)
        if onset and self.recording:
            peer = self.peers.get(source)
            if peer is not None:
                # The latest onset the peer sent before this arrival (within a second).
                for sent_ns in reversed(peer.onsets):
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
