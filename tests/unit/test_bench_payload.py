"""The benchmark's Opus padding stamp round-trips and leaves the audio decodable."""

from __future__ import annotations

import fractions

import av
import pytest

from bench.payload import (
    SAMPLE_RATE,
    OpusFormatError,
    encode_cycle,
    is_onset,
    read_stamp,
    unwrap,
    wrap,
)


def _decoded_samples(packet: bytes) -> int:
    codec = av.CodecContext.create("libopus", "r")
    codec.sample_rate = SAMPLE_RATE
    codec.layout = "stereo"
    codec.format = "s16"
    av_packet = av.Packet(packet)
    av_packet.pts = 0
    av_packet.time_base = fractions.Fraction(1, SAMPLE_RATE)
    return sum(frame.samples for frame in codec.decode(av_packet))


def test_stamp_round_trips_and_decodes_like_the_original() -> None:
    cycle = encode_cycle()
    assert len(cycle) == 50
    for index, original in enumerate(cycle[:3] + cycle[-3:]):
        sent_ns = 1_234_567_890_123 + index
        sequence = 0xFFFF_FF00 + index
        wrapped = wrap(original, sent_ns, sequence)
        assert read_stamp(wrapped) == (sent_ns, sequence)
        assert unwrap(wrapped) == original
        assert wrapped[0] & 0x03 == 3  # code 3, padding flag set
        assert wrapped[1] & 0x40
        samples = _decoded_samples(original)
        assert samples == 960
        assert _decoded_samples(wrapped) == samples


def test_plain_packets_carry_no_stamp() -> None:
    original = encode_cycle()[0]
    assert read_stamp(original) is None
    assert read_stamp(b"") is None
    with pytest.raises(OpusFormatError):
        wrap(wrap(original, 1, 1), 2, 2)


def test_the_cycle_has_one_onset_first() -> None:
    sizes = [len(wrap(p, 0, 0)) for p in encode_cycle()]
    onsets = [i for i in range(len(sizes)) if is_onset(sizes[i - 1], sizes[i])]
    assert onsets == [0]
