"""ICE policy: remote candidate filtering and host address pinning."""

from __future__ import annotations

import aioice.ice

from media.ice import IcePolicy, pinned_host_addresses

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


async def test_gateway_peer_uses_no_default_stun() -> None:
    from media.peer import MediaPeer

    peer = MediaPeer(IcePolicy(host_addresses=("127.0.0.1",)), "test")
    offer_sdp = (
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n"
        "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendrecv\r\n"
        "a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n"
        "a=fingerprint:sha-256 " + ":".join(["AB"] * 32) + "\r\na=setup:actpass\r\n"
        "a=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\n"
    )
    answer = await peer.accept_offer(offer_sdp)
    try:
        assert "stun" not in answer.lower()
        candidates = [line for line in answer.splitlines() if line.startswith("a=candidate:")]
        assert candidates
        assert all(" 127.0.0.1 " in line and "typ host" in line for line in candidates)
        for transceiver in peer._pc.getTransceivers():
            connection = transceiver.receiver.transport.transport.iceGatherer._connection
            assert connection.stun_server is None
            assert connection.turn_server is None
    finally:
        await peer.close()
