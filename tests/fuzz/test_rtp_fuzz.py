"""Fuzz the forwarding path: RTP parsing and rewriting, RTX, and the viewer's RTCP.

Three participants, as in a call with an interpreter: origin A (video with RTX) is
forwarded to legs X and Y, origin B to leg X. A sends anything (truncated, padded with
counts larger than the payload, CSRC counts and extension lengths that run past the end,
RTX of all of that); B sends a well-formed stream; the viewers send NACKs and compound RTCP
of any shape. Properties: nothing raises out of the path; every packet that leaves is a
well-formed RTP packet of its leg (version 2, header within the packet, padding within the
payload, the leg's SSRC and payload type); a NACK is answered at most once per packet; and
B's stream on X (sequence numbers, timestamps, SSRC) goes on as if A had sent nothing.

The legs are set up by hand and media.compat's transport accessors replaced by recording
fakes, like tests/unit/test_rtp_rewrite.py does for one leg.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from aiortc.rtcrtpreceiver import StreamStatistics
from aiortc.rtp import RtcpPacket
from hypothesis import example, given, settings
from hypothesis import strategies as st

from media import compat
from media.compat import SR_NTP_TIMESTAMP, SR_OCTET_COUNT, SR_PACKET_COUNT, SR_RTP_TIMESTAMP
from media.fastpath import HISTORY_SIZE, InboundStream, Negotiation, OutboundStream, _Leg
from media.rtp import find_one_byte_extension, header_length, one_byte_extensions
from tests.fuzz.profiles import examples

ORIGIN_SDP = (
    "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96 97\r\na=mid:1\r\n"
    "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n"
    "a=rtpmap:96 VP8/90000\r\na=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n"
)
ORIGIN_PT, ORIGIN_RTX_PT = 96, 97
LEG_PT, LEG_RTX_PT = 100, 101
A_SSRC, B_SSRC = 0xAAAA, 0xBBBB


@dataclass
class LegWire:
    """One viewer's connection: its nominated pair, the packets sent, the RTCP it got."""

    name: str
    transport: object = field(default_factory=object)
    pair: object = field(default_factory=object)
    sent: list[bytes] = field(default_factory=list)

    def sendto(self, data: bytes, addr: Any) -> None:
        self.sent.append(data)


@dataclass
class Origin:
    receiver: object = field(default_factory=object)
    statistics: dict[int, StreamStatistics] = field(default_factory=dict)
    nacks: list[list[int]] = field(default_factory=list)
    plis: int = 0
    rtcp: list[Any] = field(default_factory=list)


@dataclass
class Call:
    a: InboundStream
    b: InboundStream
    ax: OutboundStream
    ay: OutboundStream
    bx: OutboundStream
    x: LegWire
    y: LegWire
    origins: dict[int, Origin]
    ssrcs: dict[int, OutboundStream]  # leg SSRC (media or RTX) -> the stream sending it
    passed_on: list[Any] = field(default_factory=list)  # RTCP left to aiortc's sender


@contextmanager
def call() -> Iterator[Call]:
    x, y = LegWire("x"), LegWire("y")
    wires = {id(x.transport): x, id(y.transport): y}
    pairs = {id(x.pair): x, id(y.pair): y}
    origins = {A_SSRC: Origin(), B_SSRC: Origin()}
    by_receiver = {id(o.receiver): o for o in origins.values()}

    async def send_nack(receiver: Any, media_ssrc: int, lost: list[int]) -> None:
        by_receiver[id(receiver)].nacks.append(lost)

    async def send_pli(receiver: Any, media_ssrc: int) -> None:
        by_receiver[id(receiver)].plis += 1

    async def send_rtcp(receiver: Any, packet: Any) -> None:
        by_receiver[id(receiver)].rtcp.append(packet)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(compat, "nominated_pairs", lambda t: {1: wires[id(t)].pair})
        patch.setattr(compat, "srtp_protect", lambda transport: bytes)
        patch.setattr(compat, "pair_endpoint", lambda p: (pairs[id(p)].sendto, ("x", 9)))
        patch.setattr(compat, "receiver_statistics", lambda r: by_receiver[id(r)].statistics)
        patch.setattr(compat, "receiver_rtcp_ssrc", lambda receiver: 0x5555)
        patch.setattr(compat, "send_nack", send_nack)
        patch.setattr(compat, "send_pli", send_pli)
        patch.setattr(compat, "send_rtcp", send_rtcp)
        passed_on: list[Any] = []
        a = _inbound(origins[A_SSRC])
        b = _inbound(origins[B_SSRC])
        ssrcs: dict[int, OutboundStream] = {}
        ax = _outbound(a, x, 0x1111, ssrcs, passed_on, extension=True)
        ay = _outbound(a, y, 0x2222, ssrcs, passed_on, extension=False)
        bx = _outbound(b, x, 0x3333, ssrcs, passed_on, extension=True)
        yield Call(a, b, ax, ay, bx, x, y, origins, ssrcs, passed_on)


def _inbound(origin: Origin) -> InboundStream:
    negotiation = Negotiation()
    negotiation.applied(ORIGIN_SDP)
    return InboundStream("video", origin.receiver, negotiation, "1")  # type: ignore[arg-type]


def _outbound(
    source: InboundStream,
    wire: LegWire,
    ssrc: int,
    ssrcs: dict[int, OutboundStream],
    passed_on: list[Any],
    extension: bool,
) -> OutboundStream:
    stream = OutboundStream("video", Negotiation())

    async def original(packet: Any) -> None:
        passed_on.append(packet)

    sender = SimpleNamespace(transport=wire.transport, _handle_rtcp_packet=original)
    stream._leg = _Leg(
        sender=sender,  # type: ignore[arg-type]
        ssrc=ssrc,
        payload_types={"vp8/90000": LEG_PT},
        rtx_payload_types={LEG_PT: LEG_RTX_PT},
        rtx_ssrc=ssrc + 1,
        mid=b"1",
        mid_id=4 if extension else None,
        audio_level_id=1 if extension else None,
        abs_send_time_id=3 if extension else None,
        counters={SR_PACKET_COUNT: 0, SR_OCTET_COUNT: 0, SR_RTP_TIMESTAMP: 0, SR_NTP_TIMESTAMP: 0},
    )
    stream._leg_for = stream._negotiation.version
    stream._hook_sender(sender)  # type: ignore[arg-type]
    source.add_destination(stream)
    ssrcs[ssrc] = ssrcs[ssrc + 1] = stream
    return stream


def rtcp_handler(stream: OutboundStream) -> Any:
    assert stream._leg is not None
    return stream._leg.sender._handle_rtcp_packet


# -- packets ----------------------------------------------------------------------------------


@st.composite
def rtp_packets(draw: st.DrawFn, ssrc: int = A_SSRC) -> bytes:
    """An RTP packet whose every field may lie: counts, lengths, padding."""
    version = draw(st.sampled_from([2, 2, 2, 0, 1, 3]))
    padding = draw(st.booleans())
    extension = draw(st.booleans())
    csrc_count = draw(st.integers(0, 15))
    first = version << 6 | padding << 5 | extension << 4 | csrc_count
    marker = draw(st.booleans()) << 7
    pt = draw(st.sampled_from([ORIGIN_PT, ORIGIN_PT, ORIGIN_RTX_PT, 0, 127]))
    header = struct.pack(
        "!BBHII",
        first,
        marker | pt,
        draw(st.integers(0, 0xFFFF)),
        draw(st.integers(0, 0xFFFFFFFF)),
        draw(st.sampled_from([ssrc, ssrc, ssrc, 0, 0xFFFFFFFF])),
    )
    # As many CSRCs as the count says, or fewer (truncated).
    header += draw(st.binary(min_size=0, max_size=4 * csrc_count))
    if extension:
        profile = draw(st.sampled_from([b"\xbe\xde", b"\x10\x00", b"\x00\x00"]))
        words = draw(st.integers(0, 0xFFFF) | st.integers(0, 4))
        body = draw(st.binary(max_size=4 * min(words, 8) + 3))
        header += profile + words.to_bytes(2, "big") + body
    payload = draw(st.binary(max_size=40))
    tail = b""
    if draw(st.booleans()):
        count = draw(st.integers(0, 255))
        tail = draw(st.binary(max_size=8)) + bytes([count])
    return header + payload + tail


ORIGIN_PACKETS = st.one_of(rtp_packets(), st.binary(max_size=60))


def b_packet(index: int) -> bytes:
    """B's well-formed stream: one packet per index, 3000 ticks apart."""
    header = struct.pack("!BBHII", 0x80, ORIGIN_PT, (7 + index) & 0xFFFF, index * 3000, B_SSRC)
    return header + b"b-frame" + index.to_bytes(2, "big")


def rtcp_packets() -> st.SearchStrategy[bytes]:
    """Compound RTCP of feedback packets with lying counts, lengths and padding."""

    @st.composite
    def one(draw: st.DrawFn) -> bytes:
        packet_type = draw(st.sampled_from([200, 201, 202, 203, 204, 205, 206, 207]))
        fmt = draw(st.sampled_from([1, 4, 15, 0, 31]))
        padding = draw(st.booleans())
        media_ssrc = draw(st.sampled_from([0x1111, 0x3333, 0, A_SSRC]))
        body = struct.pack("!II", 0x9999, media_ssrc)
        if packet_type == 206 and fmt == 15 and draw(st.booleans()):  # REMB, maybe lying
            count = draw(st.integers(0, 255))
            body += b"REMB" + bytes([count]) + draw(st.binary(min_size=3, max_size=3))
            body += draw(st.binary(max_size=8))
        elif packet_type == 205 and fmt == 1:  # NACK: pid and bitmask
            body += b"".join(
                struct.pack("!HH", draw(st.integers(0, 0xFFFF)), draw(st.integers(0, 0xFFFF)))
                for _ in range(draw(st.integers(0, 40)))
            )
        else:
            body += draw(st.binary(max_size=24))
        if padding:
            body += b"\0" * draw(st.integers(0, 3)) + bytes([draw(st.integers(0, 8))])
        words = (len(body) + 3) // 4
        body += b"\0" * (-len(body) % 4)
        words = draw(st.sampled_from([words, words, words - 1, words + 1, 0]))
        head = bytes([0x80 | padding << 5 | fmt, packet_type]) + max(words, 0).to_bytes(2, "big")
        return head + body

    return st.lists(one(), min_size=1, max_size=4).map(b"".join) | st.binary(max_size=40)


# -- checks -----------------------------------------------------------------------------------


def assert_well_formed(packet: bytes, call: Call) -> OutboundStream:
    """A sent packet is valid RTP of the leg whose SSRC it carries; returns that leg."""
    assert len(packet) >= 12 and packet[0] >> 6 == 2
    length = header_length(packet)
    assert 12 <= length <= len(packet)
    if packet[0] & 0x10:
        start = 12 + 4 * (packet[0] & 0x0F)
        assert packet[start : start + 2] == b"\xbe\xde"
        one_byte_extensions(packet)  # parses within the block
    payload = len(packet) - length
    if packet[0] & 0x20:
        assert 1 <= packet[-1] <= payload
    ssrc = int.from_bytes(packet[8:12], "big")
    stream = call.ssrcs[ssrc]
    assert stream._leg is not None
    if ssrc == stream._leg.rtx_ssrc:
        assert packet[1] & 0x7F == LEG_RTX_PT and payload >= 2
    else:
        # A padded packet carries media besides its padding (padding alone is a probe,
        # never forwarded); an empty one without padding is passed on as it came.
        assert packet[1] & 0x7F == LEG_PT
        assert not packet[0] & 0x20 or payload > packet[-1]
    return stream


def media_of(wire: LegWire, stream: OutboundStream) -> list[bytes]:
    assert stream._leg is not None
    ssrc = stream._leg.ssrc.to_bytes(4, "big")
    return [p for p in wire.sent if p[8:12] == ssrc]


# -- targets ----------------------------------------------------------------------------------


@given(st.binary(max_size=80), st.integers(0, 15))
@example(b"", 1)
@example(b"\x90" + b"\0" * 11 + b"\xbe\xde", 1)  # profile at the very end
@example(b"\x90" + b"\0" * 11 + b"\xbe\xde\x00\x05\x12", 1)  # block longer than the packet
def test_header_parsing_never_reads_past_the_packet(data: bytes, ext_id: int) -> None:
    length = header_length(data)
    assert length == -1 or 12 <= length <= len(data)
    value = find_one_byte_extension(data, ext_id)
    assert -1 <= value <= 255
    extensions = one_byte_extensions(data)
    if length >= 0:
        assert all(1 <= key <= 14 for key in extensions)


EVENTS = st.one_of(
    st.tuples(st.just("a"), ORIGIN_PACKETS),
    st.tuples(st.just("a-rtx"), ORIGIN_PACKETS),
    st.tuples(st.just("b"), st.just(b"")),
    st.tuples(st.sampled_from(["nack-ax", "nack-ay", "nack-bx"]), st.binary(max_size=64)),
    st.tuples(st.sampled_from(["rtcp-ax", "rtcp-ay", "rtcp-bx"]), rtcp_packets()),
)


@settings(max_examples=examples(1.0))
@given(st.lists(EVENTS, max_size=30))
@example([("rtcp-ax", b"\x8f\xce\x00\x04" + b"\0\0\x99\x99\0\0\0\0REMB\x05\0\0\x01")])
@example([("b", b""), ("rtcp-bx", b"\x81\xcd\x00\x03\0\0\x99\x99\0\0\x33\x33\xff\xff\xff\xff")])
@example([("a", b"\xa0" + b"\0" * 11 + b"\xff"), ("a-rtx", b"\xa0\x61" + b"\0" * 10 + b"\xff")])
async def test_hostile_origin_and_viewers_never_break_the_path_or_another_stream(
    events: list[tuple[str, bytes]],
) -> None:
    with call() as c:
        streams = {"ax": c.ax, "ay": c.ay, "bx": c.bx}
        b_sent = 0
        for kind, data in events:
            if kind == "a":
                c.a.on_packet(data)
            elif kind == "a-rtx":
                c.a.on_retransmission(data, ORIGIN_PT)
            elif kind == "b":
                c.b.on_packet(b_packet(b_sent))
                b_sent += 1
            elif kind.startswith("nack-"):
                before = len(c.x.sent) + len(c.y.sent)
                lost = [
                    int.from_bytes(data[i : i + 3], "big") % 0x10011 for i in range(0, len(data), 3)
                ]
                await streams[kind[5:]].on_nack(lost)
                # Each packet is resent at most once, whatever the list repeats.
                assert len(c.x.sent) + len(c.y.sent) - before <= len({s & 0xFFFF for s in lost})
            else:
                try:
                    packets = RtcpPacket.parse(data)
                except ValueError:
                    continue  # aiortc drops it before anyone sees it
                before = len(c.x.sent) + len(c.y.sent)
                handler = rtcp_handler(streams[kind[5:]])
                for feedback in packets:
                    await handler(feedback)
                assert len(c.x.sent) + len(c.y.sent) - before <= HISTORY_SIZE * len(packets)
        for wire in (c.x, c.y):
            for packet in wire.sent:
                stream = assert_well_formed(packet, c)
                assert (stream is not c.ay) == (wire is c.x)  # each leg only its own SSRCs
        # B's stream on X: every packet, in order, one number and 3000 ticks apart.
        b_media = media_of(c.x, c.bx)
        assert len(b_media) == b_sent
        for index, packet in enumerate(b_media):
            first = b_media[0]
            seq = (int.from_bytes(packet[2:4], "big") - int.from_bytes(first[2:4], "big")) & 0xFFFF
            ts = int.from_bytes(packet[4:8], "big") - int.from_bytes(first[4:8], "big")
            assert seq == index and ts & 0xFFFFFFFF == index * 3000
            assert packet[header_length(packet) :] == b"b-frame" + index.to_bytes(2, "big")
        # Nothing A or the viewers sent reached B's origin but its own viewer's feedback.
        assert all(len(lost) == len(set(lost)) for o in c.origins.values() for lost in o.nacks)


async def test_a_nack_bitmask_past_65535_is_answered_from_the_history() -> None:
    with call() as c:
        c.bx._seq_delta = (0 - 7) & 0xFFFF  # B's first packet (7) leaves as number 0
        c.b.on_packet(b_packet(0))
        (sent,) = c.x.sent
        assert sent[2:4] == b"\0\0"
        # pid 65535 with the first bitmask bit: aiortc reads [65535, 65536].
        (nack,) = RtcpPacket.parse(b"\x81\xcd\x00\x03\0\0\x99\x99\0\0\x33\x33\xff\xff\x00\x01")
        await rtcp_handler(c.bx)(nack)
        resent = c.x.sent[1:]
        assert len(resent) == 1 and resent[0][8:12] == (0x3333 + 1).to_bytes(4, "big")
        assert c.origins[B_SSRC].nacks == [[(65535 + 7) & 0xFFFF]]  # only 65535 was never sent


async def test_a_nack_naming_a_packet_many_times_resends_it_once() -> None:
    with call() as c:
        c.b.on_packet(b_packet(0))
        seq = int.from_bytes(c.x.sent[0][2:4], "big")
        await c.bx.on_nack([seq] * 4000 + [(seq + 1) & 0xFFFF] * 4000)
        assert len(c.x.sent) == 2
        assert c.origins[B_SSRC].nacks == [[8]]
