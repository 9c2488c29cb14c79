"""Packet-level forwarding: RTP passes from one participant's transport to another's.

aiortc keeps doing ICE, DTLS, SRTP and SDP. Decrypted RTP is taken from the origin's DTLS
transport before aiortc parses it, rewritten for the destination leg (SSRC, payload type,
sequence number, timestamp, header extensions) and handed to the destination's transport at
once: no jitter buffer, no decoder, no per-frame objects.

RTCP stays per leg. Towards the origin, aiortc's receiver keeps sending receiver reports
from statistics fed here. Towards a destination, aiortc's sender sends sender reports from
counters kept up to date here; a viewer's NACK is answered from a short history of what was
sent (or passed to the origin), PLI/FIR are passed to the origin, and REMB is forwarded.

Padding-only packets (the P bit set and nothing but padding after the header: browsers'
bandwidth probes) are never forwarded as media: they are counted, fed to the origin's
receive statistics (they are part of its stream) and dropped. When such a packet follows the
newest one the origin sent, the sequence numbers after it are moved down by one, so a viewer
sees no gap it would ask to be retransmitted (an H.264 viewer without picture ids would
otherwise wait for a keyframe). Packets with payload and padding keep both, and CSRCs are
kept as they came.

Video passes a gate (:class:`VideoGate`, one per participant's connection, closed unless
the call has consent): every video packet is checked against the gate of the connection it
came in on and, per destination, that of the connection it would leave on; while either is
closed the packet is dropped and counted, whatever the client negotiated or sends. Audio
has no gate.

The destination socket follows aioice's nominated ICE pair: each packet compares the pair it
was sent on last time with the one now nominated (an identity check, nothing allocated).

aiortc has no public hook for any of this; everything private it reaches is in
:mod:`media.compat`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import struct
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from itertools import islice
from typing import TYPE_CHECKING, Any, Final

from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    RtcpPsfbPacket,
    RtcpRtpfbPacket,
    pack_remb_fci,
    unpack_remb_fci,
)

from media import compat
from media.compat import SR_NTP_TIMESTAMP, SR_OCTET_COUNT, SR_PACKET_COUNT, SR_RTP_TIMESTAMP
from media.rtp import find_one_byte_extension, header_length
from media.sdp import Section, match_codec, parse_sections

if TYPE_CHECKING:
    from aiortc import RTCRtpReceiver, RTCRtpSender, RTCRtpTransceiver
    from aiortc.rtcrtpreceiver import StreamStatistics

logger = logging.getLogger(__name__)

HISTORY_SIZE: Final = 512
NTP_EPOCH_OFFSET: Final = 2208988800
URI_MID: Final = "urn:ietf:params:rtp-hdrext:sdes:mid"
URI_AUDIO_LEVEL: Final = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
URI_ABS_SEND_TIME: Final = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
CLOCK_RATES: Final = {"audio": 48000, "video": 90000}
# After a change of origin the timestamps continue one frame on (20 ms of Opus, 1/30 s).
TIMESTAMP_STEPS: Final = {"audio": 960, "video": 3000}
_FIXED_HEADER: Final = struct.Struct("!BBHII")


def codec_name(key: str) -> str:
    """``opus/48000/2`` -> ``opus``."""
    return key.split("/", 1)[0]


def section_for(sdp: str, mid: str | None) -> Section | None:
    if mid is None:
        return None
    _, sections = parse_sections(sdp)
    for section in sections:
        if section.mid == mid:
            return section
    return None


class Negotiation:
    """The remote description a peer connection last applied, and a counter of changes.

    aiortc's ``remoteDescription`` property serialises the SDP anew on every access, far
    too slow per packet; the forwarding path compares this counter instead.
    """

    def __init__(self) -> None:
        self.version = 0
        self.remote_sdp: str | None = None

    def applied(self, remote_sdp: str | None) -> None:
        self.remote_sdp = remote_sdp
        self.version += 1


class VideoGate:
    """Whether video may pass to and from one participant's connection.

    Read by the forwarding path on every video packet (one attribute, never cached), so a
    change takes effect with the next packet. Change it only through
    :meth:`media.peer.MediaPeer.set_video_allowed`, which also does what a change entails
    (a keyframe request on opening, forgetting sent video on closing).
    """

    __slots__ = ("allowed",)

    def __init__(self, allowed: bool = False) -> None:
        self.allowed = allowed


_background: set[asyncio.Task[None]] = set()


def _spawn(request: Coroutine[Any, Any, None]) -> None:
    """Run an RTCP request from synchronous code, keeping it referenced until it is done.

    Outside an event loop (the forwarding path driven by hand) there is nobody to send it.
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        request.close()
        return
    task = loop.create_task(request)
    _background.add(task)
    task.add_done_callback(_request_done)


def _request_done(task: asyncio.Task[None]) -> None:
    _background.discard(task)
    if not task.cancelled() and task.exception() is not None:
        logger.debug("an RTCP request failed: %s", type(task.exception()).__name__)


class _SeqTs:
    """A reusable stand-in for aiortc's ``RtpPacket`` when feeding receive statistics."""

    __slots__ = ("sequence_number", "timestamp")

    def __init__(self) -> None:
        self.sequence_number = 0
        self.timestamp = 0


class InboundStream:
    """One participant's incoming stream of one kind, and where it is forwarded.

    With a ``gate`` (video), packets that arrive while it is closed still count in the
    receive statistics (the origin's receiver reports stay true) but go nowhere: they are
    counted in ``gated`` and ``dropped``. Without one (audio), nothing is held back.
    """

    def __init__(
        self,
        kind: str,
        receiver: RTCRtpReceiver,
        negotiation: Negotiation,
        mid: str | None,
        gate: VideoGate | None = None,
    ) -> None:
        self.kind = kind
        self.negotiation = negotiation
        self.mid = mid
        self.gate = gate
        self._receiver = receiver
        self.destinations: list[OutboundStream] = []
        self.origin_ssrc: int | None = None
        self._sample = _SeqTs()
        self._stats: StreamStatistics | None = None
        self.packets = 0
        self.bytes = 0
        self.dropped = 0  # malformed, padding-only or held back by the gate: never forwarded
        self.padding = 0  # of which padding-only
        self.gated = 0  # of which held back by the gate
        # Sequence numbers freed by dropped padding (see the module's docs): packets newer
        # than the latest run of dropped padding move down by ``_shift``, older ones by
        # ``_shift_before`` (the shift before that run).
        self._shift = 0
        self._shift_before = 0
        self._run_start = 0
        self._last_padding: int | None = None

    def add_destination(self, destination: OutboundStream) -> None:
        if destination not in self.destinations:
            self.destinations.append(destination)
            destination.source = self

    def remove_destination(self, destination: OutboundStream) -> None:
        if destination in self.destinations:
            self.destinations.remove(destination)
        if destination.source is self:
            destination.source = None

    def on_packet(self, data: bytes) -> None:
        """Forward one decrypted RTP packet to every destination."""
        if len(data) < 12:
            self.dropped += 1
            return
        first, _, sequence, timestamp, ssrc = _FIXED_HEADER.unpack_from(data)
        length = 12 + 4 * (first & 0x0F)
        if first & 0x10:
            length = header_length(data)
            if length < 0:
                self.dropped += 1
                return
        elif length > len(data):
            self.dropped += 1
            return
        if first & 0x20:
            self._on_padded(data, length, sequence, timestamp, ssrc)
            return
        if ssrc != self.origin_ssrc:
            self._switch_origin(ssrc)
        sample = self._sample
        sample.sequence_number = sequence
        sample.timestamp = timestamp
        assert self._stats is not None
        self._stats.add(sample)  # type: ignore[arg-type]
        gate = self.gate
        if gate is not None and not gate.allowed:
            self.dropped += 1
            self.gated += 1
            return
        if self._shift:
            sequence = self._compact(sequence)
        self.packets += 1
        self.bytes += len(data) - length
        for destination in self.destinations:
            destination.send(data, length, sequence, timestamp)

    def _on_padded(
        self, data: bytes, length: int, sequence: int, timestamp: int, ssrc: int
    ) -> None:
        """:meth:`on_packet` for a packet with the padding flag: drop it if padding only."""
        padding = data[-1]
        payload = len(data) - length - padding
        if not padding or payload < 0:
            self.dropped += 1
            return
        if ssrc != self.origin_ssrc:
            self._switch_origin(ssrc)
        sample = self._sample
        sample.sequence_number = sequence
        sample.timestamp = timestamp
        stats = self._stats
        assert stats is not None
        newest = compat.highest_sequence(stats)
        # Counted as received either way: it is part of the origin's stream.
        stats.add(sample)  # type: ignore[arg-type]
        if not payload:
            self._drop_padding(sequence, newest)
            return
        gate = self.gate
        if gate is not None and not gate.allowed:
            self.dropped += 1
            self.gated += 1
            return
        if self._shift:
            sequence = self._compact(sequence)
        self.packets += 1
        self.bytes += payload
        for destination in self.destinations:
            destination.send(data, length, sequence, timestamp)

    def on_retransmission(self, data: bytes, base_payload_type: int) -> None:
        """An RTX packet from the origin: forward the original packet it carries.

        The destination never sent that sequence number (the packet was lost before the
        gateway), so it goes out as an ordinary packet. Its CSRCs and padding are kept; an
        RTX packet of padding only (a bandwidth probe) is dropped.
        """
        length = header_length(data) if len(data) >= 12 else -1
        if length < 0 or len(data) < length + 2 or self.origin_ssrc is None:
            self.dropped += 1
            return
        first = data[0]
        if first & 0x20:
            padding = data[-1]
            if not padding or length + padding > len(data):
                self.dropped += 1
                return
            if length + 2 + padding >= len(data):  # a probe, or a retransmitted one
                self.dropped += 1
                self.padding += 1
                return
        gate = self.gate
        if gate is not None and not gate.allowed:
            self.dropped += 1
            self.gated += 1
            return
        csrc_end = 12 + 4 * (first & 0x0F)
        original = bytearray(data[:csrc_end])
        original[0] &= 0xEF  # no extensions (rebuilt per leg anyway)
        original[1] = (data[1] & 0x80) | base_payload_type
        original[2:4] = data[length : length + 2]
        original[8:12] = self.origin_ssrc.to_bytes(4, "big")
        packet = bytes(original) + data[length + 2 :]
        sequence = int.from_bytes(packet[2:4], "big")
        if self._shift:
            sequence = self._compact(sequence)
        timestamp = int.from_bytes(packet[4:8], "big")
        self.packets += 1
        self.bytes += len(packet) - csrc_end
        for destination in self.destinations:
            destination.send(packet, csrc_end, sequence, timestamp)

    def _drop_padding(self, sequence: int, newest: int | None) -> None:
        """Drop a padding-only packet; free its sequence number when it was the newest."""
        self.dropped += 1
        self.padding += 1
        if newest is None or (sequence - newest) & 0xFFFF != 1:
            return  # late or after a loss: its number stays a gap, as a loss would
        if self._last_padding != newest:
            self._run_start = sequence
            self._shift_before = self._shift
        self._shift = (self._shift + 1) & 0xFFFF
        self._last_padding = sequence

    def _compact(self, sequence: int) -> int:
        """The origin's sequence number less the numbers of padding dropped before it."""
        if (sequence - self._run_start) & 0xFFFF >= 0x8000:
            return (sequence - self._shift_before) & 0xFFFF
        return (sequence - self._shift) & 0xFFFF

    def _expand(self, sequence: int) -> int:
        """The inverse of :meth:`_compact` (for packets after the latest padding run)."""
        origin = (sequence + self._shift) & 0xFFFF
        if (origin - self._run_start) & 0xFFFF >= 0x8000:
            return (sequence + self._shift_before) & 0xFFFF
        return origin

    def _switch_origin(self, ssrc: int) -> None:
        self.origin_ssrc = ssrc
        self._shift = self._shift_before = 0
        self._last_padding = None
        # aiortc's receiver builds its receiver reports from these statistics.
        streams = compat.receiver_statistics(self._receiver)
        stats = streams.get(ssrc)
        if stats is None:
            stats = streams[ssrc] = compat.new_statistics(CLOCK_RATES[self.kind])
        self._stats = stats
        for destination in self.destinations:
            destination.origin_changed()

    async def request_keyframe(self) -> None:
        if self.origin_ssrc is not None:
            await compat.send_pli(self._receiver, self.origin_ssrc)

    def want_keyframe(self) -> None:
        """Ask the origin for a keyframe now (PLI), unless it has sent nothing yet.

        A viewer that starts receiving mid-stream (its leg just negotiated, or a gate just
        opened) cannot decode until one comes. An origin that has sent nothing yet starts
        with one anyway.
        """
        if self.origin_ssrc is not None:
            _spawn(self.request_keyframe())

    def gate_opened(self) -> None:
        """The gate opened: destinations go on without a gap; a keyframe is asked for."""
        for destination in self.destinations:
            destination.resume_after_gap()
        self.want_keyframe()

    def gate_closed(self) -> None:
        """The gate closed: what the destinations sent is no longer resent on a NACK."""
        for destination in self.destinations:
            destination.forget_sent()

    async def request_retransmission(self, lost: list[int]) -> None:
        """Ask the origin for ``lost`` (forwarded numbering, before any leg's offset)."""
        if self.origin_ssrc is not None and lost:
            if self._shift:
                lost = [self._expand(seq) for seq in lost]
            await compat.send_nack(self._receiver, self.origin_ssrc, lost)

    async def forward_remb(self, bitrate: int) -> None:
        rtcp_ssrc = compat.receiver_rtcp_ssrc(self._receiver)
        if self.origin_ssrc is None or rtcp_ssrc is None:
            return
        packet = RtcpPsfbPacket(
            fmt=RTCP_PSFB_APP,
            ssrc=rtcp_ssrc,
            media_ssrc=0,
            fci=pack_remb_fci(bitrate, [self.origin_ssrc]),
        )
        await compat.send_rtcp(self._receiver, packet)


@dataclass
class _Leg:
    """What a destination leg negotiated, read from the descriptions once per change."""

    sender: RTCRtpSender
    ssrc: int
    payload_types: dict[str, int]  # codec key (media.sdp) -> payload type
    rtx_payload_types: dict[int, int]  # media payload type -> its RTX payload type
    rtx_ssrc: int
    mid: bytes
    mid_id: int | None
    audio_level_id: int | None
    abs_send_time_id: int | None
    counters: dict[str, Any] = field(default_factory=dict)  # sender's (media.compat.SR_*)
    extension_head: bytes = b""
    plain_tail: bytes = b""
    level_head: bytes = b""
    level_pad: bytes = b""

    def __post_init__(self) -> None:
        """Precompute the one-byte extension block: mid, abs-send-time, audio level.

        Packets carry mid and abs-send-time when this leg negotiated them; the block ends
        with the abs-send-time value, then (when the origin sent one) the audio level.
        """
        if not self.abs_send_time_id:
            return  # mid alone is not worth a block: the SSRC is signalled in the SDP
        head = b""
        if self.mid_id:
            head += bytes([(self.mid_id << 4) | (len(self.mid) - 1)]) + self.mid
        head += bytes([(self.abs_send_time_id << 4) | 2])
        plain = len(head) + 3
        with_level = plain + (2 if self.audio_level_id else 0)
        self.plain_tail = b"\0" * (-plain % 4)
        words_plain = (plain + 3) // 4
        words_level = (with_level + 3) // 4
        self.extension_head = b"\xbe\xde" + words_plain.to_bytes(2, "big") + head
        self.level_head = b"\xbe\xde" + words_level.to_bytes(2, "big") + head
        self.level_pad = b"\0" * (-with_level % 4)

    def level_tail(self, level: int) -> bytes:
        """The block's end when an audio level is carried (its head's length differs)."""
        return bytes([(self.audio_level_id or 0) << 4, level]) + self.level_pad


class OutboundStream:
    """One forwarded stream as it leaves on a participant's connection.

    With a ``gate`` (video: the gate of the connection it leaves on), nothing is sent while
    it is closed: packets are counted in ``gated`` and ``dropped``, NACKs go unanswered.
    """

    def __init__(self, kind: str, negotiation: Negotiation, gate: VideoGate | None = None) -> None:
        self.kind = kind
        self.gate = gate
        self._transceiver: RTCRtpTransceiver | None = None
        self._negotiation = negotiation
        self.source: InboundStream | None = None
        self._seq_delta = random.getrandbits(16)
        self._ts_delta = random.getrandbits(32)
        self._history: list[bytes | None] = [None] * HISTORY_SIZE
        self._leg: _Leg | None = None
        self._leg_for = -1
        self._origin_level_id = 0
        self._pt_map: dict[int, int] = {}
        self._origin_for = -1
        self._last_seq: int | None = None
        self._last_ts = 0
        self._pending_resync = False
        self._resync_timestamps = False
        self._numbered_from: int | None = None  # first number after the latest resync
        self._rtx_seq = random.getrandbits(16)
        # Where packets go: SRTP protect, socket sendto and address of ``_pair``, the ICE
        # pair aioice had nominated (in ``_nominated``) when they were looked up.
        self._target: tuple[Callable[[bytes], bytes], Callable[[bytes, Any], None], Any] | None
        self._target = None
        self._nominated: dict[int, Any] = {}
        self._pair: Any = None
        self.packets = 0
        self.bytes = 0
        self.dropped = 0  # no leg, no payload-type mapping, not connected or gated: not sent
        self.gated = 0  # of which held back by the gate
        self.send_failures = 0  # SRTP or the socket refused the packet
        self._failure_logged = False
        self._hooked_sender: RTCRtpSender | None = None

    def bind(self, transceiver: RTCRtpTransceiver) -> None:
        """The transceiver that carries this stream, once the track is added."""
        self._transceiver = transceiver
        self._leg_for = -1

    def origin_changed(self) -> None:
        """A new origin SSRC: continue our sequence numbers from where they were."""
        self._origin_for = -1
        if self._last_seq is not None:
            self._pending_resync = True
            self._resync_timestamps = True

    def resume_after_gap(self) -> None:
        """Packets of the same origin were held back: continue the sequence numbers.

        The viewer would otherwise see a gap of everything held back and ask for all of it.
        Timestamps keep their offset: the origin's went on with its clock meanwhile.
        """
        if self._last_seq is not None:
            self._pending_resync = True

    def forget_sent(self) -> None:
        """Drop the history of sent packets (never resent, even once the gate reopens)."""
        self._history = [None] * HISTORY_SIZE

    def gate_opened(self) -> None:
        """This leg's gate opened: go on without a gap, and ask the source for a keyframe."""
        self.resume_after_gap()
        if self.source is not None:
            self.source.want_keyframe()

    def gate_closed(self) -> None:
        """This leg's gate closed: what it sent is no longer resent on a NACK."""
        self.forget_sent()

    def continue_from(self, previous: OutboundStream) -> None:
        """Carry on where an earlier stream on the same transceiver (same SSRC) stopped.

        A viewer's receiver drops packets whose sequence numbers and timestamps jump on the
        SSRC it knows, so a stream that takes over a transceiver continues them.
        """
        self._seq_delta = previous._seq_delta
        self._ts_delta = previous._ts_delta
        self._rtx_seq = previous._rtx_seq
        self._last_seq = previous._last_seq
        self._last_ts = previous._last_ts
        self._pending_resync = previous._last_seq is not None
        self._resync_timestamps = self._pending_resync

    def send(self, data: bytes, length: int, sequence: int, timestamp: int) -> None:
        """Rewrite one origin packet for this leg and send it (the hot path).

        ``length`` is the origin's header length (fixed header, CSRCs, extension block);
        the origin's padding flag and CSRCs are kept, the extension block is this leg's.
        """
        gate = self.gate
        if gate is not None and not gate.allowed:
            self.dropped += 1
            self.gated += 1
            return
        leg = self._leg
        if self._negotiation.version != self._leg_for:
            leg = self._resolve()
        source = self.source
        if leg is None or source is None:
            self.dropped += 1
            return
        if source.negotiation.version != self._origin_for:
            self._map_origin(source, leg)
        payload_type = self._pt_map.get(data[1] & 0x7F)
        if payload_type is None:
            self.dropped += 1
            return
        target = self._target
        if target is None or self._nominated.get(1) is not self._pair:
            target = self._retarget(leg)
            if target is None:
                self.dropped += 1
                return
        if self._pending_resync and self._last_seq is not None:
            self._seq_delta = (self._last_seq + 1 - sequence) & 0xFFFF
            self._numbered_from = (self._last_seq + 1) & 0xFFFF
            if self._resync_timestamps:
                step = TIMESTAMP_STEPS.get(self.kind, 0)
                self._ts_delta = (self._last_ts + step - timestamp) & 0xFFFFFFFF
                self._resync_timestamps = False
            self._pending_resync = False
        out_seq = (sequence + self._seq_delta) & 0xFFFF
        out_ts = (timestamp + self._ts_delta) & 0xFFFFFFFF
        now = time.time() + NTP_EPOCH_OFFSET
        first = data[0]
        kept = first & 0x2F  # padding flag and CSRC count
        level = -1
        if leg.audio_level_id and self._origin_level_id and first & 0x10:
            level = find_one_byte_extension(data, self._origin_level_id)
        if leg.extension_head:
            if level >= 0 and leg.audio_level_id:
                head, tail = leg.level_head, leg.level_tail(level)
            else:
                head, tail = leg.extension_head, leg.plain_tail
            fixed = _FIXED_HEADER.pack(
                0x90 | kept, (data[1] & 0x80) | payload_type, out_seq, out_ts, leg.ssrc
            )
            sent = (int(now * 262144) & 0xFFFFFF).to_bytes(3, "big")  # abs-send-time, 6.18
            if first & 0x0F:
                fixed += data[12 : 12 + 4 * (first & 0x0F)]
            packet = b"".join((fixed, head, sent, tail, data[length:]))
        else:
            fixed = _FIXED_HEADER.pack(
                0x80 | kept, (data[1] & 0x80) | payload_type, out_seq, out_ts, leg.ssrc
            )
            if first & 0x0F:
                packet = b"".join((fixed, data[12 : 12 + 4 * (first & 0x0F)], data[length:]))
            else:
                packet = fixed + data[length:]
        self._history[out_seq % HISTORY_SIZE] = packet
        self._last_seq = out_seq
        self._last_ts = out_ts
        protect, sendto, address = target
        try:
            sendto(protect(packet), address)
        except Exception as exc:
            self._send_failed(exc)
            return
        payload_size = len(data) - length
        if first & 0x20:
            payload_size -= data[-1]  # report octets exclude padding (RFC 3550 6.4.1)
        self.packets += 1
        self.bytes += payload_size
        # aiortc's sender builds its sender reports from these counters.
        counters = leg.counters
        counters[SR_PACKET_COUNT] += 1
        counters[SR_OCTET_COUNT] += payload_size
        counters[SR_RTP_TIMESTAMP] = out_ts
        counters[SR_NTP_TIMESTAMP] = (int(now) << 32) | int((now % 1) * 4294967296)

    def _retarget(
        self, leg: _Leg
    ) -> tuple[Callable[[bytes], bytes], Callable[[bytes, Any], None], Any] | None:
        """Look up the leg's SRTP session and the socket of the nominated ICE pair.

        Runs when the connection comes up and again whenever aioice nominates another pair
        for component 1 (``send`` compares pairs by identity per packet). aiortc cannot
        restart ICE (``RTCIceTransport.start`` returns at once when called a second time,
        and ``createOffer`` keeps the ICE credentials), so a new pair comes from aioice
        nominating another candidate pair on the same connection, never from a restart.
        """
        transport = leg.sender.transport
        self._target = None
        self._nominated = nominated = compat.nominated_pairs(transport)
        self._pair = pair = nominated.get(1)
        protect = compat.srtp_protect(transport)
        if pair is None or protect is None:
            return None
        endpoint = compat.pair_endpoint(pair)
        if endpoint is None:
            return None
        self._target = (protect, endpoint[0], endpoint[1])
        return self._target

    def _send_failed(self, exc: Exception) -> None:
        """Count a refused packet, look the target up again next time; log once per leg."""
        self.send_failures += 1
        self._target = None
        if not self._failure_logged:
            self._failure_logged = True
            # The type and errno only: an exception's text may hold an address.
            logger.warning(
                "sending %s to a participant failed: %s (errno %s); counting further failures",
                self.kind,
                type(exc).__name__,
                getattr(exc, "errno", None),
            )

    def _map_origin(self, source: InboundStream, leg: _Leg) -> None:
        """Map the origin's payload types to this leg's, and find its audio-level id."""
        negotiation = source.negotiation
        self._origin_for = negotiation.version
        self._pt_map = {}
        self._origin_level_id = 0
        if negotiation.remote_sdp is None:
            return
        section = section_for(negotiation.remote_sdp, source.mid)
        if section is None:
            return
        self._pt_map = {}
        for key, pt in section.codecs.items():
            if "#" not in key and (leg_pt := match_codec(key, leg.payload_types)) is not None:
                self._pt_map[pt] = leg_pt
        self._origin_level_id = section.extensions.get(URI_AUDIO_LEVEL, 0)

    def _resolve(self) -> _Leg | None:
        """Read this leg's SSRC, payload types and extension ids from its descriptions."""
        remote = self._negotiation.remote_sdp
        self._leg_for = self._negotiation.version
        had_leg = self._leg is not None
        self._leg = None
        self._target = None
        self._origin_for = -1  # the payload-type map depends on this leg too
        transceiver = self._transceiver
        if remote is None or transceiver is None:
            return None
        section = section_for(remote, transceiver.mid)
        if section is None:
            return None
        sender = transceiver.sender
        self._hook_sender(sender)
        ssrc, rtx_ssrc = compat.sender_ssrcs(sender)
        self._leg = _Leg(
            sender=sender,
            counters=compat.sender_report_counters(sender),
            ssrc=ssrc,
            payload_types={key: pt for key, pt in section.codecs.items() if "#" not in key},
            rtx_payload_types={
                int(key.split("#apt=", 1)[1]): pt
                for key, pt in section.codecs.items()
                if key.startswith("rtx/") and "#apt=" in key
            },
            rtx_ssrc=rtx_ssrc,
            mid=str(transceiver.mid).encode(),
            mid_id=section.extensions.get(URI_MID),
            audio_level_id=section.extensions.get(URI_AUDIO_LEVEL),
            abs_send_time_id=section.extensions.get(URI_ABS_SEND_TIME),
        )
        if self.kind == "video" and not had_leg and self.source is not None:
            self.source.want_keyframe()  # a viewer starting mid-stream: see want_keyframe
        return self._leg

    def _hook_sender(self, sender: RTCRtpSender) -> None:
        """Take the viewer's feedback for this stream: NACK, PLI/FIR, REMB."""
        if self._hooked_sender is sender:
            return
        self._hooked_sender = sender
        original = compat.sender_rtcp_handler(sender)
        stream = self

        async def handle_rtcp_packet(packet: Any) -> None:
            if isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
                await stream.on_nack(list(packet.lost))
            elif isinstance(packet, RtcpPsfbPacket) and packet.fmt in (
                RTCP_PSFB_PLI,
                RTCP_PSFB_FIR,
            ):
                if stream.source is not None:
                    await stream.source.request_keyframe()
            elif isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
                try:
                    bitrate, _ = unpack_remb_fci(packet.fci)
                except (ValueError, struct.error):
                    # aiortc reads as many SSRCs as the REMB claims, past the end too: an
                    # exception here would end the viewer's DTLS transport.
                    return
                if stream.source is not None:
                    await stream.source.forward_remb(bitrate)
            else:
                await original(packet)

        compat.set_sender_rtcp_handler(sender, handle_rtcp_packet)

    async def on_nack(self, lost: list[int]) -> None:
        """Resend what is still in the history (over RTX); ask the origin for the rest.

        A packet is never re-sent under its own sequence number: SRTP forbids protecting
        the same index twice. Without RTX on this leg, only the origin can help. The RTX
        packet keeps the original's header (padding flag, CSRCs, extensions) and payload.
        A number from before the latest resync (another origin, or before a gap the gate
        made) is not asked of the origin: its numbering no longer translates.
        """
        leg = self._leg
        if leg is None or self._gated():
            return
        start, last = self._numbered_from, self._last_seq
        if start is not None and last is not None and (last - start) & 0xFFFF >= 0x4000:
            start = self._numbered_from = None  # long past: no NACK reaches back that far
        missing = []
        # Each number once: a NACK may repeat them (a 1 KB NACK could name one packet 4000
        # times), and aiortc's bitmask reading runs past 65535 instead of wrapping.
        for seq in islice(dict.fromkeys(seq & 0xFFFF for seq in lost), HISTORY_SIZE):
            packet = self._history[seq % HISTORY_SIZE]
            if packet is not None and int.from_bytes(packet[2:4], "big") == seq:
                rtx_payload_type = leg.rtx_payload_types.get(packet[1] & 0x7F)
                if rtx_payload_type is None:
                    continue
                self._send_now(
                    leg, rtx_packet(packet, rtx_payload_type, self._rtx_seq, leg.rtx_ssrc)
                )
                self._rtx_seq = (self._rtx_seq + 1) & 0xFFFF
            elif start is None or (seq - start) & 0xFFFF < 0x8000:
                missing.append((seq - self._seq_delta) & 0xFFFF)
        if missing and self.source is not None:
            await self.source.request_retransmission(missing)

    def _gated(self) -> bool:
        """True while this leg's gate or its source's is closed."""
        source = self.source
        return (self.gate is not None and not self.gate.allowed) or (
            source is not None and source.gate is not None and not source.gate.allowed
        )

    def _send_now(self, leg: _Leg, packet: bytes) -> bool:
        """Send one packet outside the hot path (same target, same counting)."""
        target = self._target
        if target is None or self._nominated.get(1) is not self._pair:
            target = self._retarget(leg)
            if target is None:
                self.dropped += 1
                return False
        protect, sendto, address = target
        try:
            sendto(protect(packet), address)
        except Exception as exc:
            self._send_failed(exc)
            return False
        return True


def rtx_packet(packet: bytes, rtx_payload_type: int, rtx_seq: int, rtx_ssrc: int) -> bytes:
    """``packet`` (as sent) wrapped for retransmission (RFC 4588): same header but the RTX
    payload type, sequence number and SSRC; the payload starts with the original number."""
    length = header_length(packet)
    header = bytearray(packet[:length])
    header[1] = (packet[1] & 0x80) | rtx_payload_type
    header[2:4] = rtx_seq.to_bytes(2, "big")
    header[8:12] = rtx_ssrc.to_bytes(4, "big")
    return bytes(header) + packet[2:4] + packet[length:]
