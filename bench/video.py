"""The one-to-one video figure: two VP8 640x480 streams at about 1 Mbit/s, forwarded.

The gateway declines video until residents can consent to it (a later issue), so the
product's signalling cannot set up a video call yet. This measures the same forwarding code
(``media.peer.MediaPeer`` with ``allow_video``) in a small harness process pinned to core 0
(``python -m bench.video harness``): two peers, each sending the other its audio and video,
offers posted over HTTP on loopback. The clients (core 1) send pre-encoded VP8 and Opus and
never decode.
"""

from __future__ import annotations

import argparse
import asyncio
import fractions
import time
from collections.abc import Sequence
from typing import Any

import av
import numpy as np
from aiohttp import ClientSession, web
from aiortc import MediaStreamTrack, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from bench.media import StampedOpusTrack, new_peer_connection, set_local
from bench.proc import GatewayProcess
from media.ice import IcePolicy
from media.peer import MediaPeer

WIDTH, HEIGHT, FPS = 640, 480, 30
BITRATE = 1_000_000
VIDEO_TIME_BASE = fractions.Fraction(1, 90000)
HARNESS_POLICY = IcePolicy(host_addresses=("127.0.0.1",), remote_networks=("127.0.0.0/8",))


def encode_vp8(seconds: float = 3.0) -> list[bytes]:
    """VP8 frames of a moving picture at 640x480, ~1 Mbit/s, encoded once (first a key frame)."""
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height, codec.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    codec.bit_rate = BITRATE
    codec.time_base = fractions.Fraction(1, FPS)
    codec.gop_size = int(seconds * FPS)
    codec.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    frames: list[bytes] = []
    rng = np.random.default_rng(1)
    noise = rng.integers(0, 40, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    for index in range(int(seconds * FPS)):
        image = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
        image[:, :, 0] = (np.arange(WIDTH) * 255 // WIDTH + index * 3) % 256
        image[:, :, 1] = (np.arange(HEIGHT)[:, None] * 255 // HEIGHT + index * 2) % 256
        image += noise
        frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
        frame.pts = index
        frames.extend(bytes(packet) for packet in codec.encode(frame))
    frames.extend(bytes(packet) for packet in codec.encode(None))
    return frames


class PreencodedVideoTrack(MediaStreamTrack):
    """Sends a cycle of pre-encoded VP8 frames at 30 fps (aiortc only packetises them)."""

    kind = "video"

    def __init__(self, frames: Sequence[bytes]) -> None:
        super().__init__()
        self._frames = frames
        self._index = 0
        self._start = 0.0
        self.bytes_sent = 0

    async def recv(self) -> av.Packet[Any]:
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if not self._start:
            self._start = now
        due = self._start + self._index / FPS
        if due > now:
            await asyncio.sleep(due - now)
        data = self._frames[self._index % len(self._frames)]
        packet = av.Packet(data)
        packet.pts = self._index * (90000 // FPS)
        packet.time_base = VIDEO_TIME_BASE
        self._index += 1
        self.bytes_sent += len(data)
        return packet


class Counter:
    """Packets and bytes arriving on a client, read off the transport without decoding."""

    def __init__(self) -> None:
        self.packets = 0
        self.bytes = 0


def count_receiving(pc: Any, counter: Counter) -> None:
    transport = pc.getTransceivers()[0].receiver.transport

    async def handle_rtp_data(data: bytes, arrival_time_ms: int) -> None:
        counter.packets += 1
        counter.bytes += len(data)

    transport._handle_rtp_data = handle_rtp_data


# -- the harness process ----------------------------------------------------------------------


async def harness(port: int) -> None:
    """Two peers that forward each other's audio and video; offers over HTTP."""
    peers = {side: MediaPeer(HARNESS_POLICY, f"video-{side}", allow_video=True) for side in "ab"}
    for kind in ("audio", "video"):
        peers["a"].send_to(peers["b"], kind)
        peers["b"].send_to(peers["a"], kind)

    async def offer(request: web.Request) -> web.Response:
        peer = peers[request.match_info["side"]]
        return web.Response(text=await peer.accept_offer(await request.text()))

    async def health(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application(client_max_size=256 * 1024)
    app.router.add_post("/offer/{side:[ab]}", offer)
    app.router.add_get("/healthz", health)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        await asyncio.sleep(600)  # stopped by the benchmark long before
    finally:
        for peer in peers.values():
            await peer.close()
        await runner.cleanup()


# -- the measurement ------------------------------------------------------------------------


async def measure_video(cycle: Sequence[bytes], seconds: float) -> dict[str, Any]:
    """One video call through the harness: its CPU, and what each side received."""
    frames = encode_vp8()
    process = GatewayProcess("video", max_seconds=seconds + 120, module=("bench.video", "harness"))
    process.env["BENCH_VIDEO_PORT"] = str(process.port)
    process._command.extend(["--port", str(process.port)])
    await process.start()
    clients = []
    try:
        async with ClientSession() as http:
            for side in "ab":
                pc = new_peer_connection()
                audio = StampedOpusTrack(cycle)
                video = PreencodedVideoTrack(frames)
                pc.addTrack(audio)
                pc.addTrack(video)
                sdp = await set_local(pc, "offer")
                async with http.post(f"{process.base_url}/offer/{side}", data=sdp) as response:
                    answer = await response.text()
                    if response.status != 200:
                        raise RuntimeError(f"harness refused the offer: {answer[:200]}")
                await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
                counter = Counter()
                count_receiving(pc, counter)
                clients.append((pc, video, counter))
        await asyncio.sleep(5)  # connect, first key frame
        start_cpu, start = process.cpu_seconds(), time.monotonic()
        start_counts = [(c.packets, c.bytes) for _, _, c in clients]
        start_sent = [v.bytes_sent for _, v, _ in clients]
        await asyncio.sleep(seconds)
        wall = time.monotonic() - start
        cpu = (process.cpu_seconds() - start_cpu) / wall * 100
        received = [
            (c.packets - p0, (c.bytes - b0) * 8 / wall / 1e6)
            for (_, _, c), (p0, b0) in zip(clients, start_counts, strict=True)
        ]
        sent_mbit = [
            (v.bytes_sent - s0) * 8 / wall / 1e6
            for (_, v, _), s0 in zip(clients, start_sent, strict=True)
        ]
        return {
            "streams": "2 x VP8 640x480 at 30 fps + 2 x Opus",
            "window_seconds": round(wall, 1),
            "harness_cpu_percent": round(cpu, 2),
            "video_sent_mbit_per_s": [round(x, 2) for x in sent_mbit],
            "received_packets": [r[0] for r in received],
            "received_mbit_per_s": [round(r[1], 2) for r in received],
        }
    finally:
        for pc, video, _ in clients:
            video.stop()
            await pc.close()
        await process.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.video")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("harness", help="the forwarding harness (started by the bench)")
    serve.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    from gateway.cli import run

    run(harness(args.port), "uvloop")


if __name__ == "__main__":
    main()
