"""The video gate: video passes the gateway only while it is open, whatever a client sends.

Real aiortc clients on loopback send a synthetic camera through two gateway peers. The
viewer never asks for a keyframe itself (its PLIs are kept, not sent), so a picture that
appears soon after the gate opens came from the gateway's own keyframe request.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.rtp import RTCP_PSFB_PLI, RtcpPsfbPacket

from media.ice import pinned_host_addresses
from media.peer import MediaPeer
from media.sdp import parse_sections
from tests.integration.test_fastpath import (
    LOOPBACK,
    POLICY,
    Capture,
    capture_rtp,
    gateway_ssrc,
    inbound,
    wait_until,
)
from tests.support.audio import AudioSink, ToneTrack
from tests.support.video import PatternTrack


@dataclass
class Call:
    """A sending client and a viewing client, each on its own gateway peer."""

    sender_pc: RTCPeerConnection
    viewer_pc: RTCPeerConnection
    sender_peer: MediaPeer
    viewer_peer: MediaPeer
    codec: str
    capture: Capture = field(default_factory=Capture)
    frames: list[Any] = field(default_factory=list)
    audio: AudioSink = field(default_factory=AudioSink)
    sender_feedback: list[Any] = field(default_factory=list)  # RTCP the camera's sender got
    viewer_plis: list[int] = field(default_factory=list)  # asked for, never sent
    answers: list[str] = field(default_factory=list)  # the gateway's answers to the sender
    readers: list[asyncio.Task[None]] = field(default_factory=list)

    def video_received(self) -> int:
        """RTP packets the viewer received other than audio."""
        audio = gateway_ssrc(self.viewer_peer, "audio")
        return sum(1 for ssrc, _, _ in self.capture.packets if ssrc != audio)

    def video_sequence_numbers(self) -> list[int]:
        return self.capture.of(gateway_ssrc(self.viewer_peer, "video"))

    def plis_at_sender(self) -> int:
        return sum(
            1
            for p in self.sender_feedback
            if isinstance(p, RtcpPsfbPacket) and p.fmt == RTCP_PSFB_PLI
        )

    def add_camera(self) -> None:
        sender = self.sender_pc.addTrack(PatternTrack())
        chosen = [
            c for c in RTCRtpSender.getCapabilities("video").codecs if self.codec in c.mimeType
        ]
        for transceiver in self.sender_pc.getTransceivers():
            if transceiver.sender is sender:
                transceiver.setCodecPreferences(chosen)
        original = sender._handle_rtcp_packet

        async def record(packet: Any) -> None:
            self.sender_feedback.append(packet)
            await original(packet)

        sender._handle_rtcp_packet = record  # type: ignore[method-assign]

    async def sender_offers(self, ignore_decline: bool = False) -> str:
        """The sending client offers; with ``ignore_decline`` it sends video even if declined."""
        with pinned_host_addresses(LOOPBACK):
            await self.sender_pc.setLocalDescription(await self.sender_pc.createOffer())
        answer = await self.sender_peer.accept_offer(self.sender_pc.localDescription.sdp)
        self.answers.append(answer)
        read = accepting_declined_video(answer) if ignore_decline else answer
        await self.sender_pc.setRemoteDescription(RTCSessionDescription(read, "answer"))
        return answer


def video_direction(sdp: str) -> str | None:
    """The direction of the (first) video section of ``sdp``, None without one."""
    _, sections = parse_sections(sdp)
    for section in sections:
        if section.lines[0].startswith("m=video "):
            for line in section.lines:
                if line in ("a=sendrecv", "a=sendonly", "a=recvonly", "a=inactive"):
                    return line[2:]
            return "sendrecv"
    return None


def accepting_declined_video(sdp: str) -> str:
    """The answer as a client that ignores the decline reads it: video accepted."""
    lines = sdp.split("\r\n")
    video = False
    for i, line in enumerate(lines):
        if line.startswith("m="):
            video = line.startswith("m=video ")
        elif video and line == "a=inactive":
            lines[i] = "a=recvonly"
    return "\r\n".join(lines)


async def client_offers(pc: RTCPeerConnection, peer: MediaPeer) -> str:
    with pinned_host_addresses(LOOPBACK):
        await pc.setLocalDescription(await pc.createOffer())
    answer = await peer.accept_offer(pc.localDescription.sdp)
    await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    return answer


async def gateway_offers(pc: RTCPeerConnection, peer: MediaPeer) -> str:
    """What the signalling does when ``needs_offer``: the gateway offers, the client answers."""
    assert await peer.wait_connected(10)
    assert peer.needs_offer
    offer = await peer.create_offer()
    assert offer is not None
    await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
    with pinned_host_addresses(LOOPBACK):
        await pc.setLocalDescription(await pc.createAnswer())
    await peer.accept_answer(pc.localDescription.sdp)
    assert not peer.needs_offer
    return offer


Start = Callable[..., Awaitable[Call]]


@pytest.fixture
async def start() -> AsyncIterator[Start]:
    calls: list[Call] = []

    async def start_call(
        codec: str = "VP8",
        sender_video: bool = False,
        viewer_video: bool = False,
        camera: bool = True,
        ignore_decline: bool = False,
    ) -> Call:
        call = Call(
            RTCPeerConnection(RTCConfiguration(iceServers=[])),
            RTCPeerConnection(RTCConfiguration(iceServers=[])),
            MediaPeer(POLICY, "sender", allow_video=sender_video),
            MediaPeer(POLICY, "viewer", allow_video=viewer_video),
            codec,
        )
        calls.append(call)
        call.sender_pc.addTrack(ToneTrack(440))
        if camera:
            call.add_camera()
        await call.sender_offers(ignore_decline)
        call.sender_peer.send_to(call.viewer_peer, "audio")
        call.sender_peer.send_to(call.viewer_peer, "video")

        call.viewer_pc.addTrack(ToneTrack(880))
        if camera:
            call.viewer_pc.addTransceiver("video", direction="recvonly")

        @call.viewer_pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "audio":
                call.audio.consume(track)
                return
            for transceiver in call.viewer_pc.getTransceivers():
                if transceiver.receiver.track is track:
                    keep_plis(transceiver.receiver, call.viewer_plis)

            async def read() -> None:
                while True:
                    call.frames.append(await track.recv())

            call.readers.append(asyncio.ensure_future(read()))

        await client_offers(call.viewer_pc, call.viewer_peer)
        capture_rtp(call.viewer_pc, call.capture)
        return call

    yield start_call
    for call in calls:
        await call.audio.stop()
        for reader in call.readers:
            reader.cancel()
        for pc in (call.sender_pc, call.viewer_pc):
            await pc.close()
        for peer in (call.sender_peer, call.viewer_peer):
            await peer.close()


def keep_plis(receiver: Any, into: list[int]) -> None:
    """The viewer never asks for a keyframe: its PLIs are noted, not sent."""

    async def send_rtcp_pli(media_ssrc: int) -> None:
        into.append(media_ssrc)

    receiver._send_rtcp_pli = send_rtcp_pli


def seconds_since(start: float) -> float:
    return asyncio.get_running_loop().time() - start


async def test_video_sent_without_consent_is_dropped_while_audio_flows(start: Start) -> None:
    # The viewer's gate is open and its video leg negotiated: only the sender's gate is shut.
    call = await start(viewer_video=True, ignore_decline=True)
    assert video_direction(call.answers[0]) == "inactive"  # declined, as without video
    assert video_direction(call.viewer_pc.remoteDescription.sdp) == "sendonly"
    gateway_ssrc(call.viewer_peer, "video")  # the leg exists, ready to carry video
    await wait_until(lambda: call.sender_peer.counters().video_gated > 30)
    held = call.sender_peer.counters().video_gated
    audio_before = len(call.capture.of(gateway_ssrc(call.viewer_peer, "audio")))
    await asyncio.sleep(2)
    assert call.sender_peer.counters().video_gated > held + 30  # the client kept sending
    assert call.video_received() == 0 and call.frames == []
    assert inbound(call.sender_peer, "video").packets == 0
    assert len(call.capture.of(gateway_ssrc(call.viewer_peer, "audio"))) > audio_before + 50
    await wait_until(lambda: abs(call.audio.dominant_frequency() - 440) < 20)


@pytest.mark.parametrize("codec", ["VP8", "H264"])
async def test_consent_brings_the_first_picture_within_two_seconds(
    start: Start, codec: str
) -> None:
    call = await start(codec=codec, viewer_video=True, ignore_decline=True)
    await wait_until(lambda: call.sender_peer.counters().video_gated > 30)
    assert call.plis_at_sender() == 0
    loop = asyncio.get_running_loop()
    consent = loop.time()
    call.sender_peer.set_video_allowed(True)
    # The signalling then renegotiates what the gate changed (the sender's video section).
    offer = await gateway_offers(call.sender_pc, call.sender_peer)
    assert video_direction(offer) == "recvonly"
    await wait_until(lambda: bool(call.frames), timeout=2 - seconds_since(consent))
    assert (call.frames[0].width, call.frames[0].height) == (320, 240)
    assert call.plis_at_sender() > 0  # the gateway's keyframe request reached the camera
    assert call.sender_peer.counters().packets_in > 0


@pytest.mark.parametrize("side", ["sender", "viewer"])
async def test_withdrawal_stops_forwarding_within_a_second_and_reopening_works(
    start: Start, side: str
) -> None:
    call = await start(sender_video=True, viewer_video=True)
    await wait_until(lambda: len(call.frames) > 5, timeout=10)
    peer = call.sender_peer if side == "sender" else call.viewer_peer
    before = call.video_sequence_numbers()[-1]
    held = peer.counters().video_gated

    peer.set_video_allowed(False)  # the camera keeps sending: nothing is renegotiated
    assert peer.needs_offer  # the signalling may renegotiate video away (optional)
    await asyncio.sleep(1)
    first = call.video_received()
    shown = len(call.frames)
    await asyncio.sleep(0.5)
    assert call.video_received() == first
    assert len(call.frames) == shown
    assert peer.counters().video_gated > held + 15  # still arriving, held back
    last = call.video_sequence_numbers()[-1]
    assert (last - before) & 0xFFFF < 20  # stopped at once, not a second of video later

    call.sender_feedback.clear()
    peer.set_video_allowed(True)
    assert not peer.needs_offer  # nothing was renegotiated meanwhile: nothing to undo
    await wait_until(lambda: len(call.frames) > shown + 5, timeout=2)
    assert call.plis_at_sender() > 0
    numbers = call.video_sequence_numbers()
    resumed = numbers[numbers.index(last) :]
    steps = [((b - a + 0x8000) & 0xFFFF) - 0x8000 for a, b in itertools.pairwise(resumed)]
    assert steps and max(map(abs, steps)) < 10  # numbering goes on: nothing to NACK


async def test_closing_the_gate_renegotiates_video_away_and_opening_brings_it_back(
    start: Start,
) -> None:
    call = await start(sender_video=True, viewer_video=True)
    await wait_until(lambda: len(call.frames) > 5, timeout=10)
    for peer in (call.sender_peer, call.viewer_peer):
        peer.set_video_allowed(False)
    assert video_direction(await gateway_offers(call.sender_pc, call.sender_peer)) == "inactive"
    assert video_direction(await gateway_offers(call.viewer_pc, call.viewer_peer)) == "inactive"
    # The (well-behaved) camera stops sending once its video section is inactive.
    await asyncio.sleep(0.5)
    stream = inbound(call.sender_peer, "video")
    arriving = stream.gated
    await asyncio.sleep(0.5)
    assert stream.gated == arriving
    shown = len(call.frames)

    call.sender_feedback.clear()
    for peer in (call.sender_peer, call.viewer_peer):
        peer.set_video_allowed(True)
    consent = asyncio.get_running_loop().time()
    assert video_direction(await gateway_offers(call.sender_pc, call.sender_peer)) == "recvonly"
    assert video_direction(await gateway_offers(call.viewer_pc, call.viewer_peer)) == "sendrecv"
    await wait_until(lambda: len(call.frames) > shown + 5, timeout=2 - seconds_since(consent))
    assert call.plis_at_sender() > 0


async def test_a_camera_added_after_consent_reaches_the_viewer(start: Start) -> None:
    call = await start(camera=False)  # a voice call: nobody has a camera, no consent yet
    assert not call.viewer_peer.needs_offer  # the sender's video stream waits, unoffered
    # Another participant's audio and video: the gateway offers the audio alone.
    call.viewer_peer.add_outbound("audio")
    call.viewer_peer.add_outbound("video")
    offer = await gateway_offers(call.viewer_pc, call.viewer_peer)
    assert offer.count("m=audio ") == 2 and video_direction(offer) is None
    # A camera added without consent is declined: the client sends nothing.
    call.add_camera()
    assert video_direction(await call.sender_offers()) == "inactive"
    assert not call.sender_peer.needs_offer
    await asyncio.sleep(1)
    assert call.sender_peer.counters().video_gated == 0
    assert video_direction(call.viewer_pc.remoteDescription.sdp) is None

    consent = asyncio.get_running_loop().time()
    for peer in (call.sender_peer, call.viewer_peer):
        peer.set_video_allowed(True)
    assert call.viewer_peer.needs_offer  # the sender's video stream, offered now
    assert call.sender_peer.needs_offer  # its declined video section, accepted now
    # The client renegotiates first (it added the camera): its offer gets video accepted.
    answer = await call.sender_offers()
    assert video_direction(answer) == "recvonly"
    _, sections = parse_sections(answer)
    video = next(s for s in sections if s.lines[0].startswith("m=video "))
    assert any(key.startswith("vp8/") for key in video.codecs)
    assert not call.sender_peer.needs_offer
    assert video_direction(await gateway_offers(call.viewer_pc, call.viewer_peer)) == "sendrecv"
    await wait_until(lambda: bool(call.frames), timeout=2 - seconds_since(consent))
