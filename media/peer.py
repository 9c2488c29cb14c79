"""One participant's peer connection on the gateway and its SDP negotiation."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)

from media.forwarding import AudioTap, EncodedAudioTrack, drain_track, opus_payload_types
from media.ice import IcePolicy, pinned_host_addresses
from media.sdp import align_reoffer

logger = logging.getLogger(__name__)


class NegotiationError(Exception):
    """The remote description could not be applied."""


class GlareError(NegotiationError):
    """The remote side offered while the gateway's own offer was outstanding."""


class NoPendingOfferError(NegotiationError):
    """An answer arrived while the gateway had no offer outstanding."""


class MediaPeer:
    """The gateway's end of one participant's WebRTC connection.

    Inbound Opus audio goes to :attr:`tap`, which fans it out to other participants'
    outbound tracks; outbound tracks are added with :meth:`add_outbound`. Negotiation is
    serialised: the client offers first, and the gateway offers (``needs_offer``) when it
    has a track the client has not yet been offered.
    """

    def __init__(self, policy: IcePolicy, label: str) -> None:
        self._policy = policy
        self._label = label
        self._pc = RTCPeerConnection(
            RTCConfiguration(iceServers=[server.to_aiortc() for server in policy.servers])
        )
        self._lock = asyncio.Lock()
        self._outbound: list[MediaStreamTrack] = []
        self._pending_outbound: list[MediaStreamTrack] = []
        self._drains: list[asyncio.Task[Any]] = []
        self._closed = False
        self._connection_state = "new"
        self.tap = AudioTap(frozenset())
        self.on_failed: Callable[[], None] | None = None
        self._pc.on("track", self._on_track)
        self._pc.on("connectionstatechange", self._on_connection_state_change)

    @property
    def connection_state(self) -> str:
        return self._connection_state

    @property
    def ice_connection_state(self) -> str:
        return str(self._pc.iceConnectionState)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def has_remote_description(self) -> bool:
        return self._pc.remoteDescription is not None

    @property
    def needs_offer(self) -> bool:
        """True when tracks wait to be offered and the connection can renegotiate now."""
        return (
            not self._closed
            and bool(self._pending_outbound)
            and self._pc.signalingState == "stable"
            and self._pc.remoteDescription is not None
        )

    def add_outbound(self, track: MediaStreamTrack) -> None:
        """Send ``track`` to this participant (offered at the next negotiation)."""
        if self._closed or track in self._outbound or track in self._pending_outbound:
            return
        self._pending_outbound.append(track)

    async def accept_offer(self, sdp: str) -> str:
        """Apply the client's offer and return the gateway's answer."""
        async with self._lock:
            self._check_open()
            if self._pc.signalingState == "have-local-offer":
                raise GlareError("the gateway has an offer outstanding")
            audio_types = opus_payload_types(sdp)
            if not audio_types:
                raise NegotiationError("the offer has no Opus audio")
            offer = RTCSessionDescription(sdp=self._policy.filter_sdp(sdp), type="offer")
            try:
                await self._pc.setRemoteDescription(offer)
            except Exception as exc:  # aiortc raises many types on bad SDP
                raise NegotiationError(str(exc) or type(exc).__name__) from exc
            self.tap.set_payload_types(audio_types)
            self._restrict_transceivers()
            self._attach_pending()
            with pinned_host_addresses(self._policy.host_addresses):
                answer = await self._pc.createAnswer()
                await self._pc.setLocalDescription(answer)
            return str(self._pc.localDescription.sdp)

    async def create_offer(self) -> str | None:
        """Offer pending tracks to the client; None when nothing needs offering."""
        async with self._lock:
            if not self.needs_offer:
                return None
            self._attach_pending()
            with pinned_host_addresses(self._policy.host_addresses):
                offer = await self._pc.createOffer()
                await self._pc.setLocalDescription(offer)
            return align_reoffer(
                str(self._pc.localDescription.sdp), str(self._pc.remoteDescription.sdp)
            )

    async def accept_answer(self, sdp: str) -> None:
        """Apply the client's answer to the gateway's offer."""
        async with self._lock:
            self._check_open()
            if self._pc.signalingState != "have-local-offer":
                raise NoPendingOfferError("no offer from the gateway is outstanding")
            answer = RTCSessionDescription(sdp=self._policy.filter_sdp(sdp), type="answer")
            try:
                await self._pc.setRemoteDescription(answer)
            except Exception as exc:
                raise NegotiationError(str(exc) or type(exc).__name__) from exc

    async def close(self) -> None:
        """Release the peer connection, its tracks and tasks (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self.on_failed = None
        self.tap.clear()
        for track in self._outbound + self._pending_outbound:
            track.stop()
        self._outbound.clear()
        self._pending_outbound.clear()
        await self._pc.close()
        for task in self._drains:
            task.cancel()
        for task in self._drains:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._drains.clear()

    async def get_stats(self) -> dict[str, Any]:
        """aiortc's statistics report as a plain dict (counts only, no addresses)."""
        if self._closed:
            return {}
        report = await self._pc.getStats()
        return {key: value for key, value in report.items()}

    def _check_open(self) -> None:
        if self._closed:
            raise NegotiationError("the peer connection is closed")

    def _restrict_transceivers(self) -> None:
        opus = [
            codec
            for codec in RTCRtpSender.getCapabilities("audio").codecs
            if codec.mimeType.lower() == "audio/opus"
        ]
        for transceiver in self._pc.getTransceivers():
            if transceiver.kind == "audio":
                transceiver.setCodecPreferences(opus)
            elif transceiver.direction != "inactive":
                # Video is not part of a voice call: it is declined, never received.
                transceiver.direction = "inactive"

    def _attach_pending(self) -> None:
        while self._pending_outbound:
            track = self._pending_outbound.pop(0)
            self._pc.addTrack(track)
            self._outbound.append(track)

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind != "audio":
            self._drains.append(drain_track(track))
            return
        for transceiver in self._pc.getTransceivers():
            if transceiver.receiver.track is track:
                self.tap.attach(transceiver.receiver)
        self._drains.append(drain_track(track))

    def _on_connection_state_change(self) -> None:
        new = str(self._pc.connectionState)
        if new == self._connection_state:
            return
        logger.debug("%s connection %s -> %s", self._label, self._connection_state, new)
        self._connection_state = new
        if new == "failed" and self.on_failed is not None:
            callback = self.on_failed
            self.on_failed = None
            callback()


def new_outbound_audio() -> EncodedAudioTrack:
    """An outbound track to carry one participant's audio to another."""
    return EncodedAudioTrack()
