"""Fuzz the SDP checks and rewrites a client's description passes through.

Properties: :func:`media.sdpcheck.check_and_normalise` refuses with
:class:`~media.sdpcheck.SdpShapeError` only, in bounded time, and what it lets through is
within every limit (so checking it again changes nothing); :mod:`media.sdp` and
:meth:`media.ice.IcePolicy.filter_sdp` never raise on what the check let through, and never
make it larger.
"""

from __future__ import annotations

import contextlib
import time

from hypothesis import example, given
from hypothesis import strategies as st

from media import sdpcheck
from media.ice import IcePolicy
from media.sdp import align_reoffer, codec_family, match_codec, parse_sections
from media.sdpcheck import SdpShapeError, check_and_normalise
from tests.fuzz.strategies import ANY_SDP, BROWSER_OFFER, BROWSER_OFFER_LINES, mutated_sdp

# Far above what one check costs (well under 10 ms at 32 KiB) yet far below the 130 ms an
# unchecked 32 KiB offer cost aiortc: a check that went quadratic would show.
CHECK_SECONDS = 0.25
POLICY = IcePolicy(remote_networks=("127.0.0.0/8", "::1/128", "10.0.0.0/8"))


def _many_sections(count: int) -> str:
    return "v=0\r\n" + "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n" * count


LARGE = st.one_of(
    st.integers(1, 300).map(_many_sections),
    st.integers(1, 500).map(lambda n: "v=0\r\nm=audio 9 RTP/AVP 0\r\n" + "a=x\r\n" * n),
    st.integers(1, 60).map(
        lambda n: BROWSER_OFFER + "a=candidate:1 1 udp 1 127.0.0.1 5000 typ host\r\n" * n
    ),
    st.integers(1, 2000).map(lambda n: "m=audio 9 RTP/AVP " + " ".join(["0"] * n)),
    st.integers(0, 32 * 1024).map(lambda n: "v=0\r\nm=audio 9 RTP/AVP 0\r\na=" + "x" * n),
    st.integers(0, 16 * 1024).map(lambda n: "\r\n" * n + "m=audio 9 RTP/AVP 0"),
)
SDPS = st.one_of(ANY_SDP, LARGE)


def _checked(sdp: str) -> str | None:
    started = time.perf_counter()
    try:
        out = check_and_normalise(sdp)
    except SdpShapeError:
        out = None
    assert time.perf_counter() - started < CHECK_SECONDS
    return out


def assert_within_limits(sdp: str) -> None:
    assert "\x00" not in sdp
    lines = sdp.splitlines()
    assert len(lines) <= sdpcheck.MAX_LINES
    assert all(len(line) <= sdpcheck.MAX_LINE_CHARS for line in lines)
    assert sum(line.startswith("a=candidate:") for line in lines) <= sdpcheck.MAX_CANDIDATES
    _, sections = parse_sections(sdp)
    assert 1 <= len(sections) <= sdpcheck.MAX_SECTIONS
    for section in sections:
        assert len(section.lines[0].split()) - 3 <= sdpcheck.MAX_FORMATS_PER_SECTION
        # aiortc assumes every media section names its direction.
        assert any(line in sdpcheck.DIRECTIONS for line in section.lines)


@given(SDPS)
@example("v=0\r\nm=audio 9 RTP/AVP 0\r\na=sendrecv \r\n")  # aiortc reads no direction here
@example("v=0\r\nm=audio 9 RTP/AVP 0\r\n a=sendrecv\r\n")
@example("v=0\r\n" + "m=audio 9 RTP/AVP 0\r\n" + "a=x\r\n" * 397 + "m=audio 9 RTP/AVP 0\r\n")
@example("v=0\r\nm=audio 9 RTP/AVP 0\u2028a=sendrecv\x85a=x\x0ba=y\x1cz")
def test_check_refuses_with_shape_errors_only_and_passes_only_what_is_in_limits(
    sdp: str,
) -> None:
    out = _checked(sdp)
    if out is None:
        return
    assert_within_limits(out)
    assert check_and_normalise(out) == out


def test_a_direction_aiortc_cannot_read_is_written_out() -> None:
    out = check_and_normalise("v=0\r\nm=audio 9 RTP/AVP 0\r\na=sendrecv \r\n")
    assert out.splitlines()[-1] == "a=sendrecv"


def test_directions_written_out_count_toward_the_line_limit() -> None:
    filler = "a=x\r\n" * (sdpcheck.MAX_LINES - 3)
    sdp = "v=0\r\nm=audio 9 RTP/AVP 0\r\n" + filler + "m=audio 9 RTP/AVP 0\r\n"
    assert len(sdp.splitlines()) == sdpcheck.MAX_LINES
    try:
        out = check_and_normalise(sdp)
    except SdpShapeError:
        return
    raise AssertionError(f"{len(out.splitlines())} lines passed the check")


@given(SDPS)
def test_parse_sections_raises_only_value_errors(sdp: str) -> None:
    # ValueError: a payload type or id of more than 4300 digits, never past the check.
    with contextlib.suppress(ValueError):
        parse_sections(sdp)


@given(SDPS, st.sampled_from([None, *BROWSER_OFFER_LINES]))
def test_media_sdp_and_ice_filter_accept_whatever_passed_the_check(
    sdp: str, extra: str | None
) -> None:
    checked = _checked(sdp)
    if checked is None:
        return
    session, sections = parse_sections(checked)
    assert len(session) + sum(len(s.lines) for s in sections) == len(checked.splitlines())
    for section in sections:
        for key in section.codecs:
            assert codec_family(key).startswith(key.split(";", 1)[0])
            assert match_codec(key, section.codecs) == section.codecs[key]
            assert match_codec(key + "x", section.codecs) in (None, *section.codecs.values())
    filtered = POLICY.filter_sdp(checked)
    assert len(filtered.splitlines()) <= len(checked.splitlines())
    for line in filtered.splitlines():
        if line.startswith("a=candidate:"):
            assert POLICY.accepts_remote(line.split()[4])
    # The gateway's own re-offer (here: a browser-like one) aligned to the client's numbering.
    offer = BROWSER_OFFER if extra is None else BROWSER_OFFER + extra + "\r\n"
    aligned = align_reoffer(offer, filtered)
    assert len(aligned.splitlines()) <= len(offer.splitlines())
    aligned_back = align_reoffer(filtered, offer)
    assert len(aligned_back.splitlines()) <= len(filtered.splitlines())


@given(mutated_sdp(), mutated_sdp())
def test_align_reoffer_of_two_bent_descriptions_keeps_to_the_offer(offer: str, remote: str) -> None:
    checked_offer, checked_remote = _checked(offer), _checked(remote)
    if checked_offer is None or checked_remote is None:
        return
    aligned = align_reoffer(checked_offer, checked_remote)
    assert len(aligned.splitlines()) <= len(checked_offer.splitlines())
    _, sections = parse_sections(aligned)
    for section in sections:
        formats = section.lines[0].split()[3:]
        assert len(formats) <= sdpcheck.MAX_FORMATS_PER_SECTION
