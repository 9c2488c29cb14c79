"""aiortc receivers that keep RTCP and statistics but never decode.

aiortc's ``RTCRtpReceiver.receive`` starts a decoder thread per receiver. Packet forwarding
decodes nothing: the fast path takes the media before aiortc sees it, so the thread would
only idle (two threads per call), and stopping it joins the thread on the event loop.
:func:`receive_without_decoder` makes a receiver start as aiortc's does, minus the thread;
anything that still reaches aiortc's receiver (a payload type the path does not forward)
feeds its statistics and NACK generator and is then dropped instead of queued for a decoder
nobody runs.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aiortc import RTCRtpReceiver
    from aiortc.rtcrtpparameters import RTCRtpReceiveParameters


class _Dropped:
    """Stands in for the decoder's queue: what would be decoded is dropped."""

    def put(self, item: Any) -> None:
        """Drop ``item``."""


def receive_without_decoder(receiver: RTCRtpReceiver) -> None:
    """Replace ``receiver.receive`` with a start that runs no decoder thread."""
    state: Any = receiver  # aiortc's private, name-mangled attributes

    async def receive(parameters: RTCRtpReceiveParameters) -> None:
        if state._RTCRtpReceiver__started:
            return
        for codec in parameters.codecs:
            state._RTCRtpReceiver__codecs[codec.payloadType] = codec
        for encoding in parameters.encodings:
            if encoding.rtx:
                state._RTCRtpReceiver__rtx_ssrc[encoding.rtx.ssrc] = encoding.ssrc
        state._RTCRtpReceiver__decoder_queue = _Dropped()
        state._RTCRtpReceiver__transport._register_rtp_receiver(receiver, parameters)
        state._RTCRtpReceiver__rtcp_task = asyncio.ensure_future(receiver._run_rtcp())
        state._RTCRtpReceiver__started = True

    state.receive = receive
