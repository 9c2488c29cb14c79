"""The gateway as an operator runs it: ``python -m gateway serve`` in its own process
(uvloop, configuration from the environment), a call through it, then SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from asyncio.subprocess import Process
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from gateway.config import load_config
from tests.integration.test_call import RESIDENT_TONE, STAFF_TONE
from tests.support.client import Caller
from tests.support.gateway import TEST_KEY, RunningGateway, free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def gateway_process() -> AsyncIterator[tuple[Process, str, dict[str, str]]]:
    port = free_port()
    env = {
        **os.environ,
        "TUKILINJA_PORT": str(port),
        "TUKILINJA_SECRET_KEY": TEST_KEY,
        "TUKILINJA_ICE_HOST_ADDRESSES": "127.0.0.1",
        "TUKILINJA_ICE_REMOTE_NETWORKS": "127.0.0.0/8",
        "TUKILINJA_EVENT_LOOP": "uvloop",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway",
        "serve",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                try:
                    async with http.get(base_url + "/healthz") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("the gateway did not start")
        yield process, base_url, env
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_call_through_a_gateway_process_then_drain(
    gateway_process: tuple[Process, str, dict[str, str]],
) -> None:
    process, base_url, env = gateway_process
    config = load_config(None, env=env)
    # Only the HTTP/WebSocket side of RunningGateway is used: the app lives in the process.
    remote = RunningGateway(config, app=None)  # type: ignore[arg-type]
    staff = Caller(await remote.staff(lines=("demo",), now=None), STAFF_TONE)
    resident = Caller(await remote.resident(), RESIDENT_TONE)
    await resident.signal.request("queue.join", line="demo")
    await resident.start_media()
    await staff.signal.request("staff.answer_next", line="demo")
    await staff.start_media()
    await resident.wait_hears(STAFF_TONE)
    await staff.wait_hears(RESIDENT_TONE)

    # SIGTERM: the node drains (refuses new sockets) while the call goes on...
    process.send_signal(signal.SIGTERM)
    async with aiohttp.ClientSession() as http:
        for _ in range(50):
            async with http.get(base_url + "/readyz") as response:
                if response.status == 503:
                    break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("a draining node must not be ready")
    resident.sink.reset()
    await resident.wait_hears(STAFF_TONE)
    # ...and stops once the call has ended.
    await staff.signal.request("hangup")
    for caller in (resident, staff):
        await caller.stop_media()
        await caller.signal.close()
    code = await asyncio.wait_for(process.wait(), 15)
    assert process.stdout is not None
    output = (await process.stdout.read()).decode()
    assert code == 0, output
    assert "draining" in output
    assert "127.0.0.1" not in output.split("More sign-in links")[-1]  # no addresses logged
