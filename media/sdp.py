"""SDP adjustments for the gateway's re-offers.

aiortc builds every offer from its defaults, so a re-offer on an existing connection may
renumber payload types and RTP header extensions. Browsers refuse that ("RTP extension ID
reassignment not supported"). :func:`align_reoffer` maps, per media section already
negotiated, each codec's payload type and each extension's id back to what the remote side
uses; extensions the remote side never offered are left out of the re-offer. A section that
is new in the re-offer is numbered like the negotiated section of the same kind; the first of
its kind gets the extension ids the BUNDLE group already uses, and free ones for the rest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_RTPMAP = re.compile(r"^a=rtpmap:(\d+) (.+)$")
_EXTMAP = re.compile(r"^a=extmap:(\d+)(/\S+)? (\S+)(.*)$")
_PT_ATTR = re.compile(r"^a=(rtpmap|fmtp|rtcp-fb):(\d+|\*)(.*)$")
_APT = re.compile(r"\bapt=(\d+)")
_FMTP_PARAM = re.compile(r"([\w-]+)=([^;\s]+)")


@dataclass
class Section:
    """One media section: its lines, mid, codecs by name and extension ids by URI."""

    lines: list[str]
    mid: str | None = None
    # "opus/48000/2" -> pt; H.264 variants keyed apart (see codec_family), RTX by its apt.
    codecs: dict[str, int] = field(default_factory=dict)
    extensions: dict[str, int] = field(default_factory=dict)  # uri -> id


def parse_sections(sdp: str) -> tuple[list[str], list[Section]]:
    session: list[str] = []
    sections: list[Section] = []
    for line in sdp.splitlines():
        if line.startswith("m="):
            sections.append(Section([line]))
        elif sections:
            sections[-1].lines.append(line)
        else:
            session.append(line)
    for section in sections:
        for line in section.lines[1:]:
            if line.startswith("a=mid:"):
                section.mid = line[len("a=mid:") :].strip()
            elif match := _RTPMAP.match(line):
                key = _codec_key(match.group(2), section, match.group(1))
                section.codecs[key] = int(match.group(1))
            elif match := _EXTMAP.match(line):
                section.extensions[match.group(3)] = int(match.group(1))
    return session, sections


def _codec_key(rtpmap: str, section: Section, payload_type: str) -> str:
    name = rtpmap.strip().lower()
    fmtp = next((line for line in section.lines if line.startswith(f"a=fmtp:{payload_type} ")), "")
    if name.startswith("rtx/"):
        # Several RTX entries share a name; tell them apart by what they retransmit.
        if apt := _APT.search(fmtp):
            return f"{name}#apt={apt.group(1)}"
    elif name.startswith("h264/"):
        # Browsers offer several H.264 variants under one name: a receiver decodes only
        # what matches the packetization mode (and expects the profile it agreed to).
        params = dict(_FMTP_PARAM.findall(fmtp.lower()))
        mode = params.get("packetization-mode", "0")
        profile = params.get("profile-level-id", "42001f")  # RFC 6184's default
        return f"{name};packetization-mode={mode};profile-level-id={profile}"
    return name


def codec_family(key: str) -> str:
    """What must match for a stream to be sent under another codec entry.

    The key itself, except that H.264 entries differing only in level match (the
    profile-level-id's last byte): a decoder of a profile decodes its lower levels too.
    """
    if key.startswith("h264/") and ";profile-level-id=" in key:
        return key[: key.index(";profile-level-id=") + len(";profile-level-id=") + 4]
    return key


def match_codec(key: str, offered: dict[str, int]) -> int | None:
    """The payload type in ``offered`` for the codec ``key``: exactly, else by family."""
    if key in offered:
        return offered[key]
    family = codec_family(key)
    return next((pt for other, pt in offered.items() if codec_family(other) == family), None)


def align_reoffer(offer: str, remote: str) -> str:
    """Rewrite ``offer`` so that already negotiated sections keep the remote's numbering."""
    _, remote_sections = parse_sections(remote)
    by_mid = {s.mid: s for s in remote_sections if s.mid is not None}
    session, offer_sections = parse_sections(offer)
    # In one BUNDLE group an extension id must mean the same thing in every section.
    bundle_ids: dict[str, int] = {}
    for remote_section in remote_sections:
        for uri, ext_id in remote_section.extensions.items():
            bundle_ids.setdefault(uri, ext_id)
    out = list(session)
    for section in offer_sections:
        negotiated = by_mid.get(section.mid) if section.mid is not None else None
        if negotiated is None:
            # A new section (another participant's stream) is numbered like a negotiated
            # one of its kind: in one BUNDLE group an extension id or payload type must
            # mean the same thing in every section, or the browser refuses the offer.
            kind = _kind(section)
            negotiated = next((r for r in remote_sections if _kind(r) == kind), None)
        if negotiated is None:
            # The first section of its kind (e.g. video after audio): its extensions take
            # the ids the group already uses, and free ids for the others.
            out.extend(_renumber_extensions(section.lines, bundle_ids))
            continue
        out.extend(_align_section(section, negotiated))
    return "\r\n".join(out) + "\r\n"


def _renumber_extensions(lines: list[str], bundle_ids: dict[str, int]) -> list[str]:
    """Extension ids as the BUNDLE group uses them; a new URI gets a free id (1-14),
    and one for which none is left is left out. ``bundle_ids`` learns the new ones."""
    out: list[str] = []
    for line in lines:
        match = _EXTMAP.match(line)
        if match is None:
            out.append(line)
            continue
        uri = match.group(3)
        ext_id = bundle_ids.get(uri)
        if ext_id is None:
            free = [i for i in range(1, 15) if i not in bundle_ids.values()]
            if not free:
                continue
            ext_id = bundle_ids[uri] = free[0]
        out.append(f"a=extmap:{ext_id}{match.group(2) or ''} {uri}{match.group(4)}")
    return out


def _kind(section: Section) -> str:
    return section.lines[0].split(" ", 1)[0]


def _align_section(section: Section, remote: Section) -> list[str]:
    pt_map: dict[int, int] = {}
    for key, payload_type in section.codecs.items():
        if not key.startswith("rtx/") and key in remote.codecs:
            pt_map[payload_type] = remote.codecs[key]
    # RTX follows its base codec.
    for key, payload_type in section.codecs.items():
        if key.startswith("rtx/"):
            apt = int(key.split("#apt=", 1)[1]) if "#apt=" in key else None
            if apt is not None and apt in pt_map:
                remote_key = f"rtx/{key.split('/', 1)[1].split('#', 1)[0]}#apt={pt_map[apt]}"
                if remote_key in remote.codecs:
                    pt_map[payload_type] = remote.codecs[remote_key]
    kept = set(pt_map)
    lines: list[str] = []
    for line in section.lines:
        if line.startswith("m="):
            parts = line.split()
            formats = [str(pt_map[int(f)]) for f in parts[3:] if f.isdigit() and int(f) in kept]
            lines.append(" ".join([*parts[:3], *formats]))
        elif match := _PT_ATTR.match(line):
            kind, pt, rest = match.groups()
            if pt == "*":
                lines.append(line)
            elif int(pt) in kept:
                rest = _APT.sub(lambda m: f"apt={pt_map.get(int(m.group(1)), m.group(1))}", rest)
                lines.append(f"a={kind}:{pt_map[int(pt)]}{rest}")
        elif match := _EXTMAP.match(line):
            uri = match.group(3)
            if uri in remote.extensions:
                direction = match.group(2) or ""
                lines.append(f"a=extmap:{remote.extensions[uri]}{direction} {uri}{match.group(4)}")
        else:
            lines.append(line)
    return lines
