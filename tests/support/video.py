"""A synthetic camera for tests that send video."""

from __future__ import annotations

import asyncio
import fractions

import av
import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import VIDEO_CLOCK_RATE, VIDEO_PTIME


class PatternTrack(MediaStreamTrack):
    """A small synthetic camera: a moving gradient, 320x240 at 30 fps."""

    kind = "video"

    def __init__(self) -> None:
        super().__init__()
        self._count = 0
        self._start: float | None = None

    async def recv(self) -> av.VideoFrame:
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        due = self._start + self._count * VIDEO_PTIME
        await asyncio.sleep(max(0.0, due - loop.time()))
        image = np.zeros((240, 320, 3), dtype=np.uint8)
        image[:, :, 0] = (np.arange(320) + self._count * 4) % 256
        image[:, :, 1] = np.arange(240)[:, None] % 256
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts = int(self._count * VIDEO_PTIME * VIDEO_CLOCK_RATE)
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK_RATE)
        self._count += 1
        return frame
