"""The per-leg RTP rewrite: padding, CSRCs, padding-only probes, RTX, counting of failures,
the video gate.

An inbound stream feeds an outbound stream whose leg is set up by hand; media.compat's
transport accessors are replaced by a recording socket, so no aiortc connection is needed.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from aiortc.rtcrtpreceiver import StreamStatistics

from media import compat
from media.compat import SR_NTP_TIMESTAMP, SR_OCTET_COUNT, SR_PACKET_COUNT, SR_RTP_TIMESTAMP
from media.fastpath import InboundStream, Negotiation, OutboundStream, VideoGate, _Leg
from media.rtp import header_length

ORIGIN_PT = 96
LEG_PT = 100
LEG_RTX_PT = 101
LEG_SSRC = 0x11111111
LEG_RTX_SSRC = 0x22222222
CSRCS = struct.pack("!II", 0xC0C0C0C1, 0xC0C0C0C2)
ADDRESS = ("127.0.0.1", 9)
ORIGIN_SDP = (
    "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96 97\r\na=mid:1\r\n"
    "a=rtpmap:96 VP8/90000\r\na=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n"
)


@dataclass
class Socket:
    sent: list[bytes] = field(default_factory=list)
    fail: Exception | None = None

    def sendto(self, data: bytes, addr: Any) -> None:
        assert addr == ADDRESS
        if self.fail is not None:
            raise self.fail
        self.sent.append(data)

    def is_closing(self) -> bool:
        return False


@dataclass
class Wire:
    """What media.compat would find on a connected transport: pairs and their sockets."""

    nominated: dict[int, Any] = field(default_factory=dict)
    sockets: dict[int, Socket] = field(default_factory=dict)
    statistics: dict[int, StreamStatistics] = field(default_factory=dict)
    nacks: list[list[int]] = field(default_factory=list)
    plis: list[int] = field(default_factory=list)

    def new_pair(self) -> Socket:
        pair = SimpleNamespace()
        socket = self.sockets[id(pair)] = Socket()
        self.nominated[1] = pair
        return socket


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> Wire:
    wire = Wire()

    async def send_nack(receiver: Any, media_ssrc: int, lost: list[int]) -> None:
        wire.nacks.append(lost)

    async def send_pli(receiver: Any, media_ssrc: int) -> None:
        wire.plis.append(media_ssrc)

    def endpoint(pair: Any) -> tuple[Any, Any]:
        return wire.sockets[id(pair)].sendto, ADDRESS

    monkeypatch.setattr(compat, "nominated_pairs", lambda transport: wire.nominated)
    monkeypatch.setattr(compat, "srtp_protect", lambda transport: bytes)
    monkeypatch.setattr(compat, "pair_endpoint", endpoint)
    monkeypatch.setattr(compat, "receiver_statistics", lambda receiver: wire.statistics)
    monkeypatch.setattr(compat, "send_nack", send_nack)
    monkeypatch.setattr(compat, "send_pli", send_pli)
    return wire


def connect(
    wire: Wire,
    extension: bool,
    source_gate: VideoGate | None = None,
    leg_gate: VideoGate | None = None,
) -> tuple[InboundStream, OutboundStream]:
    """An origin's video stream forwarded to one leg (with or without an extension block)."""
    origin = Negotiation()
    origin.applied(ORIGIN_SDP)
    source = InboundStream("video", None, origin, "1", source_gate)  # type: ignore[arg-type]
    stream = OutboundStream("video", Negotiation(), leg_gate)
    counters = {SR_PACKET_COUNT: 0, SR_OCTET_COUNT: 0, SR_RTP_TIMESTAMP: 0, SR_NTP_TIMESTAMP: 0}
    stream._leg = _Leg(
        sender=SimpleNamespace(transport=object()),  # type: ignore[arg-type]
        ssrc=LEG_SSRC,
        payload_types={"vp8/90000": LEG_PT},
        rtx_payload_types={LEG_PT: LEG_RTX_PT},
        rtx_ssrc=LEG_RTX_SSRC,
        mid=b"1",
        mid_id=4 if extension else None,
        audio_level_id=None,
        abs_send_time_id=3 if extension else None,
        counters=counters,
    )
    stream._leg_for = stream._negotiation.version
    source.add_destination(stream)
    return source, stream


def rtp(
    seq: int,
    payload: bytes,
    padding: int = 0,
    csrcs: bytes = b"",
    extension: bool = False,
    pt: int = ORIGIN_PT,
    ssrc: int = 0xAAAA,
) -> bytes:
    """An origin packet; ``padding`` bytes (the last one the count) follow ``payload``."""
    first = 0x80 | (0x20 if padding else 0) | (0x10 if extension else 0) | len(csrcs) // 4
    header = struct.pack("!BBHII", first, pt, seq, seq * 3000, ssrc) + csrcs
    if extension:
        header += b"\xbe\xde\x00\x01" + b"\x10\x7f\x00\x00"  # id 1 (audio level), padding
    tail = b"\0" * (padding - 1) + bytes([padding]) if padding else b""
    return header + payload + tail


def seq_of(packet: bytes) -> int:
    return int.from_bytes(packet[2:4], "big")


def test_padding_only_packet_is_not_forwarded_and_frees_its_number(wire: Wire) -> None:
    socket = wire.new_pair()
    source, _ = connect(wire, extension=True)
    source.on_packet(rtp(100, b"frame-a"))
    source.on_packet(rtp(101, b"", padding=224))  # a bandwidth probe
    source.on_packet(rtp(102, b"", padding=224))
    source.on_packet(rtp(103, b"frame-b"))
    assert len(socket.sent) == 2
    assert all(packet[header_length(packet) :].startswith(b"frame-") for packet in socket.sent)
    # The viewer sees no gap to ask about: the probe's numbers are freed.
    assert (seq_of(socket.sent[1]) - seq_of(socket.sent[0])) & 0xFFFF == 1
    assert (source.dropped, source.padding, source.packets) == (2, 2, 2)
    # They still count as received in the receiver reports to the origin.
    assert wire.statistics[0xAAAA].packets_received == 4


def test_late_padding_leaves_the_numbering_alone(wire: Wire) -> None:
    socket = wire.new_pair()
    source, _ = connect(wire, extension=False)
    source.on_packet(rtp(200, b"a"))
    source.on_packet(rtp(202, b"c"))
    source.on_packet(rtp(201, b"", padding=8))  # late: 202 went out under its own number
    source.on_packet(rtp(203, b"d"))
    seqs = [seq_of(packet) for packet in socket.sent]
    assert [(s - seqs[0]) & 0xFFFF for s in seqs] == [0, 2, 3]
    assert source.padding == 1


def test_a_reordered_packet_from_before_the_probe_keeps_its_place(wire: Wire) -> None:
    socket = wire.new_pair()
    source, _ = connect(wire, extension=False)
    source.on_packet(rtp(300, b"a"))
    source.on_packet(rtp(302, b"c"))
    source.on_packet(rtp(303, b"", padding=8))
    source.on_packet(rtp(301, b"b"))  # late, from before the probe
    source.on_packet(rtp(304, b"d"))
    seqs = [(seq_of(packet) - seq_of(socket.sent[0])) & 0xFFFF for packet in socket.sent]
    assert seqs == [0, 2, 1, 3]


async def test_nack_for_a_packet_after_a_probe_reaches_the_origin_in_its_numbering(
    wire: Wire,
) -> None:
    socket = wire.new_pair()
    source, stream = connect(wire, extension=False)
    source.on_packet(rtp(400, b"a"))
    source.on_packet(rtp(401, b"", padding=8))
    source.on_packet(rtp(403, b"c"))  # 402 lost before the gateway
    first = seq_of(socket.sent[0])
    assert seq_of(socket.sent[1]) == (first + 2) & 0xFFFF
    await stream.on_nack([(first + 1) & 0xFFFF])  # the one between them
    assert wire.nacks == [[402]]


@pytest.mark.parametrize("leg_extension", [True, False])
@pytest.mark.parametrize("origin_extension", [True, False])
def test_padded_media_keeps_the_padding_flag_and_padding(
    wire: Wire, leg_extension: bool, origin_extension: bool
) -> None:
    socket = wire.new_pair()
    source, stream = connect(wire, extension=leg_extension)
    source.on_packet(rtp(10, b"frame", padding=3, extension=origin_extension))
    (out,) = socket.sent
    assert out[0] & 0x20
    assert bool(out[0] & 0x10) == leg_extension
    assert out[header_length(out) :] == b"frame\0\0\x03"
    assert stream._leg is not None
    assert stream._leg.counters[SR_OCTET_COUNT] == 5  # report octets exclude padding


@pytest.mark.parametrize("leg_extension", [True, False])
@pytest.mark.parametrize("origin_extension", [True, False])
def test_csrcs_are_kept_before_the_extension_block(
    wire: Wire, leg_extension: bool, origin_extension: bool
) -> None:
    socket = wire.new_pair()
    source, _ = connect(wire, extension=leg_extension)
    source.on_packet(rtp(10, b"mixed", csrcs=CSRCS, extension=origin_extension))
    (out,) = socket.sent
    assert out[0] & 0x0F == 2 and not out[0] & 0x20
    assert out[12:20] == CSRCS
    if leg_extension:
        assert out[20:22] == b"\xbe\xde"
    else:
        assert not out[0] & 0x10
    assert int.from_bytes(out[8:12], "big") == LEG_SSRC and out[1] & 0x7F == LEG_PT
    assert out[header_length(out) :] == b"mixed"


def test_origin_rtx_keeps_csrcs_and_padding_and_a_padding_probe_is_dropped(wire: Wire) -> None:
    socket = wire.new_pair()
    source, _ = connect(wire, extension=True)
    source.on_packet(rtp(1000, b"first"))
    # RTX (RFC 4588) of 999: own SSRC and numbering, payload = original number + payload.
    retransmission = rtp(
        7, b"\x03\xe7" + b"lost!", padding=2, csrcs=CSRCS, extension=True, pt=97, ssrc=0xBBBB
    )
    source.on_retransmission(retransmission, ORIGIN_PT)
    out = socket.sent[-1]
    assert out[0] & 0x20 and out[0] & 0x0F == 2 and out[12:20] == CSRCS
    assert (seq_of(out) - seq_of(socket.sent[0])) & 0xFFFF == 0xFFFF  # one before "first"
    assert out[header_length(out) :] == b"lost!\0\x02"
    # Probes on the RTX stream carry nothing but padding (not even an original number).
    source.on_retransmission(rtp(8, b"", padding=200, pt=97, ssrc=0xBBBB), ORIGIN_PT)
    source.on_retransmission(rtp(9, b"\x03\xe8", padding=200, pt=97, ssrc=0xBBBB), ORIGIN_PT)
    assert len(socket.sent) == 2
    assert source.padding == 2 and source.dropped == 2


async def test_nack_resend_keeps_padding_and_csrcs(wire: Wire) -> None:
    socket = wire.new_pair()
    source, stream = connect(wire, extension=True)
    source.on_packet(rtp(50, b"frame", padding=4, csrcs=CSRCS))
    (sent,) = socket.sent
    await stream.on_nack([seq_of(sent)])
    resent = socket.sent[-1]
    assert int.from_bytes(resent[8:12], "big") == LEG_RTX_SSRC
    assert resent[1] & 0x7F == LEG_RTX_PT
    assert resent[0] & 0x20 and resent[0] & 0x0F == 2 and resent[12:20] == CSRCS
    length = header_length(resent)
    assert resent[length : length + 2] == sent[2:4]  # the original sequence number first
    assert resent[length + 2 :] == b"frame\0\0\0\x04"


def test_send_failures_are_counted_and_logged_once_without_addresses(
    wire: Wire, caplog: pytest.LogCaptureFixture
) -> None:
    socket = wire.new_pair()
    source, stream = connect(wire, extension=False)
    socket.fail = OSError(101, "unreachable 192.0.2.7:5000")
    with caplog.at_level(logging.DEBUG, logger="media.fastpath"):
        for seq in range(5):
            source.on_packet(rtp(seq, b"x"))
    assert stream.send_failures == 5 and stream.packets == 0
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert "192.0.2.7" not in caplog.text and "127.0.0.1" not in caplog.text
    socket.fail = None
    source.on_packet(rtp(6, b"x"))
    assert len(socket.sent) == 1 and stream.send_failures == 5


def test_packets_without_a_mapping_or_a_connection_are_counted_as_dropped(wire: Wire) -> None:
    source, stream = connect(wire, extension=False)
    source.on_packet(rtp(1, b"x"))  # no nominated pair yet
    source.on_packet(rtp(2, b"x", pt=120))  # a payload type this leg has no match for
    assert stream.dropped == 2 and stream.packets == 0
    socket = wire.new_pair()
    source.on_packet(rtp(3, b"x"))
    assert len(socket.sent) == 1 and stream.packets == 1


def test_a_newly_nominated_pair_takes_the_next_packet(wire: Wire) -> None:
    first = wire.new_pair()
    source, _ = connect(wire, extension=False)
    source.on_packet(rtp(1, b"x"))
    second = wire.new_pair()  # aioice nominated another pair
    source.on_packet(rtp(2, b"x"))
    source.on_packet(rtp(3, b"x"))
    assert (len(first.sent), len(second.sent)) == (1, 2)


def ts_of(packet: bytes) -> int:
    return int.from_bytes(packet[4:8], "big")


@pytest.mark.parametrize("where", ["source", "leg"])
async def test_a_closed_gate_sends_nothing_and_reopening_leaves_no_gap(
    wire: Wire, where: str
) -> None:
    socket = wire.new_pair()
    gate = VideoGate(True)
    source, stream = connect(wire, extension=False, **{f"{where}_gate": gate})
    gated = source if where == "source" else stream
    for seq in range(100, 103):
        source.on_packet(rtp(seq, b"frame"))
    assert len(socket.sent) == 3
    last = seq_of(socket.sent[-1])

    gate.allowed = False  # as MediaPeer.set_video_allowed(False) does
    gated.gate_closed()
    for seq in range(103, 110):
        source.on_packet(rtp(seq, b"frame"))
    source.on_packet(rtp(110, b"frame", padding=4))
    source.on_retransmission(rtp(7, b"\x00\x65lost", pt=97, ssrc=0xBBBB), ORIGIN_PT)
    assert len(socket.sent) == 3
    assert gated.gated == 9 and gated.dropped == 9
    await stream.on_nack([last])  # sent before closing: neither resent nor asked for
    assert len(socket.sent) == 3 and wire.nacks == []

    gate.allowed = True
    gated.gate_opened()
    await asyncio.sleep(0)
    assert wire.plis == [0xAAAA]  # a keyframe, for the picture to come back at once
    source.on_packet(rtp(111, b"frame"))
    assert len(socket.sent) == 4
    assert seq_of(socket.sent[-1]) == (last + 1) & 0xFFFF  # no gap for the viewer to NACK
    # Timestamps keep their offset: the origin's clock went on while nothing passed.
    assert ts_of(socket.sent[-1]) - 111 * 3000 == ts_of(socket.sent[0]) - 100 * 3000
    # Forgotten on closing, and numbered before the gap: not asked of the origin either
    # (its numbering no longer translates); a number after the gap still is.
    await stream.on_nack([last, (last + 2) & 0xFFFF])
    assert len(socket.sent) == 4 and wire.nacks == [[112]]
