"""ICE policy: remote candidate filtering and host address pinning."""

from __future__ import annotations

import asyncio

import aioice.ice
from aioice import stun

from media.ice import IcePolicy, IceServer, pinned_host_addresses

SDP = (
    "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
    "a=candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host\r\n"
    "a=candidate:2 1 udp 2130706431 10.1.2.3 5001 typ host\r\n"
    "a=candidate:3 1 udp 2130706431 abcd.local 5002 typ host\r\n"
    "a=rtpmap:111 opus/48000/2\r\n"
)


def test_filter_keeps_only_allowed_networks() -> None:
    policy = IcePolicy(remote_networks=("127.0.0.0/8",))
    filtered = policy.filter_sdp(SDP)
    assert "127.0.0.1 5000" in filtered
    assert "10.1.2.3" not in filtered
    assert "abcd.local" not in filtered
    assert "a=rtpmap:111 opus/48000/2" in filtered


def test_no_networks_means_no_filtering() -> None:
    assert IcePolicy().filter_sdp(SDP) == SDP


def test_pinning_is_scoped() -> None:
    with pinned_host_addresses(["127.0.0.1"]):
        assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True) == ["127.0.0.1"]
        assert aioice.ice.get_host_addresses(use_ipv4=False, use_ipv6=True) == []
    assert "127.0.0.1" not in aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False)


OFFER_SDP = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendrecv\r\n"
    "a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n"
    "a=fingerprint:sha-256 " + ":".join(["AB"] * 32) + "\r\na=setup:actpass\r\n"
    "a=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\n"
)
MAPPED = ("192.0.2.77", 40000)  # what the test's STUN server reports (TEST-NET-1)


class StunResponder(asyncio.DatagramProtocol):
    """A STUN server on loopback that answers every binding request with ``MAPPED``."""

    def __init__(self) -> None:
        self.requests = 0
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.DatagramTransport) -> None:  # type: ignore[override]
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        request = stun.parse_message(data)
        self.requests += 1
        response = stun.Message(
            message_method=request.message_method,
            message_class=stun.Class.RESPONSE,
            transaction_id=request.transaction_id,
            attributes={"XOR-MAPPED-ADDRESS": MAPPED},
        )
        assert self.transport is not None
        self.transport.sendto(bytes(response), addr)


async def answer_with(policy: IcePolicy) -> tuple[str, list[object]]:
    """The gateway peer's answer for ``policy``, and its ICE connections' STUN/TURN servers."""
    from media.peer import MediaPeer

    peer = MediaPeer(policy, "test")
    try:
        answer = await peer.accept_offer(OFFER_SDP)
        servers: list[object] = []
        for transceiver in peer._pc.getTransceivers():
            connection = transceiver.receiver.transport.transport.iceGatherer._connection
            servers += [connection.stun_server, connection.turn_server]
        return answer, servers
    finally:
        await peer.close()


async def test_gateway_peer_uses_no_default_stun() -> None:
    loop = asyncio.get_running_loop()
    transport, responder = await loop.create_datagram_endpoint(
        StunResponder, local_addr=("127.0.0.1", 0)
    )
    try:
        port = transport.get_extra_info("sockname")[1]
        # The probe first, with a STUN server configured: the answer carries the
        # server-reflexive candidate it reported, and the ICE agent knows the server.
        answer, servers = await answer_with(
            IcePolicy(
                host_addresses=("127.0.0.1",),
                servers=(IceServer(urls=(f"stun:127.0.0.1:{port}",)),),
            )
        )
        assert responder.requests >= 1
        assert f"{MAPPED[0]} {MAPPED[1]} typ srflx" in answer
        assert ("127.0.0.1", port) in servers
        # The gateway's own policy: no STUN server at all (aiortc's default is a public
        # Google server), so host candidates only.
        answer, servers = await answer_with(IcePolicy(host_addresses=("127.0.0.1",)))
        candidates = [line for line in answer.splitlines() if line.startswith("a=candidate:")]
        assert candidates
        assert all(" 127.0.0.1 " in line and line.endswith("typ host") for line in candidates)
        assert "typ srflx" not in answer and "typ relay" not in answer
        assert servers == [None, None]
    finally:
        transport.close()
