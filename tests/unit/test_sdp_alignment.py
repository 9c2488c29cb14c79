"""Re-offers keep the payload types and extension ids the browser negotiated first."""

from __future__ import annotations

from media.sdp import align_reoffer, match_codec, parse_sections

BROWSER_OFFER = "\r\n".join(
    [
        "v=0",
        "o=- 1 2 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0",
        "a=mid:0",
        "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
        "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid",
        "a=rtpmap:111 opus/48000/2",
        "a=rtcp-fb:111 transport-cc",
        "a=fmtp:111 minptime=10;useinbandfec=1",
        "a=rtpmap:63 red/48000/2",
        "a=rtpmap:9 G722/8000",
        "a=rtpmap:0 PCMU/8000",
        "",
    ]
)

GATEWAY_REOFFER = "\r\n".join(
    [
        "v=0",
        "o=- 3 3 IN IP4 0.0.0.0",
        "s=-",
        "t=0 0",
        "m=audio 40000 UDP/TLS/RTP/SAVPF 96",
        "c=IN IP4 127.0.0.1",
        "a=sendrecv",
        "a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid",
        "a=extmap:2 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
        "a=extmap:3 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
        "a=mid:0",
        "a=rtpmap:96 opus/48000/2",
        "a=fmtp:96 useinbandfec=1",
        "a=candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host",
        "m=video 9 UDP/TLS/RTP/SAVPF 97",
        "a=mid:1",
        "a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid",
        "a=rtpmap:97 VP8/90000",
        "",
    ]
)


def test_payload_types_and_extension_ids_follow_the_browser() -> None:
    aligned = align_reoffer(GATEWAY_REOFFER, BROWSER_OFFER).split("\r\n")
    audio = aligned[aligned.index("m=audio 40000 UDP/TLS/RTP/SAVPF 111") :]
    assert "a=rtpmap:111 opus/48000/2" in audio
    assert "a=fmtp:111 useinbandfec=1" in audio
    assert "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid" in audio
    assert "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level" in audio
    # An extension the browser never offered is left out rather than given a new id.
    assert not any(
        "abs-send-time" in line for line in audio[: audio.index("m=video 9 UDP/TLS/RTP/SAVPF 97")]
    )
    assert "a=candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host" in audio
    assert not any(line.startswith("a=rtpmap:96") for line in aligned)


def test_a_new_section_is_numbered_like_a_negotiated_one_of_its_kind() -> None:
    """Another participant's stream: same BUNDLE, so the same ids and payload types."""
    reoffer = GATEWAY_REOFFER.replace(
        "m=video 9 UDP/TLS/RTP/SAVPF 97",
        "m=audio 9 UDP/TLS/RTP/SAVPF 96 9 0\r\n"
        "a=sendonly\r\n"
        "a=mid:2\r\n"
        "a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
        "a=extmap:2 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n"
        "a=rtpmap:96 opus/48000/2\r\n"
        "a=rtpmap:9 G722/8000\r\n"
        "a=rtpmap:0 PCMU/8000\r\n"
        "m=video 9 UDP/TLS/RTP/SAVPF 97",
    )
    aligned = align_reoffer(reoffer, BROWSER_OFFER).split("\r\n")
    new = aligned[aligned.index("a=mid:2") - 2 : aligned.index("m=video 9 UDP/TLS/RTP/SAVPF 97")]
    assert new[0] == "m=audio 9 UDP/TLS/RTP/SAVPF 111 9 0"
    assert "a=rtpmap:111 opus/48000/2" in new
    assert "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid" in new
    assert "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level" in new
    assert not any(line.startswith(("a=extmap:2", "a=rtpmap:96")) for line in new)


def test_the_first_section_of_a_kind_takes_the_bundle_groups_extension_ids() -> None:
    """Video after audio: codecs as they are, but an extension id must mean the same in
    every section of the BUNDLE group (Chromium: "codec collision for header extension")."""
    reoffer = GATEWAY_REOFFER.replace(
        "a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid\r\na=rtpmap:97 VP8/90000",
        "a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
        "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n"
        "a=rtpmap:97 VP8/90000",
    )
    aligned = align_reoffer(reoffer, BROWSER_OFFER).split("\r\n")
    video = aligned[aligned.index("m=video 9 UDP/TLS/RTP/SAVPF 97") :]
    assert video[1] == "a=mid:1"
    assert "a=rtpmap:97 VP8/90000" in video
    assert "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid" in video  # the audio's id
    # A URI the group does not use yet: an id no other section uses (1 and 4 are taken).
    (abs_send,) = [line for line in video if "abs-send-time" in line]
    assert abs_send == "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
    by_id: dict[str, set[str]] = {}
    for line in aligned:
        if line.startswith("a=extmap:"):
            ext_id, uri = line.split()[:2]
            by_id.setdefault(ext_id, set()).add(uri)
    assert all(len(seen) == 1 for seen in by_id.values()), by_id


def test_rtx_follows_its_base_codec() -> None:
    remote = (
        "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96 97\r\na=mid:1\r\n"
        "a=rtpmap:96 VP8/90000\r\na=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n"
    )
    offer = (
        "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 100 101\r\na=mid:1\r\n"
        "a=rtpmap:100 VP8/90000\r\na=rtpmap:101 rtx/90000\r\na=fmtp:101 apt=100\r\n"
    )
    aligned = align_reoffer(offer, remote)
    assert "m=video 9 UDP/TLS/RTP/SAVPF 96 97" in aligned
    assert "a=fmtp:97 apt=96" in aligned


def test_extension_block_layout() -> None:
    from media.fastpath import _Leg
    from media.rtp import find_one_byte_extension, one_byte_extensions

    leg = _Leg(
        sender=None,  # type: ignore[arg-type]
        ssrc=1,
        payload_types={},
        rtx_payload_types={},
        rtx_ssrc=2,
        mid=b"0",
        mid_id=4,
        audio_level_id=1,
        abs_send_time_id=3,
    )
    for head, tail, level in (
        (leg.extension_head, leg.plain_tail, None),
        (leg.level_head, leg.level_tail(0x85), 0x85),
    ):
        packet = b"\x90\x6f\x00\x01" + b"\x00" * 8 + head + b"\x01\x02\x03" + tail + b"payload"
        found = one_byte_extensions(packet)
        assert found[4] == b"0"
        assert found[3] == b"\x01\x02\x03"
        assert (found.get(1) == bytes([level])) if level is not None else (1 not in found)
        assert packet.endswith(b"payload")
        assert packet[12 + 4 + 4 * int.from_bytes(packet[14:16], "big") :] == b"payload"
        if level is not None:
            assert find_one_byte_extension(packet, 1) == level


H264_SECTION = "\r\n".join(
    [
        "m=video 9 UDP/TLS/RTP/SAVPF 102 103 106 107 127",
        "a=mid:1",
        "a=rtpmap:102 H264/90000",
        "a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f",
        "a=rtpmap:103 rtx/90000",
        "a=fmtp:103 apt=102",
        "a=rtpmap:106 H264/90000",
        "a=fmtp:106 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f",
        "a=rtpmap:107 rtx/90000",
        "a=fmtp:107 apt=106",
        "a=rtpmap:127 H264/90000",
        "a=fmtp:127 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d0032",
        "",
    ]
)


def test_h264_variants_are_kept_apart() -> None:
    _, (section,) = parse_sections(H264_SECTION)
    assert section.codecs == {
        "h264/90000;packetization-mode=1;profile-level-id=42001f": 102,
        "rtx/90000#apt=102": 103,
        "h264/90000;packetization-mode=0;profile-level-id=42e01f": 106,
        "rtx/90000#apt=106": 107,
        "h264/90000;packetization-mode=1;profile-level-id=4d0032": 127,
    }


def test_codecs_match_exactly_or_by_profile_and_mode_across_levels() -> None:
    _, (section,) = parse_sections(H264_SECTION)
    offered = section.codecs
    # Same profile and mode, another level: the viewer's entry of that family.
    assert match_codec("h264/90000;packetization-mode=1;profile-level-id=42001e", offered) == 102
    assert match_codec("h264/90000;packetization-mode=1;profile-level-id=4d001f", offered) == 127
    # Another packetization mode or profile never matches.
    assert match_codec("h264/90000;packetization-mode=0;profile-level-id=42001f", offered) is None
    assert match_codec("h264/90000;packetization-mode=1;profile-level-id=64001f", offered) is None
    assert match_codec("vp8/90000", offered) is None
    assert match_codec("vp8/90000", {"vp8/90000": 96}) == 96
