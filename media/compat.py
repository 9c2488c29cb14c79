"""Every private part of aiortc and aioice that Tukilinja reaches, in one place.

aiortc has no public hook for packet-level forwarding, so the fast path (:mod:`media.fastpath`,
:mod:`media.peer`) and the ICE address pinning (:mod:`media.ice`) reach into both libraries.
Those reaches are the small functions here and nowhere else. :func:`check_compat` verifies,
against the installed versions, that everything used here exists; the gateway calls it at
start-up and refuses to run otherwise, so an upgrade breaks loudly in one place instead of
quietly on the hot path.

Cost: the accessors are for set-up (once per leg, transport or ICE pair), never per packet.
What the hot path needs per packet is handed out once: the live dicts (the sender's report
counters, aioice's nominated pairs) and bound methods (SRTP protect, the socket's sendto).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any, Final

import aioice.ice
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtcrtpreceiver import StreamStatistics

if TYPE_CHECKING:
    from aiortc import RTCDtlsTransport, RTCRtpReceiver, RTCRtpSender
    from aiortc.rtcrtpparameters import RTCRtpReceiveParameters

RtpHandler = Callable[[bytes, int], Awaitable[None]]
RtcpHandler = Callable[[Any], Awaitable[None]]
DatagramHandler = Callable[[bytes, tuple[Any, ...]], None]
HostAddressLookup = Callable[[bool, bool], list[str]]

_CONNECTED: Final = DtlsState.CONNECTED
_TAKEN_MARK: Final = "_tukilinja_direct"

# aiortc's sender builds its sender reports from these (name-mangled) attributes; the fast
# path keeps them current by writing the sender's ``vars()`` under these keys.
SR_PACKET_COUNT: Final = "_RTCRtpSender__packet_count"
SR_OCTET_COUNT: Final = "_RTCRtpSender__octet_count"
SR_RTP_TIMESTAMP: Final = "_RTCRtpSender__rtp_timestamp"
SR_NTP_TIMESTAMP: Final = "_RTCRtpSender__ntp_timestamp"

_SENDER_ATTRIBUTES: Final = (SR_PACKET_COUNT, SR_OCTET_COUNT, SR_RTP_TIMESTAMP, SR_NTP_TIMESTAMP)
_SENDER_PLAIN: Final = ("_ssrc", "_rtx_ssrc")
_SENDER_METHODS: Final = ("_handle_rtcp_packet",)
_RECEIVER_ATTRIBUTES: Final = (
    "_RTCRtpReceiver__remote_streams",
    "_RTCRtpReceiver__rtcp_ssrc",
    "_RTCRtpReceiver__started",
    "_RTCRtpReceiver__codecs",
    "_RTCRtpReceiver__rtx_ssrc",
    "_RTCRtpReceiver__decoder_queue",
    "_RTCRtpReceiver__transport",
    "_RTCRtpReceiver__rtcp_task",
)
_RECEIVER_METHODS: Final = (
    "receive",
    "_run_rtcp",
    "_send_rtcp",
    "_send_rtcp_pli",
    "_send_rtcp_nack",
)
_DTLS_ATTRIBUTES: Final = ("_state", "_tx_srtp", "_rx_srtp")
_DTLS_METHODS: Final = ("_handle_rtp_data", "_register_rtp_receiver")


class CompatError(RuntimeError):
    """The installed aiortc or aioice lacks something the forwarding path relies on."""


def installed_versions() -> str:
    """``aiortc X, aioice Y`` as installed (for messages)."""
    found = []
    for package in ("aiortc", "aioice"):
        try:
            found.append(f"{package} {version(package)}")
        except PackageNotFoundError:
            found.append(f"{package} (version unknown)")
    return ", ".join(found)


# --- RTCRtpSender ---------------------------------------------------------------------


def sender_report_counters(sender: RTCRtpSender) -> dict[str, Any]:
    """The sender's attributes, to update under the ``SR_*`` keys (resolved once per leg)."""
    counters: dict[str, Any] = vars(sender)
    return counters


def sender_ssrcs(sender: RTCRtpSender) -> tuple[int, int]:
    """The SSRCs aiortc chose for the sender's media and for its retransmissions (RTX)."""
    return int(sender._ssrc), int(sender._rtx_ssrc)


def sender_rtcp_handler(sender: RTCRtpSender) -> RtcpHandler:
    """What handles the RTCP that the remote side sends about this sender's stream."""
    handler: RtcpHandler = sender._handle_rtcp_packet
    return handler


def set_sender_rtcp_handler(sender: RTCRtpSender, handler: RtcpHandler) -> None:
    sender._handle_rtcp_packet = handler  # type: ignore[method-assign, assignment]


# --- RTCRtpReceiver -------------------------------------------------------------------


def receiver_statistics(receiver: RTCRtpReceiver) -> dict[int, StreamStatistics]:
    """Per remote SSRC, the statistics aiortc's receiver builds its receiver reports from."""
    streams: dict[int, StreamStatistics] = receiver._RTCRtpReceiver__remote_streams  # type: ignore[attr-defined]
    return streams


def new_statistics(clock_rate: int) -> StreamStatistics:
    return StreamStatistics(clock_rate)


def highest_sequence(stats: StreamStatistics) -> int | None:
    """The newest sequence number ``stats`` has seen (None before the first packet)."""
    newest: int | None = stats.max_seq
    return newest


def receiver_rtcp_ssrc(receiver: RTCRtpReceiver) -> int | None:
    """The SSRC the receiver sends its RTCP under (None until it is started)."""
    ssrc: int | None = receiver._RTCRtpReceiver__rtcp_ssrc  # type: ignore[attr-defined]
    return ssrc


async def send_pli(receiver: RTCRtpReceiver, media_ssrc: int) -> None:
    await receiver._send_rtcp_pli(media_ssrc)


async def send_nack(receiver: RTCRtpReceiver, media_ssrc: int, lost: list[int]) -> None:
    await receiver._send_rtcp_nack(media_ssrc, lost)


async def send_rtcp(receiver: RTCRtpReceiver, packet: Any) -> None:
    await receiver._send_rtcp(packet)


class _Dropped:
    """Stands in for the decoder's queue: what would be decoded is dropped."""

    def put(self, item: Any) -> None:
        """Drop ``item``."""


def receive_without_decoder(receiver: RTCRtpReceiver) -> None:
    """Make ``receiver`` start as aiortc's ``RTCRtpReceiver.receive`` does, minus the decoder.

    aiortc starts a decoder thread per receiver. Packet forwarding decodes nothing: the fast
    path takes the media before aiortc sees it, so the thread would only idle, and stopping
    it joins the thread on the event loop. Anything that still reaches aiortc's receiver (a
    payload type the path does not forward) feeds its statistics and NACK generator and is
    then dropped instead of queued for a decoder nobody runs.
    """
    state: Any = receiver

    async def receive(parameters: RTCRtpReceiveParameters) -> None:
        if state._RTCRtpReceiver__started:
            return
        for codec in parameters.codecs:
            state._RTCRtpReceiver__codecs[codec.payloadType] = codec
        for encoding in parameters.encodings:
            if encoding.rtx:
                state._RTCRtpReceiver__rtx_ssrc[encoding.rtx.ssrc] = encoding.ssrc
        state._RTCRtpReceiver__decoder_queue = _Dropped()
        state._RTCRtpReceiver__transport._register_rtp_receiver(receiver, parameters)
        state._RTCRtpReceiver__rtcp_task = asyncio.ensure_future(receiver._run_rtcp())
        state._RTCRtpReceiver__started = True

    state.receive = receive


# --- RTCDtlsTransport -----------------------------------------------------------------


def rtp_handler(transport: RTCDtlsTransport) -> RtpHandler:
    """What the DTLS transport hands each decrypted RTP packet to (aiortc's demultiplexer)."""
    handler: RtpHandler = transport._handle_rtp_data
    return handler


def set_rtp_handler(transport: RTCDtlsTransport, handler: RtpHandler) -> None:
    transport._handle_rtp_data = handler  # type: ignore[method-assign, assignment]


def srtp_protect(transport: RTCDtlsTransport) -> Callable[[bytes], bytes] | None:
    """The transport's SRTP ``protect`` for RTP, or None unless DTLS is connected."""
    if transport._state is not _CONNECTED or transport._tx_srtp is None:
        return None
    protect: Callable[[bytes], bytes] = transport._tx_srtp.protect
    return protect


def srtp_unprotect(transport: RTCDtlsTransport) -> Callable[[bytes], bytes] | None:
    """The transport's SRTP ``unprotect`` for RTP, or None unless DTLS is connected."""
    if transport._state is not _CONNECTED or transport._rx_srtp is None:
        return None
    unprotect: Callable[[bytes], bytes] = transport._rx_srtp.unprotect
    return unprotect


# --- aioice ---------------------------------------------------------------------------


def nominated_pairs(transport: RTCDtlsTransport) -> dict[int, Any]:
    """aioice's nominated candidate pair per ICE component: the live dict, to compare against.

    aioice replaces an entry when another pair is nominated (and clears the dict on close),
    so ``nominated.get(1) is pair`` tells, without allocating, whether a pair is current.
    """
    nominated: dict[int, Any] = transport.transport._connection._nominated
    return nominated


def pair_endpoint(pair: Any) -> tuple[Callable[[bytes, Any], None], tuple[str, int]] | None:
    """The socket ``sendto`` and remote address of a candidate pair (None once closed)."""
    socket = pair.protocol.transport
    if socket is None or socket.is_closing():
        return None
    return socket.sendto, pair.remote_addr


def pair_protocol(pair: Any) -> Any:
    """The pair's local ``StunProtocol`` (one per local socket)."""
    return pair.protocol


def datagram_handler(protocol: Any) -> DatagramHandler | None:
    """The protocol's datagram callback, or None when :func:`set_datagram_handler` took it."""
    if getattr(protocol, _TAKEN_MARK, False):
        return None
    handler: DatagramHandler = protocol.datagram_received
    return handler


def set_datagram_handler(protocol: Any, handler: DatagramHandler) -> None:
    """Handle the socket's datagrams with ``handler`` (it calls the original for the rest)."""
    setattr(protocol, _TAKEN_MARK, True)
    protocol.datagram_received = handler


def host_address_lookup() -> HostAddressLookup:
    """aioice's host-address lookup, used when gathering host candidates."""
    lookup: HostAddressLookup = aioice.ice.get_host_addresses
    return lookup


def set_host_address_lookup(lookup: HostAddressLookup) -> None:
    aioice.ice.get_host_addresses = lookup  # type: ignore[assignment]


# --- start-up check -------------------------------------------------------------------


def check_compat() -> None:
    """Raise :class:`CompatError` unless everything this module uses exists as installed.

    Builds a throwaway peer connection with an audio transceiver (nothing is gathered or
    sent) and inspects its receiver, sender, DTLS transport and ICE connection; what aiortc
    and aioice only set once connected is checked by running the setter on a stand-in.
    Needs a running event loop (aiortc's constructors look for one).
    """
    try:
        missing = _missing()
    except Exception as exc:  # the objects inspected changed shape beyond a missing name
        raise CompatError(
            f"the installed {installed_versions()} could not be inspected for what media "
            f"forwarding relies on: {type(exc).__name__}: {exc}"
        ) from exc
    if missing:
        raise CompatError(
            f"the installed {installed_versions()} lack what media forwarding relies on: "
            f"{', '.join(missing)} (media/compat.py lists what is used)"
        )


def _missing() -> list[str]:
    from aiortc import RTCPeerConnection

    missing: list[str] = []

    def need_attributes(owner: str, obj: Any, names: tuple[str, ...]) -> None:
        present = vars(obj) if hasattr(obj, "__dict__") else {}
        missing.extend(f"{owner}.{name}" for name in names if name not in present)

    def need_methods(owner: str, cls: type, names: tuple[str, ...]) -> None:
        missing.extend(
            f"{owner}.{name}" for name in names if not callable(getattr(cls, name, None))
        )

    pc = RTCPeerConnection()
    transceiver = pc.addTransceiver("audio")
    sender, receiver = transceiver.sender, transceiver.receiver
    dtls = receiver.transport
    need_attributes("RTCRtpSender", sender, _SENDER_ATTRIBUTES + _SENDER_PLAIN)
    need_methods("RTCRtpSender", type(sender), _SENDER_METHODS)
    need_attributes("RTCRtpReceiver", receiver, _RECEIVER_ATTRIBUTES)
    need_methods("RTCRtpReceiver", type(receiver), _RECEIVER_METHODS)
    need_attributes("StreamStatistics", StreamStatistics(48000), ("max_seq",))
    need_methods("StreamStatistics", StreamStatistics, ("add",))
    need_attributes("RTCDtlsTransport", dtls, _DTLS_ATTRIBUTES)
    need_methods("RTCDtlsTransport", type(dtls), _DTLS_METHODS)
    for name in ("_tx_srtp", "_rx_srtp"):
        # Set on the DTLS handshake: their type is pylibsrtp's Session, assigned in start().
        if f"self.{name} = Session(" not in _source(type(dtls)):
            missing.append(f"RTCDtlsTransport.{name} (assigned a pylibsrtp Session)")
    from pylibsrtp import Session

    need_methods("pylibsrtp.Session", Session, ("protect", "unprotect"))
    connection = getattr(getattr(dtls, "transport", None), "_connection", None)
    if connection is None:
        missing.append("RTCIceTransport._connection")
    elif not isinstance(getattr(connection, "_nominated", None), dict):
        missing.append("aioice.Connection._nominated")
    else:
        missing.extend(_missing_pair_parts(connection))
    if not callable(getattr(aioice.ice, "get_host_addresses", None)):
        missing.append("aioice.ice.get_host_addresses")
    return missing


def _missing_pair_parts(connection: Any) -> list[str]:
    """A stand-in pair on a stand-in socket: what the fast path reads from nominated pairs."""
    missing: list[str] = []
    protocol_class = getattr(aioice.ice, "StunProtocol", None)
    pair_class = getattr(aioice.ice, "CandidatePair", None)
    if protocol_class is None or pair_class is None:
        return ["aioice.ice.StunProtocol" if protocol_class is None else "aioice.ice.CandidatePair"]
    if not callable(getattr(protocol_class, "datagram_received", None)):
        missing.append("aioice.ice.StunProtocol.datagram_received")
    protocol = protocol_class(connection)
    socket = _StandInSocket()
    protocol.connection_made(socket)
    if getattr(protocol, "transport", None) is not socket:
        missing.append("aioice.ice.StunProtocol.transport")
    candidate = aioice.Candidate("1", 1, "udp", 1, "127.0.0.1", 9, "host")
    pair = pair_class(protocol, candidate)
    if getattr(pair, "protocol", None) is not protocol:
        missing.append("aioice.ice.CandidatePair.protocol")
    if getattr(pair, "remote_addr", None) != ("127.0.0.1", 9):
        missing.append("aioice.ice.CandidatePair.remote_addr")
    return missing


class _StandInSocket:
    """Given to a stand-in protocol's ``connection_made``; never sends."""

    def sendto(self, data: bytes, addr: Any = None) -> None:
        """Send nothing."""

    def is_closing(self) -> bool:
        return True


def _source(cls: type) -> str:
    try:
        return inspect.getsource(cls)
    except (OSError, TypeError):
        return ""
