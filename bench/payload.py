"""Real Opus packets that carry a send timestamp and a sequence number in their padding.

RFC 6716 §3.2.5: a code-3 packet (TOC ``c`` = 3) has a frame-count byte whose ``p`` bit says
that padding follows; the padding length comes next (each byte 0-254 adds that many bytes,
255 adds 254 and another length byte follows) and the padding bytes end the packet. Decoders
ignore the padding, so a wrapped packet decodes to exactly the same audio as the original.

The generator encodes one second of audio once (a tone with a short silence, so a sound
*onset* recurs every second: see :func:`is_onset`) and then only re-wraps those packets.
"""

from __future__ import annotations

import fractions
import struct
from typing import Final

import av
import numpy as np

SAMPLE_RATE: Final = 48000
SAMPLES_PER_FRAME: Final = 960  # 20 ms
TIME_BASE: Final = fractions.Fraction(1, SAMPLE_RATE)
MAGIC: Final = b"TKB1"
_STAMP: Final = struct.Struct("!4sQI")  # magic, send time (monotonic ns), sequence
STAMP_SIZE: Final = _STAMP.size  # 16
# Payload sizes that tell silence from tone without decoding (see is_onset).
QUIET_MAX_BYTES: Final = 24
LOUD_MIN_BYTES: Final = 40
# The stamp's 32-bit sequence field: the sender in the top byte, its packet index below.
# One-to-one calls send as source 0, so their stamps are the plain packet index.
SOURCE_SHIFT: Final = 24
INDEX_MASK: Final = (1 << SOURCE_SHIFT) - 1
MAX_SOURCE: Final = 0xFF


class OpusFormatError(ValueError):
    """The bytes are not an Opus packet this module can wrap."""


def _padding_length_bytes(length: int) -> bytes:
    out = bytearray()
    while length >= 255:
        out.append(255)
        length -= 254
    out.append(length)
    return bytes(out)


def wrap(packet: bytes, sent_ns: int, sequence: int) -> bytes:
    """Re-wrap a single-frame (code 0) Opus packet as code 3 with a stamp in its padding."""
    if not packet:
        raise OpusFormatError("empty packet")
    toc = packet[0]
    if toc & 0x03 != 0:
        raise OpusFormatError(f"expected a code-0 packet, got code {toc & 0x03}")
    stamp = _STAMP.pack(MAGIC, sent_ns, sequence & 0xFFFFFFFF)
    # Frame-count byte: v=0 (CBR), p=1 (padding), M=1 frame.
    header = bytes((toc | 0x03, 0x41)) + _padding_length_bytes(len(stamp))
    return header + packet[1:] + stamp


def read_stamp(payload: bytes) -> tuple[int, int] | None:
    """(send time ns, sequence) from a packet made by :func:`wrap`; None for anything else."""
    if len(payload) < 3 + STAMP_SIZE or payload[0] & 0x03 != 0x03 or not payload[1] & 0x40:
        return None
    magic, sent_ns, sequence = _STAMP.unpack_from(payload, len(payload) - STAMP_SIZE)
    if magic != MAGIC:
        return None
    return int(sent_ns), int(sequence)


def stamp_sequence(source: int, index: int) -> int:
    """The stamp's sequence field for packet ``index`` of sender ``source`` (0-255).

    The index wraps at 2**24 (93 hours of 20 ms packets); the field stays 32 bits, so a
    packet of source 0 carries exactly the bytes it did before sources existed.
    """
    if not 0 <= source <= MAX_SOURCE:
        raise ValueError(f"source must be 0..{MAX_SOURCE}, got {source}")
    return source << SOURCE_SHIFT | (index & INDEX_MASK)


def split_sequence(sequence: int) -> tuple[int, int]:
    """(source, index) from a stamp's sequence field (see :func:`stamp_sequence`)."""
    return sequence >> SOURCE_SHIFT, sequence & INDEX_MASK


def unwrap(payload: bytes) -> bytes:
    """The original code-0 packet back from :func:`wrap` (for checks, not the hot path)."""
    if read_stamp(payload) is None:
        raise OpusFormatError("not a stamped packet")
    index = 2
    padding = 0
    while True:
        byte = payload[index]
        index += 1
        padding += 254 if byte == 255 else byte
        if byte != 255:
            break
    return bytes((payload[0] & 0xFC,)) + payload[index : len(payload) - padding]


def is_onset(previous_size: int, size: int) -> bool:
    """A loud packet right after a quiet one: the start of the tone (see encode_cycle)."""
    return previous_size <= QUIET_MAX_BYTES and size >= LOUD_MIN_BYTES


def encode_cycle(
    frequency: float = 440.0, tone_seconds: float = 0.8, bit_rate: int = 32000
) -> list[bytes]:
    """One second of real Opus (tone, then silence), 50 code-0 packets, onset first.

    Encoded once with av's libopus encoder; two cycles are encoded and the second kept so
    that every packet comes from an encoder in steady state.
    """
    codec = av.CodecContext.create("libopus", "w")
    codec.sample_rate = SAMPLE_RATE
    codec.layout = "stereo"
    codec.format = "s16"
    codec.bit_rate = bit_rate
    codec.time_base = TIME_BASE
    codec.options = {"application": "voip"}
    total = 2 * SAMPLE_RATE
    t = np.arange(total) / SAMPLE_RATE
    signal = (0.3 * 32767 * np.sin(2 * np.pi * frequency * t)).astype(np.int16)
    signal[(np.arange(total) % SAMPLE_RATE) >= int(tone_seconds * SAMPLE_RATE)] = 0
    packets: list[bytes] = []
    for start in range(0, total, SAMPLES_PER_FRAME):
        stereo = np.repeat(signal[start : start + SAMPLES_PER_FRAME], 2).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(stereo, format="s16", layout="stereo")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = start
        frame.time_base = TIME_BASE
        packets += [bytes(p) for p in codec.encode(frame)]
    packets += [bytes(p) for p in codec.encode(None)]
    per_second = SAMPLE_RATE // SAMPLES_PER_FRAME
    cycle = packets[per_second : 2 * per_second]
    if len(cycle) != per_second or any(p[0] & 0x03 for p in cycle):
        raise OpusFormatError("the encoder did not produce 50 single-frame packets")
    sizes = [len(p) for p in cycle]
    onsets = [i for i in range(per_second) if is_onset(sizes[i - 1], sizes[i])]
    if len(onsets) != 1:
        raise OpusFormatError(f"expected one tone onset per second, found {len(onsets)}")
    return cycle[onsets[0] :] + cycle[: onsets[0]]
