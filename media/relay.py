"""The decode-and-re-encode baseline: aiortc's ``MediaRelay``.

Not for production: every forwarded stream costs a decoder and an encoder. It exists so the
benchmark (bench/) can run the same load through it and report ratios against the
packet-level path (``media.forwarding = "relay"``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiortc import MediaStreamTrack
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamError


class DeferredTrack(MediaStreamTrack):
    """An outbound track whose source (a relayed remote track) arrives later."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self._source: asyncio.Future[MediaStreamTrack] = asyncio.get_running_loop().create_future()

    def set_source(self, track: MediaStreamTrack) -> None:
        if not self._source.done():
            self._source.set_result(track)

    async def recv(self) -> Any:
        if self.readyState != "live":
            raise MediaStreamError
        source = await self._source
        return await source.recv()

    def stop(self) -> None:
        super().stop()
        if not self._source.done():
            self._source.cancel()
        else:
            self._source.result().stop()


def new_relay() -> MediaRelay:
    """One relay per call: it decodes each source once and fans frames out."""
    return MediaRelay()
