"""The packet-level forwarding path: SSRC and payload-type rewrite, loss and reordering
passed through as they are, NACK answered or passed on, PLI reaching the sender, video,
and a change of the nominated ICE pair followed both ways."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aioice import Candidate
from aioice.ice import CandidatePair, StunProtocol
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    RtcpPsfbPacket,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtcpSrPacket,
    unpack_remb_fci,
)

from media import compat
from media.fastpath import InboundStream
from media.ice import IcePolicy, pinned_host_addresses
from media.peer import MediaPeer
from media.rtp import header_length
from tests.support.audio import AudioSink, ToneTrack
from tests.support.video import PatternTrack

POLICY = IcePolicy(host_addresses=("127.0.0.1",), remote_networks=("127.0.0.0/8",))
LOOPBACK = ["127.0.0.1"]


@dataclass
class Capture:
    """RTP headers a client received: (ssrc, payload type, sequence number) per packet."""

    packets: list[tuple[int, int, int]] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)

    def of(self, ssrc: int) -> list[int]:
        return [seq for s, _, seq in self.packets if s == ssrc]


def capture_rtp(pc: RTCPeerConnection, capture: Capture) -> None:
    transport = pc.getTransceivers()[0].receiver.transport
    original = transport._handle_rtp_data

    async def handle(data: bytes, arrival_time_ms: int) -> None:
        ssrc = int.from_bytes(data[8:12], "big")
        capture.packets.append((ssrc, data[1] & 0x7F, int.from_bytes(data[2:4], "big")))
        capture.raw.append(data)
        await original(data, arrival_time_ms)

    transport._handle_rtp_data = handle  # type: ignore[method-assign]


@dataclass
class Setup:
    sender_pc: RTCPeerConnection
    viewer_pc: RTCPeerConnection
    sender_peer: MediaPeer
    viewer_peer: MediaPeer
    viewer_capture: Capture
    sender_feedback: list[Any]
    video_frames: list[Any]
    audio: AudioSink


async def negotiate(client: RTCPeerConnection, peer: MediaPeer) -> None:
    with pinned_host_addresses(LOOPBACK):
        await client.setLocalDescription(await client.createOffer())
    answer = await peer.accept_offer(client.localDescription.sdp)
    await client.setRemoteDescription(RTCSessionDescription(answer, "answer"))


@pytest.fixture
async def setup(request: pytest.FixtureRequest) -> AsyncIterator[Setup]:
    codec = getattr(request, "param", "VP8")
    sender_pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    viewer_pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    sender_peer = MediaPeer(POLICY, "sender", allow_video=True)
    viewer_peer = MediaPeer(POLICY, "viewer", allow_video=True)
    sender_pc.addTrack(ToneTrack(440))
    video_sender = sender_pc.addTrack(PatternTrack())
    chosen = [c for c in RTCRtpSender.getCapabilities("video").codecs if codec in c.mimeType]
    for transceiver in sender_pc.getTransceivers():
        if transceiver.kind == "video":
            transceiver.setCodecPreferences(chosen)
    feedback: list[Any] = []
    original_feedback = video_sender._handle_rtcp_packet

    async def record_feedback(packet: Any) -> None:
        feedback.append(packet)
        await original_feedback(packet)

    video_sender._handle_rtcp_packet = record_feedback  # type: ignore[method-assign]
    await negotiate(sender_pc, sender_peer)
    sender_peer.send_to(viewer_peer, "audio")
    sender_peer.send_to(viewer_peer, "video")

    viewer_pc.addTrack(ToneTrack(880))
    viewer_pc.addTransceiver("video", direction="recvonly")
    audio = AudioSink()
    frames: list[Any] = []
    readers: list[asyncio.Task[None]] = []

    @viewer_pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            audio.consume(track)
        else:

            async def read() -> None:
                while True:
                    frames.append(await track.recv())

            readers.append(asyncio.ensure_future(read()))

    await negotiate(viewer_pc, viewer_peer)
    capture = Capture()
    capture_rtp(viewer_pc, capture)
    yield Setup(sender_pc, viewer_pc, sender_peer, viewer_peer, capture, feedback, frames, audio)
    await audio.stop()
    for reader in readers:
        reader.cancel()
    for pc in (sender_pc, viewer_pc):
        await pc.close()
    for peer in (sender_peer, viewer_peer):
        await peer.close()


async def wait_until(predicate: Any, timeout: float = 10) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


def gateway_ssrc(peer: MediaPeer, kind: str) -> int:
    for transceiver in peer.pc.getTransceivers():
        if transceiver.kind == kind and transceiver.sender.track is not None:
            ssrc: int = transceiver.sender._ssrc
            return ssrc
    raise AssertionError(f"no {kind} sender")


def inbound(peer: MediaPeer, kind: str) -> InboundStream:
    stream = peer.inbound(kind)
    assert stream is not None
    return stream


async def test_ssrc_and_payload_type_are_rewritten_and_audio_arrives(setup: Setup) -> None:
    audio_ssrc = gateway_ssrc(setup.viewer_peer, "audio")
    await wait_until(lambda: len(setup.viewer_capture.of(audio_ssrc)) > 20)
    origin = inbound(setup.sender_peer, "audio").origin_ssrc
    assert origin is not None and origin != audio_ssrc
    assert not setup.viewer_capture.of(origin)  # the origin's SSRC never reaches the viewer
    await wait_until(lambda: abs(setup.audio.dominant_frequency() - 440) < 20)


async def test_loss_and_reordering_pass_through_unbuffered(setup: Setup) -> None:
    stream = inbound(setup.sender_peer, "audio")
    audio_ssrc = gateway_ssrc(setup.viewer_peer, "audio")
    await wait_until(lambda: len(setup.viewer_capture.of(audio_ssrc)) > 5)
    original = stream.on_packet
    held: list[bytes] = []
    dropped: list[int] = []
    count = 0

    def lossy(data: bytes) -> None:
        nonlocal count
        count += 1
        if count == 10:
            dropped.append(int.from_bytes(data[2:4], "big"))
            return  # lost
        if count == 20:
            held.append(data)  # delayed: sent after the next one
            return
        original(data)
        if held and count == 21:
            original(held.pop())

    stream.on_packet = lossy  # type: ignore[method-assign]
    await wait_until(lambda: count > 30)
    seqs = setup.viewer_capture.of(audio_ssrc)
    gaps = [(b - a) & 0xFFFF for a, b in itertools.pairwise(seqs)]
    assert 2 in gaps  # one packet missing: the gap is kept, not papered over
    assert 0xFFFF in gaps  # a packet arriving late is passed on late (seq goes back by one)


async def test_nack_is_answered_from_history_or_passed_to_origin(setup: Setup) -> None:
    video_ssrc = gateway_ssrc(setup.viewer_peer, "video")
    await wait_until(lambda: len(setup.viewer_capture.of(video_ssrc)) > 20)
    receiver = next(t.receiver for t in setup.viewer_pc.getTransceivers() if t.kind == "video")
    recent = setup.viewer_capture.of(video_ssrc)[-3]
    rtx_ssrc = next(
        t.sender._rtx_ssrc for t in setup.viewer_peer.pc.getTransceivers() if t.kind == "video"
    )

    def retransmitted() -> bool:
        # Re-sent over RTX (never under the same sequence number): the payload starts
        # with the original sequence number.
        return any(
            int.from_bytes(data[8:12], "big") == rtx_ssrc
            and int.from_bytes(data[header_length(data) : header_length(data) + 2], "big") == recent
            for data in setup.viewer_capture.raw
        )

    await receiver._send_rtcp_nack(video_ssrc, [recent])
    await wait_until(retransmitted)
    # Older than the history: the NACK goes to the origin, translated to its numbering.
    first = setup.viewer_capture.of(video_ssrc)[0]
    ancient = (first - 2000) & 0xFFFF
    await receiver._send_rtcp_nack(video_ssrc, [ancient])
    await wait_until(
        lambda: any(
            isinstance(p, RtcpRtpfbPacket) and p.fmt == RTCP_RTPFB_NACK
            for p in setup.sender_feedback
        )
    )


@pytest.mark.parametrize("setup", ["VP8", "H264"], indirect=True)
async def test_keyframe_request_reaches_sender_and_picture_appears(setup: Setup) -> None:
    video_ssrc = gateway_ssrc(setup.viewer_peer, "video")
    await wait_until(lambda: len(setup.video_frames) > 5, timeout=15)
    frame = setup.video_frames[-1]
    assert (frame.width, frame.height) == (320, 240)
    receiver = next(t.receiver for t in setup.viewer_pc.getTransceivers() if t.kind == "video")
    setup.sender_feedback.clear()
    await receiver._send_rtcp_pli(video_ssrc)
    await wait_until(
        lambda: any(
            isinstance(p, RtcpPsfbPacket) and p.fmt == RTCP_PSFB_PLI for p in setup.sender_feedback
        )
    )
    shown = len(setup.video_frames)
    await wait_until(lambda: len(setup.video_frames) > shown + 5)


def record_rtcp(endpoint: Any, into: list[Any], method: str = "_handle_rtcp_packet") -> None:
    """Keep what ``endpoint`` (an aiortc sender or receiver) handles or sends."""
    original = getattr(endpoint, method)

    async def record(packet: Any) -> None:
        into.append(packet)
        await original(packet)

    setattr(endpoint, method, record)


async def test_reports_and_bandwidth_feedback_are_kept_per_leg(setup: Setup) -> None:
    audio_ssrc = gateway_ssrc(setup.viewer_peer, "audio")
    origin_sender = next(t.sender for t in setup.sender_pc.getTransceivers() if t.kind == "audio")
    viewer_audio = next(t.receiver for t in setup.viewer_pc.getTransceivers() if t.kind == "audio")
    viewer_video = next(t.receiver for t in setup.viewer_pc.getTransceivers() if t.kind == "video")
    to_viewer: list[Any] = []
    to_origin: list[Any] = []
    remb_sent: list[Any] = []
    record_rtcp(viewer_audio, to_viewer)
    record_rtcp(origin_sender, to_origin)
    record_rtcp(viewer_video, remb_sent, "_send_rtcp")

    def sender_report() -> RtcpSrPacket | None:
        return next((p for p in to_viewer if isinstance(p, RtcpSrPacket)), None)

    # The viewer's leg: sender reports under the gateway's SSRC, counting what it forwarded.
    await wait_until(lambda: sender_report() is not None, timeout=5)
    report = sender_report()
    assert report is not None and report.ssrc == audio_ssrc
    received = len(setup.viewer_capture.of(audio_ssrc))
    assert 20 < report.sender_info.packet_count <= received + 5

    # The origin's leg: receiver reports about the origin's own stream, from the path.
    def origin_report() -> Any:
        for packet in to_origin:
            if isinstance(packet, (RtcpRrPacket, RtcpSrPacket)):
                for block in packet.reports:
                    if block.ssrc == origin_sender._ssrc:
                        return block
        return None

    await wait_until(lambda: origin_report() is not None, timeout=5)
    block = origin_report()
    assert block.highest_sequence > 20 and block.packets_lost == 0

    # Bandwidth feedback: the viewer's REMB reaches the origin, about the origin's SSRC.
    def remb(packets: list[Any]) -> list[tuple[int, list[int]]]:
        return [
            unpack_remb_fci(p.fci)
            for p in packets
            if isinstance(p, RtcpPsfbPacket) and p.fmt == RTCP_PSFB_APP
        ]

    video_origin = inbound(setup.sender_peer, "video").origin_ssrc
    await wait_until(lambda: bool(remb(remb_sent)), timeout=5)
    await wait_until(
        lambda: any(
            bitrate in {b for b, _ in remb(remb_sent)} and ssrcs == [video_origin]
            for bitrate, ssrcs in remb(setup.sender_feedback)
        ),
        timeout=5,
    )


def dtls_transport(pc: RTCPeerConnection) -> Any:
    """The one (bundled) DTLS transport of a peer connection."""
    return pc.getTransceivers()[0].receiver.transport


async def new_pair(transport: Any) -> tuple[CandidatePair, int]:
    """A real second socket on 127.0.0.1 for ``transport``'s ICE connection, nominated.

    aiortc cannot restart ICE, so this stands in for aioice nominating another pair: the
    new pair has the same remote candidate and a local socket of its own, which the
    connection closes with its others.
    """
    connection = transport.transport._connection
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_datagram_endpoint(
        lambda: StunProtocol(connection), local_addr=("127.0.0.1", 0)
    )
    port: int = protocol.transport.get_extra_info("sockname")[1]
    protocol.local_candidate = Candidate("second", 1, "udp", 1, "127.0.0.1", port, "host")
    connection._protocols.append(protocol)
    nominated = compat.nominated_pairs(transport)
    pair = CandidatePair(protocol, nominated[1].remote_candidate)
    pair.nominated = True
    pair.state = CandidatePair.State.SUCCEEDED
    nominated[1] = pair
    return pair, port


def is_rtp(data: bytes) -> bool:
    return len(data) > 12 and 127 < data[0] < 192 and not 192 <= data[1] <= 223


def count_datagrams(protocol: Any, into: list[int]) -> None:
    """Note the source port of every RTP datagram ``protocol`` (a StunProtocol) receives."""
    original = protocol.datagram_received

    def received(data: bytes, addr: tuple[Any, ...]) -> None:
        if is_rtp(data):
            into.append(addr[1])
        original(data, addr)

    protocol.datagram_received = received


async def test_forwarding_follows_a_newly_nominated_pair(setup: Setup) -> None:
    audio_ssrc = gateway_ssrc(setup.viewer_peer, "audio")
    await wait_until(lambda: len(setup.viewer_capture.of(audio_ssrc)) > 10)
    sources: list[int] = []
    count_datagrams(compat.nominated_pairs(dtls_transport(setup.viewer_pc))[1].protocol, sources)
    await wait_until(lambda: len(sources) > 5)
    first_port = sources[-1]

    _, port = await new_pair(dtls_transport(setup.viewer_peer.pc))
    assert port != first_port
    received = len(setup.viewer_capture.of(audio_ssrc))
    await wait_until(lambda: sources.count(port) > 20)
    await wait_until(lambda: len(setup.viewer_capture.of(audio_ssrc)) > received + 20)
    sources.clear()
    await wait_until(lambda: len(sources) > 20)
    assert set(sources) == {port}  # forwarded media leaves through the new socket only
    video_ssrc = gateway_ssrc(setup.viewer_peer, "video")
    shown = len(setup.viewer_capture.of(video_ssrc))
    await wait_until(lambda: len(setup.viewer_capture.of(video_ssrc)) > shown + 5)
    counters = setup.viewer_peer.counters()
    assert counters.packets_out > 40 and counters.send_failures == 0


async def test_media_arriving_on_a_new_pair_is_taken_by_the_direct_path(setup: Setup) -> None:
    audio_ssrc = gateway_ssrc(setup.viewer_peer, "audio")
    await wait_until(lambda: len(setup.viewer_capture.of(audio_ssrc)) > 10)
    gateway = dtls_transport(setup.sender_peer.pc)
    pair, port = await new_pair(gateway)
    # The sending client now sends to the new socket (its pair points at the new address).
    client = compat.nominated_pairs(dtls_transport(setup.sender_pc))
    moved = CandidatePair(
        client[1].protocol, Candidate("second", 1, "udp", 1, "127.0.0.1", port, "host")
    )
    moved.nominated = True
    moved.state = CandidatePair.State.SUCCEEDED
    client[1] = moved

    # The first packets on the new socket take aiortc's queued path, which hooks it.
    await wait_until(lambda: compat.datagram_handler(pair.protocol) is None)
    await asyncio.sleep(0.2)  # what was queued before has been handled
    queued: list[bytes] = []
    hooked = compat.rtp_handler(gateway)

    async def count_queued(data: bytes, arrival_time_ms: int) -> None:
        queued.append(data)
        await hooked(data, arrival_time_ms)

    compat.set_rtp_handler(gateway, count_queued)
    arrived: list[int] = []
    count_datagrams(pair.protocol, arrived)
    stream = inbound(setup.sender_peer, "audio")
    taken = stream.packets
    received = len(setup.viewer_capture.of(audio_ssrc))
    await wait_until(lambda: len(arrived) > 30 and stream.packets > taken + 20)
    await wait_until(lambda: len(setup.viewer_capture.of(audio_ssrc)) > received + 20)
    assert queued == []  # forwarded in the socket callback, not through aiortc's queue
    counters = setup.sender_peer.counters()
    assert counters.packets_in >= stream.packets and counters.dropped == 0


async def test_counters_total_the_streams_and_outlive_close(setup: Setup) -> None:
    audio_ssrc = gateway_ssrc(setup.viewer_peer, "audio")
    await wait_until(lambda: len(setup.viewer_capture.of(audio_ssrc)) > 20)
    sent = setup.viewer_peer.counters()
    taken = setup.sender_peer.counters()
    assert sent.packets_out > 20 and sent.bytes_out > sent.packets_out
    assert taken.packets_in > 20 and taken.send_failures == 0
    await setup.viewer_peer.close()
    closed = setup.viewer_peer.counters()
    assert closed.packets_out >= sent.packets_out
    await asyncio.sleep(0.2)
    assert setup.viewer_peer.counters() == closed
