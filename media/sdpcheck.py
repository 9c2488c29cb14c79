"""Shape limits on a client's SDP, checked before aiortc parses it.

aiortc's parser and negotiation cost grows with the number of media sections, lines and
candidates; a crafted offer (hundreds of ``m=`` sections) would keep the event loop busy and
grow memory. A browser's offer for a call has one to three sections and a few dozen lines
each, so these limits leave room for every real client and refuse the rest cheaply, in
one pass over the lines.
"""

from __future__ import annotations

from typing import Final

MAX_SECTIONS: Final = 4  # audio, and later video (plus room for one more of each)
MAX_LINES: Final = 400
MAX_LINE_CHARS: Final = 1024
MAX_CANDIDATES: Final = 40
MAX_FORMATS_PER_SECTION: Final = 64
DIRECTIONS: Final = ("a=sendrecv", "a=sendonly", "a=recvonly", "a=inactive")


class SdpShapeError(ValueError):
    """The SDP is larger or stranger than any real client's; it is not parsed."""


def check_and_normalise(sdp: str) -> str:
    """Refuse an SDP beyond the limits; give sections without a direction ``a=sendrecv``.

    RFC 8866 (6.7) makes ``sendrecv`` the default when a section names no direction; aiortc
    assumes one is always present, so the default is written out here.
    """
    if "\x00" in sdp:
        raise SdpShapeError("the SDP contains a NUL character")
    lines = sdp.splitlines()
    if len(lines) > MAX_LINES:
        raise SdpShapeError(f"the SDP has more than {MAX_LINES} lines")
    sections = 0
    candidates = 0
    out: list[str] = []
    has_direction = True
    for line in lines:
        if len(line) > MAX_LINE_CHARS:
            raise SdpShapeError(f"an SDP line is longer than {MAX_LINE_CHARS} characters")
        if line.startswith("m="):
            if not has_direction:
                out.append("a=sendrecv")
            sections += 1
            if sections > MAX_SECTIONS:
                raise SdpShapeError(f"the SDP has more than {MAX_SECTIONS} media sections")
            if len(line.split()) - 3 > MAX_FORMATS_PER_SECTION:
                raise SdpShapeError("a media section lists too many formats")
            has_direction = False
        elif line.startswith("a=candidate:"):
            candidates += 1
            if candidates > MAX_CANDIDATES:
                raise SdpShapeError(f"the SDP has more than {MAX_CANDIDATES} candidates")
        elif sections and line in DIRECTIONS:
            # Exactly as aiortc reads it: with a space around it, it names no direction.
            has_direction = True
        out.append(line)
    if sections == 0:
        raise SdpShapeError("the SDP has no media section")
    if not has_direction:
        out.append("a=sendrecv")
    if len(out) > MAX_LINES:  # the directions written out count too
        raise SdpShapeError(f"the SDP has more than {MAX_LINES} lines")
    return "\r\n".join(out) + "\r\n"
