"""Small pieces of the forwarding path: the origin's retransmissions, header parsing and
the video gate."""

from __future__ import annotations

import struct
from typing import Any

from media.fastpath import InboundStream, Negotiation, VideoGate


class _Receiver:
    def __init__(self) -> None:
        self._RTCRtpReceiver__remote_streams: dict[int, Any] = {}


class _Destination:
    def __init__(self) -> None:
        self.source: Any = None
        self.sent: list[tuple[bytes, int, int, int]] = []

    def send(self, data: bytes, length: int, sequence: int, timestamp: int) -> None:
        self.sent.append((data, length, sequence, timestamp))

    def origin_changed(self) -> None:
        pass


def packet(pt: int, seq: int, ts: int, ssrc: int, payload: bytes) -> bytes:
    return struct.pack("!BBHII", 0x80, pt, seq, ts, ssrc) + payload


def test_origin_rtx_is_forwarded_as_the_original_packet() -> None:
    stream = InboundStream("video", _Receiver(), Negotiation(), "1")  # type: ignore[arg-type]
    destination = _Destination()
    stream.add_destination(destination)  # type: ignore[arg-type]
    stream.on_packet(packet(96, 1000, 9000, 0xAAAA, b"frame"))
    # RTX (RFC 4588): own SSRC, own sequence, payload = original sequence + original payload.
    stream.on_retransmission(packet(97, 7, 9000, 0xBBBB, b"\x03\xe7" + b"lost!"), 96)
    data, length, sequence, timestamp = destination.sent[-1]
    assert (sequence, timestamp, length) == (999, 9000, 12)
    assert data[1] & 0x7F == 96
    assert int.from_bytes(data[8:12], "big") == 0xAAAA
    assert data[12:] == b"lost!"


def test_malformed_packets_are_dropped() -> None:
    stream = InboundStream("audio", _Receiver(), Negotiation(), "0")  # type: ignore[arg-type]
    destination = _Destination()
    stream.add_destination(destination)  # type: ignore[arg-type]
    stream.on_packet(b"\x80\x6f\x00")  # shorter than a header
    stream.on_packet(struct.pack("!BBHII", 0x8F, 111, 1, 1, 1))  # 15 CSRCs promised, none there
    stream.on_packet(struct.pack("!BBHII", 0x90, 111, 1, 1, 1) + b"\xbe\xde\x00\x09")  # short ext
    assert destination.sent == []
    stream.on_packet(packet(111, 5, 960, 1, b"ok"))
    assert len(destination.sent) == 1


def test_header_length_counts_csrcs_before_the_extension_block() -> None:
    from media.rtp import header_length

    csrcs = b"\x00\x00\x00\x01\x00\x00\x00\x02"
    plain = struct.pack("!BBHII", 0x82, 96, 1, 1, 1) + csrcs + b"payload"
    assert header_length(plain) == 20
    extended = struct.pack("!BBHII", 0x92, 96, 1, 1, 1) + csrcs + b"\xbe\xde\x00\x01\x10\x7f\0\0"
    assert header_length(extended + b"payload") == 28
    assert header_length(struct.pack("!BBHII", 0x82, 96, 1, 1, 1) + b"\0\0\0\1") == -1


def test_a_closed_gate_holds_back_every_video_packet_but_keeps_the_statistics() -> None:
    receiver = _Receiver()
    gate = VideoGate()
    stream = InboundStream("video", receiver, Negotiation(), "1", gate)  # type: ignore[arg-type]
    destination = _Destination()
    stream.add_destination(destination)  # type: ignore[arg-type]
    stream.on_packet(packet(96, 1000, 9000, 0xAAAA, b"frame"))
    stream.on_packet(packet(96, 1001, 9000, 0xAAAA, b"frame"))
    padded = bytearray(packet(96, 1002, 9000, 0xAAAA, b"frame\0\0\0\x04"))
    padded[0] |= 0x20  # payload and padding
    stream.on_packet(bytes(padded))
    stream.on_retransmission(packet(97, 7, 9000, 0xBBBB, b"\x03\xe7lost!"), 96)
    assert destination.sent == []
    assert stream.gated == 4 and stream.dropped == 4 and stream.packets == 0
    # Received all the same: the origin's receiver reports see no loss.
    assert receiver._RTCRtpReceiver__remote_streams[0xAAAA].packets_received == 3
    gate.allowed = True
    stream.on_packet(packet(96, 1003, 12000, 0xAAAA, b"frame"))
    assert [sent[2] for sent in destination.sent] == [1003]
    assert stream.gated == 4 and stream.packets == 1


def test_audio_has_no_gate() -> None:
    stream = InboundStream("audio", _Receiver(), Negotiation(), "0")  # type: ignore[arg-type]
    destination = _Destination()
    stream.add_destination(destination)  # type: ignore[arg-type]
    stream.on_packet(packet(111, 5, 960, 1, b"ok"))
    assert len(destination.sent) == 1 and stream.gated == 0
