"""Shared Hypothesis strategies: JSON-shaped junk, request-shaped messages, browser-like SDP."""

from __future__ import annotations

import json
from typing import Any, Final

from hypothesis import strategies as st

from signaling import protocol as p

# A Chromium-like offer (audio and video, one host candidate): the seed that SDP mutations
# start from, so that they reach past the shape checks into aiortc.
BROWSER_OFFER_LINES: Final = (
    "v=0",
    "o=- 4611731400430051336 2 IN IP4 127.0.0.1",
    "s=-",
    "t=0 0",
    "a=group:BUNDLE 0 1",
    "a=extmap-allow-mixed",
    "a=msid-semantic: WMS stream",
    "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126",
    "c=IN IP4 0.0.0.0",
    "a=rtcp:9 IN IP4 0.0.0.0",
    "a=candidate:1 1 udp 2113937151 127.0.0.1 50000 typ host generation 0",
    "a=ice-ufrag:abcd",
    "a=ice-pwd:abcdefghijklmnopqrstuvwx",
    "a=ice-options:trickle",
    "a=fingerprint:sha-256 " + ":".join(["AB"] * 32),
    "a=setup:actpass",
    "a=mid:0",
    "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
    "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
    "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid",
    "a=sendrecv",
    "a=msid:stream audio0",
    "a=rtcp-mux",
    "a=rtpmap:111 opus/48000/2",
    "a=rtcp-fb:111 transport-cc",
    "a=fmtp:111 minptime=10;useinbandfec=1",
    "a=rtpmap:63 red/48000/2",
    "a=fmtp:63 111/111",
    "a=rtpmap:9 G722/8000",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:8 PCMA/8000",
    "a=rtpmap:13 CN/8000",
    "a=rtpmap:110 telephone-event/48000",
    "a=rtpmap:126 telephone-event/8000",
    "a=ssrc:1001 cname:abc",
    "m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103",
    "c=IN IP4 0.0.0.0",
    "a=rtcp:9 IN IP4 0.0.0.0",
    "a=ice-ufrag:abcd",
    "a=ice-pwd:abcdefghijklmnopqrstuvwx",
    "a=fingerprint:sha-256 " + ":".join(["AB"] * 32),
    "a=setup:actpass",
    "a=mid:1",
    "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
    "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid",
    "a=recvonly",
    "a=rtcp-mux",
    "a=rtcp-rsize",
    "a=rtpmap:96 VP8/90000",
    "a=rtcp-fb:96 nack",
    "a=rtcp-fb:96 nack pli",
    "a=rtcp-fb:96 goog-remb",
    "a=rtpmap:97 rtx/90000",
    "a=fmtp:97 apt=96",
    "a=rtpmap:102 H264/90000",
    "a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f",
    "a=rtpmap:103 rtx/90000",
    "a=fmtp:103 apt=102",
)
BROWSER_OFFER: Final = "\r\n".join(BROWSER_OFFER_LINES) + "\r\n"

# Line shapes aiortc's parser gives meaning to: a mutation fills in the text.
SDP_TEMPLATES: Final = (
    "m=audio {}",
    "m=video {}",
    "m={}",
    "c={}",
    "v={}",
    "a=rtpmap:{}",
    "a=rtpmap:111 {}",
    "a=fmtp:{}",
    "a=fmtp:111 {}",
    "a=fmtp:97 apt={}",
    "a=rtcp-fb:{}",
    "a=extmap:{}",
    "a=extmap:{} urn:ietf:params:rtp-hdrext:ssrc-audio-level",
    "a=candidate:{}",
    "a=candidate:1 1 udp 1 {} 5000 typ host",
    "a=setup:{}",
    "a=fingerprint:{}",
    "a=rtcp:{}",
    "a=mid:{}",
    "a=group:{}",
    "a=group:BUNDLE {}",
    "a=ssrc:{}",
    "a=ssrc-group:{}",
    "a=max-message-size:{}",
    "a=sctpmap:{}",
    "a=ice-ufrag:{}",
    "a=ice-pwd:{}",
    "a=msid:{}",
    "a={}",
    "{}",
)

NUMBERS: Final = st.one_of(
    st.integers(),
    st.sampled_from([0, -1, 1, 127, 128, 255, 256, 65535, 65536, 2**31, 2**32, 2**53, 2**64]),
    st.integers(min_value=10**18, max_value=10**400),
)
SHORT_TEXT: Final = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", " ", "\t", "0", "-1", "1e9999", "x", "\u2028", "\x0b", "\x1c", "٣"]),
    NUMBERS.map(str),
)


def _line_mutation(lines: list[str], data: st.DataObject) -> None:
    if not lines:
        lines.append(data.draw(SHORT_TEXT))
        return
    index = data.draw(st.integers(0, len(lines) - 1))
    action = data.draw(st.sampled_from(["drop", "dup", "replace", "insert", "space", "number"]))
    if action == "drop":
        del lines[index]
    elif action == "dup":
        lines.insert(index, lines[index])
    elif action in ("replace", "insert"):
        template = data.draw(st.sampled_from(SDP_TEMPLATES))
        line = template.format(data.draw(SHORT_TEXT))
        if action == "replace":
            lines[index] = line
        else:
            lines.insert(index, line)
    elif action == "space":
        lines[index] = data.draw(st.sampled_from([" ", "\t", "\x0c"])).join(
            data.draw(st.sampled_from([("", lines[index]), (lines[index], "")]))
        )
    else:
        words = lines[index].split(" ")
        word = data.draw(st.integers(0, len(words) - 1))
        words[word] = str(data.draw(NUMBERS))
        lines[index] = " ".join(words)


@st.composite
def mutated_sdp(draw: st.DrawFn, base: tuple[str, ...] = BROWSER_OFFER_LINES) -> str:
    """A browser-like offer with a few lines dropped, repeated, replaced or bent."""
    lines = list(base)
    data = draw(st.data())
    for _ in range(draw(st.integers(0, 6))):
        _line_mutation(lines, data)
    ending = draw(st.sampled_from(["\r\n", "\n", "\r"]))
    return ending.join(lines) + draw(st.sampled_from([ending, ""]))


ANY_SDP: Final = st.one_of(
    mutated_sdp(),
    st.text(max_size=2000),
    st.lists(st.sampled_from(SDP_TEMPLATES).map(lambda t: t.format("0")), max_size=500).map(
        "\r\n".join
    ),
)

JSON_SCALARS: Final = st.one_of(
    st.none(),
    st.booleans(),
    NUMBERS,
    st.floats(allow_nan=False, allow_infinity=False),
    SHORT_TEXT,
)
JSON_VALUES: Final = st.recursive(
    JSON_SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(SHORT_TEXT, children, max_size=4)
    ),
    max_leaves=20,
)


def nested(depth: int, leaf: str = "1") -> str:
    """``depth`` levels of alternating arrays and objects around ``leaf``."""
    opening = "".join('[{"a":' if level % 2 else "[" for level in range(depth))
    closing = "".join("}]" if level % 2 else "]" for level in reversed(range(depth)))
    return opening + leaf + closing


DEEP: Final = st.integers(1, 3000).map(nested)


def _field_values() -> st.SearchStrategy[Any]:
    return st.one_of(
        JSON_VALUES,
        st.sampled_from(["demo", "closed-line", "A B", "x" * 70, "", "fi", "x" * 36]),
        st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=70),
        st.integers(1, 4100).map(lambda n: "t" * n),
    )


REQUEST_IDS: Final = st.one_of(st.integers(1, 2**53 - 1), JSON_SCALARS)
FIELD_NAMES: Final = sorted(
    {name for cls in p.REQUEST_TYPES.values() for name in cls.__struct_fields__} | {"x"}
)


@st.composite
def request_objects(draw: st.DrawFn) -> dict[str, Any]:
    """A request-shaped object: a real or junk type, an id, and fields of any type."""
    type_name = draw(st.one_of(st.sampled_from(sorted(p.REQUEST_TYPES)), SHORT_TEXT))
    message: dict[str, Any] = {"type": type_name}
    if draw(st.booleans()):
        message["id"] = draw(REQUEST_IDS)
    cls = p.REQUEST_TYPES.get(type_name)
    names = [n for n in (cls.__struct_fields__ if cls else ()) if n != "id"]
    for name in draw(st.lists(st.sampled_from(names + FIELD_NAMES), max_size=4)):
        message[name] = draw(_field_values())
    return message


def _encode(message: dict[str, Any], deep: str | None) -> str:
    text = json.dumps(message, ensure_ascii=False)
    if deep is not None:  # a deeply nested value in a field of an otherwise real request
        text = text[:-1] + (', "deep": ' if len(message) else '"deep": ') + deep + "}"
    return text


RAW_MESSAGES: Final = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200),
    JSON_VALUES.map(json.dumps),
    DEEP,
    st.builds(_encode, request_objects(), st.none() | DEEP),
    st.builds(_encode, request_objects(), st.none()).map(str.encode),
)
