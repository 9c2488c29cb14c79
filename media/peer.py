"""One participant's peer connection on the gateway and its SDP negotiation."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamError
from pylibsrtp import Error as SrtpError

from media import compat
from media.fastpath import InboundStream, Negotiation, OutboundStream, VideoGate, codec_name
from media.ice import IcePolicy, pinned_host_addresses
from media.relay import DeferredTrack, new_relay
from media.sdp import align_reoffer, parse_sections
from media.sdpcheck import SdpShapeError, check_and_normalise

logger = logging.getLogger(__name__)

FORWARDED_CODECS = {"audio": ("opus",), "video": ("vp8", "h264")}


class NegotiationError(Exception):
    """The remote description could not be applied."""


class GlareError(NegotiationError):
    """The remote side offered while the gateway's own offer was outstanding."""


class NoPendingOfferError(NegotiationError):
    """An answer arrived while the gateway had no offer outstanding."""


def _checked(sdp: str) -> str:
    try:
        return check_and_normalise(sdp)
    except SdpShapeError as exc:
        raise NegotiationError(str(exc)) from exc


class PlaceholderTrack(MediaStreamTrack):
    """Gives a sending transceiver its track; packets are written past it by the fast path."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self._ended = asyncio.Event()

    async def recv(self) -> Any:
        await self._ended.wait()
        raise MediaStreamError

    def stop(self) -> None:
        super().stop()
        self._ended.set()


@dataclass(frozen=True)
class MediaCounters:
    """What one participant's connection forwarded, totalled over its streams (outbound
    ones from when they are added, offered yet or not).

    ``packets_in``/``bytes_in``: media packets taken from the participant and forwarded
    (payload bytes); ``packets_out``/``bytes_out``: packets sent to the participant;
    ``dropped``: never forwarded (malformed, padding only, failing SRTP, held back by the
    video gate, or no leg, payload type or connection to send on); ``padding``: the
    padding-only packets among them; ``video_gated``: the video packets among them that the
    closed video gate held back, coming from this participant or going to them;
    ``send_failures``: packets SRTP or the socket refused.
    """

    packets_in: int = 0
    bytes_in: int = 0
    packets_out: int = 0
    bytes_out: int = 0
    dropped: int = 0
    padding: int = 0
    send_failures: int = 0
    video_gated: int = 0


def opus_payload_types(sdp: str) -> frozenset[int]:
    """Payload types that ``sdp`` maps to Opus in its audio sections."""
    _, sections = parse_sections(sdp)
    return frozenset(
        pt
        for section in sections
        if section.lines[0].startswith("m=audio ")
        for key, pt in section.codecs.items()
        if codec_name(key) == "opus"
    )


class MediaPeer:
    """The gateway's end of one participant's WebRTC connection.

    Inbound media is forwarded at the packet level (:mod:`media.fastpath`) to the outbound
    streams of other participants, added with :meth:`add_outbound`. Negotiation is
    serialised: the client offers first, and the gateway offers (``needs_offer``) when it
    has a stream the client has not yet been offered, or when the video gate changed since
    the directions were last negotiated.

    Video passes only through an open video gate (:meth:`set_video_allowed`; closed unless
    ``allow_video`` opens it from the start). The gate is checked on every video packet:
    from this participant in their inbound stream, to them in each outbound stream, so
    nothing the client negotiated or sends gets video past a closed gate. While it is
    closed, video sections are negotiated inactive and video streams of others wait,
    unoffered. Audio is never gated. With ``forwarding="relay"`` (the benchmark's
    decode-and-re-encode baseline) video is always declined: there is no packet path to
    gate.
    """

    def __init__(
        self,
        policy: IcePolicy,
        label: str,
        allow_video: bool = False,
        forwarding: str = "packet",
    ) -> None:
        if forwarding not in ("packet", "relay"):
            raise ValueError(f"unknown forwarding mode {forwarding!r}")
        self._policy = policy
        self._label = label
        self._forwarding = forwarding
        # Shared with this connection's video streams, which read it on every packet.
        self._video_gate = VideoGate(allow_video)
        self._video_negotiated = self._video_open()  # what the directions last applied
        self._relay: MediaRelay | None = None
        self._relayed: dict[str, list[DeferredTrack]] = {}
        self._pc = RTCPeerConnection(
            RTCConfiguration(iceServers=[server.to_aiortc() for server in policy.servers])
        )
        self._lock = asyncio.Lock()
        self._pending: list[tuple[MediaStreamTrack, OutboundStream | None]] = []
        self._stream_on: dict[int, OutboundStream] = {}  # id(transceiver) -> its stream
        self._outbound: list[tuple[MediaStreamTrack, OutboundStream | None]] = []
        self._inbound: dict[str, InboundStream] = {}
        self._negotiation = Negotiation()
        self._inbound_by_pt: dict[int, InboundStream] = {}
        self._rtx_by_pt: dict[int, tuple[InboundStream, int]] = {}
        self._destinations: dict[str, list[OutboundStream]] = {}
        self._hooked_transports: set[int] = set()
        self._refused = 0  # datagrams the direct receive path dropped (SRTP or a bug)
        self._failure_logged = False
        self._final_counters: MediaCounters | None = None
        self._closed = False
        self._connected = asyncio.Event()
        self._connection_state = "new"
        self.on_failed: Callable[[], None] | None = None
        self._pc.on("track", self._on_track)
        self._pc.on("connectionstatechange", self._on_connection_state_change)

    @property
    def pc(self) -> RTCPeerConnection:
        return self._pc

    @property
    def closed(self) -> bool:
        return self._closed

    async def wait_connected(self, timeout: float) -> bool:
        """Wait until ICE and DTLS are up (False on timeout or close).

        The gateway offers only after that: aiortc's receiver fixes its payload types when
        the connection comes up, from whatever description is current at that moment.
        """
        try:
            await asyncio.wait_for(self._connected.wait(), timeout)
        except TimeoutError:
            return False
        return not self._closed

    @property
    def needs_offer(self) -> bool:
        """True when the gateway should offer and the connection can renegotiate now.

        Something to offer: a stream waiting for its transceiver (video ones only while the
        gate is open), or video sections whose direction no longer matches the gate (opened:
        video is received and sent again; closed: video sections go inactive).
        """
        if (
            self._closed
            or self._pc.signalingState != "stable"
            or self._pc.remoteDescription is None
        ):
            return False
        video = self._video_open()
        if any(track.kind != "video" or video for track, _ in self._pending):
            return True
        return self._video_negotiated != video and any(
            t.kind == "video" and t.mid is not None for t in self._pc.getTransceivers()
        )

    @property
    def video_allowed(self) -> bool:
        """Whether the video gate is open (see :meth:`set_video_allowed`)."""
        return self._video_gate.allowed

    def set_video_allowed(self, allowed: bool) -> None:
        """Open or close the video gate of this participant's connection, at once.

        Closed (the default): no video packet from this participant, nor to them, leaves
        the gateway; the next packet after closing is dropped, whatever the client keeps
        sending. What was sent is forgotten (never resent on a NACK). The transceivers stay
        as negotiated until the next negotiation, which declines video (inactive);
        ``needs_offer`` turns True so the gateway can make that negotiation itself, after
        which a well-behaved client stops sending video.

        Open: video passes. The video streams of others waiting for this connection, and
        video sections declined while closed, make ``needs_offer`` True: the gateway's
        offer brings them (video is also accepted in the client's next offer: VP8, H.264
        when offered). A keyframe is asked of every video origin concerned (this
        participant's camera for the others, the others' cameras for this participant),
        so the first picture comes without waiting for the encoder's own next keyframe;
        numbering goes on without a gap.

        The gate is this connection's: a call's consent opens (or closes) it on the
        connection of every participant. Idempotent. In ``relay`` forwarding video stays
        declined whatever the gate says.
        """
        gate = self._video_gate
        if gate.allowed == allowed:
            return
        gate.allowed = allowed  # from the next packet on (the path reads it per packet)
        if self._closed:
            return
        logger.debug("%s video gate %s", self._label, "open" if allowed else "closed")
        inbound = self._inbound.get("video")
        outbound = [s for _, s in self._outbound if s is not None and s.kind == "video"]
        if allowed:
            if inbound is not None:
                inbound.gate_opened()
            for stream in outbound:
                stream.gate_opened()
        else:
            if inbound is not None:
                inbound.gate_closed()
            for stream in outbound:
                stream.gate_closed()

    def inbound(self, kind: str) -> InboundStream | None:
        return self._inbound.get(kind)

    def counters(self) -> MediaCounters:
        """Totals of this connection's inbound and outbound streams (cheap: sums a few ints).

        After :meth:`close`, the totals as they were when it closed.
        """
        if self._final_counters is not None:
            return self._final_counters
        inbound = list(self._inbound.values())
        outbound = [stream for _, stream in self._outbound if stream is not None]
        outbound += [stream for _, stream in self._pending if stream is not None]
        return MediaCounters(
            packets_in=sum(s.packets for s in inbound),
            bytes_in=sum(s.bytes for s in inbound),
            packets_out=sum(s.packets for s in outbound),
            bytes_out=sum(s.bytes for s in outbound),
            dropped=self._refused
            + sum(s.dropped for s in inbound)
            + sum(s.dropped for s in outbound),
            padding=sum(s.padding for s in inbound),
            send_failures=sum(s.send_failures for s in outbound),
            video_gated=sum(s.gated for s in inbound) + sum(s.gated for s in outbound),
        )

    def add_outbound(self, kind: str) -> OutboundStream:
        """A new stream to send to this participant (offered at the next negotiation).

        A video stream passes this connection's video gate, and waits unoffered while the
        gate is closed.
        """
        gate = self._video_gate if kind == "video" else None
        stream = OutboundStream(kind, self._negotiation, gate)
        if not self._closed:
            self._pending.append((PlaceholderTrack(kind), stream))
        return stream

    def send_to(self, other: MediaPeer, kind: str) -> object:
        """Send this participant's ``kind`` media to ``other`` (offered to them next).

        Returns a handle for :meth:`stop_outbound` on ``other``.
        """
        if self._forwarding == "packet":
            stream = other.add_outbound(kind)
            self.forward(kind, stream)
            return stream
        # Baseline: decode here, re-encode for the other side (see media/relay.py).
        track = DeferredTrack(kind)
        if not other._closed:
            other._pending.append((track, None))
        self._relayed.setdefault(kind, []).append(track)
        for transceiver in self._pc.getTransceivers():
            remote = transceiver.receiver.track
            if remote is not None and remote.kind == kind and self._relay is not None:
                track.set_source(self._relay.subscribe(remote))
        return track

    def unforward(self, destination: object) -> None:
        """Stop sending to ``destination`` (a stream on a peer connection that has gone)."""
        for kind, destinations in self._destinations.items():
            if destination in destinations:
                destinations.remove(destination)
                stream = self._inbound.get(kind)
                if stream is not None and isinstance(destination, OutboundStream):
                    stream.remove_destination(destination)

    def stop_outbound(self, handle: object) -> None:
        """Stop sending a stream whose source has gone (its transceiver idles from now on)."""
        for entries in (self._pending, self._outbound):
            for entry in list(entries):
                track, stream = entry
                if handle is stream or handle is track:
                    track.stop()
                    if stream is not None and stream.source is not None:
                        stream.source.remove_destination(stream)
                    if entries is self._pending:
                        entries.remove(entry)

    def pending_offer(self) -> str | None:
        """The gateway's outstanding offer, if the client has not answered it yet."""
        if self._closed or self._pc.signalingState != "have-local-offer":
            return None
        local = self._pc.localDescription
        remote = self._pc.remoteDescription
        if local is None or remote is None:
            return None
        return align_reoffer(str(local.sdp), str(remote.sdp))

    def forward(self, kind: str, destination: OutboundStream) -> None:
        """Send this participant's ``kind`` media to ``destination`` (now or once it flows)."""
        self._destinations.setdefault(kind, []).append(destination)
        stream = self._inbound.get(kind)
        if stream is not None:
            stream.add_destination(destination)

    async def accept_offer(self, sdp: str) -> str:
        """Apply the client's offer and return the gateway's answer."""
        async with self._lock:
            self._check_open()
            if self._pc.signalingState == "have-local-offer":
                raise GlareError("the gateway has an offer outstanding")
            sdp = _checked(sdp)
            if not opus_payload_types(sdp):
                raise NegotiationError("the offer has no Opus audio")
            offer = RTCSessionDescription(sdp=self._policy.filter_sdp(sdp), type="offer")
            try:
                await self._pc.setRemoteDescription(offer)
            except Exception as exc:  # aiortc raises many types on bad SDP
                raise NegotiationError(str(exc) or type(exc).__name__) from exc
            self._restrict_transceivers()
            self._attach_pending(answering=True)
            try:
                with pinned_host_addresses(self._policy.host_addresses):
                    answer = await self._pc.createAnswer()
                    await self._pc.setLocalDescription(answer)
                # Reads the remote description back, which aiortc writes anew: an address
                # it parsed but cannot write (c=IN IP4 -1) fails only here.
                self._route_inbound()
            except Exception as exc:  # an offer aiortc accepted but cannot answer
                raise NegotiationError(str(exc) or type(exc).__name__) from exc
            return str(self._pc.localDescription.sdp)

    async def create_offer(self) -> str | None:
        """Offer pending streams to the client; None when nothing needs offering."""
        async with self._lock:
            if not self.needs_offer:
                return None
            self._apply_video_gate()
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
            sdp = _checked(sdp)
            answer = RTCSessionDescription(sdp=self._policy.filter_sdp(sdp), type="answer")
            try:
                await self._pc.setRemoteDescription(answer)
                self._route_inbound()  # see accept_offer
            except Exception as exc:
                raise NegotiationError(str(exc) or type(exc).__name__) from exc

    async def close(self) -> None:
        """Release the peer connection, its streams and tasks (idempotent)."""
        if self._closed:
            return
        self._final_counters = self.counters()
        self._closed = True
        self._connected.set()  # wakes wait_connected(), which then answers False
        self.on_failed = None
        for inbound in self._inbound.values():
            for destination in list(inbound.destinations):
                inbound.remove_destination(destination)
        for track, outbound in self._outbound + self._pending:
            track.stop()
            if outbound is not None and outbound.source is not None:
                outbound.source.remove_destination(outbound)
        for tracks in self._relayed.values():
            for deferred in tracks:
                deferred.stop()
        self._relayed.clear()
        self._outbound.clear()
        self._pending.clear()
        self._destinations.clear()
        self._inbound_by_pt.clear()
        try:
            await self._pc.close()
        except Exception as exc:
            # An offer aiortc applied only in part (a media section left without a
            # transport) makes its close fail part way: stop the transports it did not.
            logger.warning("%s: closing failed: %s", self._label, type(exc).__name__)
            await _stop_transports(self._pc)

    def _check_open(self) -> None:
        if self._closed:
            raise NegotiationError("the peer connection is closed")

    def _video_open(self) -> bool:
        return self._video_gate.allowed and self._forwarding == "packet"

    def _restrict_transceivers(self) -> None:
        """Answer with the forwarded codecs only, and video as the gate says."""
        for transceiver in self._pc.getTransceivers():
            if transceiver.kind == "audio":
                transceiver.setCodecPreferences(_forwarded_codecs("audio"))
        self._apply_video_gate()

    def _apply_video_gate(self) -> None:
        """Set the video transceivers' directions for the next description from the gate.

        Closed: inactive (video is not part of a call without consent: declined, never
        received). Open: a transceiver declined before receives again, and sends when it
        carries a stream of ours.
        """
        video = self._video_open()
        self._video_negotiated = video
        for transceiver in self._pc.getTransceivers():
            if transceiver.kind != "video":
                continue
            if not video:
                transceiver.direction = "inactive"
                continue
            if transceiver.direction == "inactive":  # only the gate makes them so
                sending = transceiver.sender.track is not None
                transceiver.direction = "sendrecv" if sending else "recvonly"
            transceiver.setCodecPreferences(_forwarded_codecs("video"))

    def _attach_pending(self, answering: bool = False) -> None:
        """Give pending streams their transceivers.

        In an answer only the client's offered transceivers can carry them (one stream
        each); the rest wait for the gateway's own offer (``needs_offer``). Video streams
        wait while the gate is closed.
        """
        video = self._video_open()
        for entry in list(self._pending):
            track, stream = entry
            if track.kind == "video" and not video:
                continue
            if answering and not any(
                t.kind == track.kind and t.sender.track is None and t.direction != "inactive"
                for t in self._pc.getTransceivers()
            ):
                continue
            self._pending.remove(entry)
            sender = self._pc.addTrack(track)
            for transceiver in self._pc.getTransceivers():
                if transceiver.sender is sender and stream is not None:
                    previous = self._stream_on.get(id(transceiver))
                    if previous is not None and previous is not stream:
                        stream.continue_from(previous)  # same SSRC: numbers go on
                    self._stream_on[id(transceiver)] = stream
                    stream.bind(transceiver)
            self._outbound.append((track, stream))

    def _on_track(self, track: MediaStreamTrack) -> None:
        """A remote track appeared (once per transceiver, in whatever direction it ends up).

        Video gets its inbound stream even while the gate is closed: aiortc announces a
        track only once, and packets a client sends anyway are then taken, counted and
        dropped by the gate instead of reaching aiortc.
        """
        if self._forwarding == "relay":
            if track.kind == "video":
                return  # declined (see _video_open): nothing of it is taken or relayed
            if self._relay is None:
                self._relay = new_relay()
            for deferred in self._relayed.get(track.kind, []):
                deferred.set_source(self._relay.subscribe(track))
            return
        for transceiver in self._pc.getTransceivers():
            if transceiver.receiver.track is track:
                # Emitted before aiortc starts the receiver: it starts without a decoder.
                compat.receive_without_decoder(transceiver.receiver)
            if transceiver.receiver.track is track and track.kind not in self._inbound:
                stream = InboundStream(
                    track.kind,
                    transceiver.receiver,
                    self._negotiation,
                    transceiver.mid,
                    self._video_gate if track.kind == "video" else None,
                )
                self._inbound[track.kind] = stream
                for destination in self._destinations.get(track.kind, []):
                    stream.add_destination(destination)
                self._hook_transport(transceiver.receiver.transport)

    def _route_inbound(self) -> None:
        """Map the payload types the client sends to the inbound stream of their kind."""
        remote = self._pc.remoteDescription
        if remote is None:
            return
        self._negotiation.applied(remote.sdp)
        _, sections = parse_sections(remote.sdp)
        routes: dict[int, InboundStream] = {}
        rtx: dict[int, tuple[InboundStream, int]] = {}
        for section in sections:
            kind = section.lines[0][2:].split(" ", 1)[0]
            stream = self._inbound.get(kind)
            if stream is None:
                continue
            for key, pt in section.codecs.items():
                if codec_name(key) in FORWARDED_CODECS.get(kind, ()):
                    routes[pt] = stream
            for key, pt in section.codecs.items():
                if key.startswith("rtx/") and "#apt=" in key:
                    base = int(key.split("#apt=", 1)[1])
                    if base in routes:
                        rtx[pt] = (stream, base)
        self._inbound_by_pt = routes
        self._rtx_by_pt = rtx

    def _hook_transport(self, transport: Any) -> None:
        """Take decrypted RTP of forwarded codecs before aiortc parses it.

        RTP still arriving this way (aiortc's queued path) once DTLS is up came in on a
        socket the direct path has not taken yet, such as that of a newly nominated ICE
        pair: each such packet re-runs :func:`_direct_receive`, which takes the socket of
        the pair nominated now unless it has it already.
        """
        if id(transport) in self._hooked_transports:
            return
        self._hooked_transports.add(id(transport))
        original = compat.rtp_handler(transport)
        routes = self

        async def handle_rtp_data(data: bytes, arrival_time_ms: int) -> None:
            if not routes._closed:
                _direct_receive(transport, routes)
            if not routes._take_rtp(data):
                await original(data, arrival_time_ms)

        compat.set_rtp_handler(transport, handle_rtp_data)
        transport.on("statechange", lambda: self._on_dtls_state(transport))
        self._on_dtls_state(transport)

    def _take_rtp(self, data: bytes) -> bool:
        """Forward decrypted RTP of a forwarded codec; False leaves it to aiortc."""
        payload_type = data[1] & 0x7F
        stream = self._inbound_by_pt.get(payload_type)
        if stream is not None:
            stream.on_packet(data)
            return True
        retransmission = self._rtx_by_pt.get(payload_type)
        if retransmission is not None:
            retransmission[0].on_retransmission(data, retransmission[1])
            return True
        return False

    def _on_dtls_state(self, transport: Any) -> None:
        """Once DTLS is up, take SRTP straight off the socket (see :func:`_direct_receive`)."""
        if transport.state == "connected" and not self._closed:
            _direct_receive(transport, self)

    def _on_connection_state_change(self) -> None:
        new = str(self._pc.connectionState)
        if new == self._connection_state:
            return
        logger.debug("%s connection %s -> %s", self._label, self._connection_state, new)
        self._connection_state = new
        if new == "connected":
            self._connected.set()
        if new == "failed" and self.on_failed is not None:
            callback = self.on_failed
            self.on_failed = None
            callback()


def _forwarded_codecs(kind: str) -> list[Any]:
    """aiortc's codecs of ``kind`` that the gateway forwards, with their RTX."""
    wanted = FORWARDED_CODECS.get(kind, ())
    return [
        codec
        for codec in RTCRtpSender.getCapabilities(kind).codecs
        if codec.mimeType.split("/", 1)[1].lower() in wanted
        or codec.mimeType.lower().endswith("/rtx")
    ]


async def _stop_transports(pc: RTCPeerConnection) -> None:
    """Stop every DTLS and ICE transport of ``pc`` that exists, whatever fails."""
    for transceiver in pc.getTransceivers():
        dtls = transceiver.receiver.transport
        for transport in (dtls, getattr(dtls, "transport", None)):
            if transport is not None:
                try:
                    await transport.stop()
                except Exception as exc:
                    logger.debug("stopping a transport failed: %s", type(exc).__name__)


def _direct_receive(transport: Any, peer: MediaPeer) -> None:
    """Handle SRTP datagrams in the socket callback, before aioice and aiortc queue them.

    aiortc would parse each datagram as STUN (failing), queue it, wake the DTLS task,
    decrypt and parse it. Here RTP (not RTCP, STUN or DTLS, RFC 7983) whose payload type
    (in the clear in SRTP) is a forwarded codec is decrypted with the transport's SRTP
    session and forwarded in the same callback; everything else takes aiortc's usual path.
    Takes the socket of the ICE pair aioice has nominated now; a socket already taken is
    left as it is (and keeps being handled if aioice nominates another pair).
    """
    pair = compat.nominated_pairs(transport).get(1)
    if pair is None:
        return
    protocol = compat.pair_protocol(pair)
    original = compat.datagram_handler(protocol)
    if original is None:
        return  # taken already
    unprotect = compat.srtp_unprotect(transport)
    if unprotect is None:
        return
    take = peer._take_rtp

    def datagram_received(data: bytes, addr: tuple[Any, ...]) -> None:
        if (
            len(data) > 12
            and 127 < data[0] < 192
            and ((data[1] & 0x7F) in peer._inbound_by_pt or (data[1] & 0x7F) in peer._rtx_by_pt)
        ):
            try:
                take(unprotect(data))
            except Exception as exc:
                # Fails authentication or is a replay (dropped, as aiortc would), or a bug
                # in forwarding: never let one packet break the socket; say what, not which.
                peer._refused += 1
                if not isinstance(exc, SrtpError) and not peer._failure_logged:
                    peer._failure_logged = True
                    logger.warning(
                        "forwarding failed: %s; counting further failures", type(exc).__name__
                    )
            return
        original(data, addr)

    compat.set_datagram_handler(protocol, datagram_received)
