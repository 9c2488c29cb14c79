"""Byte-level RTP header work for the forwarding hot path (RFC 3550, RFC 8285 one-byte
header extensions). No per-packet objects beyond the output buffer."""

from __future__ import annotations

import time
from typing import Final

RTP_VERSION_BITS: Final = 0x80
ONE_BYTE_PROFILE: Final = b"\xbe\xde"
NTP_EPOCH_OFFSET: Final = 2208988800


def is_rtp(data: bytes) -> bool:
    """RTP rather than RTCP (RFC 5761 demultiplexing by payload type)."""
    return len(data) >= 12 and not (192 <= data[1] <= 223)


def header_length(data: bytes) -> int:
    """Length of the fixed header, CSRCs and extension block; -1 when malformed."""
    length = 12 + 4 * (data[0] & 0x0F)
    if data[0] & 0x10:
        if len(data) < length + 4:
            return -1
        length += 4 + 4 * int.from_bytes(data[length + 2 : length + 4], "big")
    return length if length <= len(data) else -1


def one_byte_extensions(data: bytes) -> dict[int, bytes]:
    """The one-byte header extensions of a packet, by id (empty when there are none)."""
    if not data[0] & 0x10:
        return {}
    start = 12 + 4 * (data[0] & 0x0F)
    if data[start : start + 2] != ONE_BYTE_PROFILE:
        return {}
    end = start + 4 + 4 * int.from_bytes(data[start + 2 : start + 4], "big")
    pos = start + 4
    found: dict[int, bytes] = {}
    while pos < end:
        byte = data[pos]
        if byte == 0:
            pos += 1
            continue
        ext_id, size = byte >> 4, (byte & 0x0F) + 1
        if ext_id == 15:
            break
        found[ext_id] = bytes(data[pos + 1 : pos + 1 + size])
        pos += 1 + size
    return found


def build_extensions(elements: list[tuple[int, bytes]]) -> bytes:
    """A one-byte header extension block (with its 4-byte header), padded to 32 bits."""
    body = bytearray()
    for ext_id, value in elements:
        body.append((ext_id << 4) | (len(value) - 1))
        body += value
    while len(body) % 4:
        body.append(0)
    return ONE_BYTE_PROFILE + (len(body) // 4).to_bytes(2, "big") + bytes(body)


def abs_send_time() -> bytes:
    """The abs-send-time extension value for now: 6.18 fixed-point seconds, 24 bits."""
    ntp = time.time() + NTP_EPOCH_OFFSET
    return ((int(ntp * (1 << 18))) & 0xFFFFFF).to_bytes(3, "big")
