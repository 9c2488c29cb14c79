"""Byte-level RTP header work for the forwarding hot path (RFC 3550, RFC 8285 one-byte
header extensions). No per-packet objects beyond the output buffer."""

from __future__ import annotations

from typing import Final

ONE_BYTE_PROFILE: Final = b"\xbe\xde"


def header_length(data: bytes) -> int:
    """Length of the fixed header, CSRCs and extension block; -1 when malformed."""
    if len(data) < 12:
        return -1
    length = 12 + 4 * (data[0] & 0x0F)
    if data[0] & 0x10:
        if len(data) < length + 4:
            return -1
        length += 4 + 4 * int.from_bytes(data[length + 2 : length + 4], "big")
    return length if length <= len(data) else -1


def one_byte_extensions(data: bytes) -> dict[int, bytes]:
    """The one-byte header extensions of a packet, by id (empty when there are none)."""
    if header_length(data) < 0 or not data[0] & 0x10:
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
        if ext_id == 15 or pos + 1 + size > end:
            break
        found[ext_id] = bytes(data[pos + 1 : pos + 1 + size])
        pos += 1 + size
    return found


def find_one_byte_extension(data: bytes, ext_id: int) -> int:
    """The first value byte of one-byte extension ``ext_id``, or -1 (the hot-path lookup).

    Only what lies inside both the packet and its extension block is read.
    """
    if len(data) < 12:
        return -1
    start = 12 + 4 * (data[0] & 0x0F)
    if len(data) < start + 4 or data[start : start + 2] != ONE_BYTE_PROFILE:
        return -1
    end = min(start + 4 + 4 * ((data[start + 2] << 8) | data[start + 3]), len(data))
    pos = start + 4
    while pos < end:
        byte = data[pos]
        if byte == 0:
            pos += 1
            continue
        if byte >> 4 == ext_id:
            return data[pos + 1] if pos + 1 < end else -1
        if byte >> 4 == 15:
            return -1
        pos += 2 + (byte & 0x0F)
    return -1
