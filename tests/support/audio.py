"""Test audio: a sine tone source and a sink that finds the dominant frequency it hears."""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import itertools
import time

import av
import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

SAMPLE_RATE = 48000
SAMPLES_PER_FRAME = 960  # 20 ms


class ToneTrack(MediaStreamTrack):
    """A microphone that plays a steady sine tone, paced in real time."""

    kind = "audio"

    def __init__(self, frequency: float, amplitude: float = 0.3) -> None:
        super().__init__()
        self.frequency = frequency
        self.amplitude = amplitude
        self._index = 0
        self._start: float | None = None

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self._index * SAMPLES_PER_FRAME / SAMPLE_RATE
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        first = self._index * SAMPLES_PER_FRAME
        t = np.arange(first, first + SAMPLES_PER_FRAME) / SAMPLE_RATE
        samples = (self.amplitude * 32767 * np.sin(2 * np.pi * self.frequency * t)).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = first
        frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
        self._index += 1
        return frame


class AudioSink:
    """Consumes a received track and keeps the most recent samples (mono)."""

    def __init__(self, keep_seconds: float = 2.0) -> None:
        self._keep = int(keep_seconds * SAMPLE_RATE)
        self._samples = np.zeros(0, dtype=np.float64)
        self.frames = 0
        self.arrivals: list[float] = []  # monotonic time of each frame, the latest 3000
        self._task: asyncio.Task[None] | None = None

    @property
    def consuming(self) -> bool:
        return self._task is not None

    def consume(self, track: MediaStreamTrack) -> None:
        self._task = asyncio.ensure_future(self._run(track))

    async def _run(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                assert isinstance(frame, av.AudioFrame)
                data = frame.to_ndarray().astype(np.float64)
                channels = len(frame.layout.channels)
                mono = data.reshape(-1)[::channels] if channels > 1 else data.reshape(-1)
                self._samples = np.concatenate([self._samples, mono])[-self._keep :]
                self.frames += 1
                self.arrivals.append(time.monotonic())
                if len(self.arrivals) > 3000:
                    del self.arrivals[:1000]
        except MediaStreamError:
            pass

    def reset(self) -> None:
        self._samples = np.zeros(0, dtype=np.float64)
        self.frames = 0

    def dominant_frequency(self) -> float:
        """The strongest frequency in what was heard lately (0 when silent)."""
        if self._samples.size < SAMPLE_RATE // 10 or not np.any(self._samples):
            return 0.0
        spectrum = np.abs(np.fft.rfft(self._samples * np.hanning(self._samples.size)))
        freqs = np.fft.rfftfreq(self._samples.size, 1 / SAMPLE_RATE)
        return float(freqs[int(np.argmax(spectrum))])

    def max_gap(self, since: float) -> float:
        """The longest time without a frame since ``since`` (monotonic), up to now."""
        stamps = [since, *(t for t in self.arrivals if t >= since), time.monotonic()]
        return max(b - a for a, b in itertools.pairwise(stamps))

    def rms(self) -> float:
        if self._samples.size == 0:
            return 0.0
        return float(np.sqrt(np.mean(self._samples**2)))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
