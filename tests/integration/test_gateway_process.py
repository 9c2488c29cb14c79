"""The gateway as an operator runs it: ``python -m gateway serve`` in its own process
(uvloop, configuration from the environment), a call through it, then SIGTERM; and sign-in
links from ``python -m gateway staff-token``, a process of its own, for a server on another
port."""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
import sys
from asyncio.subprocess import Process
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest

from gateway.config import load_config
from tests.support.calls import RESIDENT_TONE, STAFF_TONE
from tests.support.client import Caller, SignalClient
from tests.support.gateway import TEST_KEY, RunningGateway, free_port

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_CONFIG = "gateway/sample-config.toml"  # as an operator types it in the project folder


def process_env(**settings: str) -> dict[str, str]:
    """This environment without any TUKILINJA_* of its own, plus ``settings``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("TUKILINJA_")}
    env.update({f"TUKILINJA_{key}": value for key, value in settings.items()})
    return env


def another_port() -> int:
    """A free loopback port that is not the default 8080."""
    while (port := free_port()) == 8080:
        pass
    return port


@asynccontextmanager
async def started_gateway(
    args: Sequence[str], env: Mapping[str, str], port: int
) -> AsyncIterator[Process]:
    """``python -m gateway ARGS`` in its own process, once /healthz answers on ``port``."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway",
        *args,
        cwd=ROOT,
        env=dict(env),
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
                if process.returncode is not None:
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("the gateway did not start")
        if process.returncode is not None:
            assert process.stdout is not None
            output = (await process.stdout.read()).decode()
            raise AssertionError(f"the gateway exited: {output}")
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


@pytest.fixture
async def gateway_process() -> AsyncIterator[tuple[Process, str, dict[str, str]]]:
    port = free_port()
    env = process_env(
        PORT=str(port),
        SECRET_KEY=TEST_KEY,
        ICE_HOST_ADDRESSES="127.0.0.1",
        ICE_REMOTE_NETWORKS="127.0.0.0/8",
        EVENT_LOOP="uvloop",
    )
    async with started_gateway(["serve"], env, port) as process:
        yield process, f"http://127.0.0.1:{port}", env


async def run_command(words: Sequence[str], env: Mapping[str, str]) -> tuple[int, str, str]:
    """A command in the project folder, as typed: exit status, stdout, stderr."""
    process = await asyncio.create_subprocess_exec(
        *words,
        cwd=ROOT,
        env=dict(env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def staff_token(env: Mapping[str, str], *args: str) -> str:
    """``python -m gateway staff-token ARGS``: the link it prints (alone on stdout)."""
    code, out, err = await run_command([sys.executable, "-m", "gateway", "staff-token", *args], env)
    assert code == 0, err
    return out.strip()


async def sign_in_as_the_page_does(
    http: aiohttp.ClientSession, link: str
) -> aiohttp.ClientResponse:
    """Open the link's page (the fragment stays in the browser), post the fragment's token."""
    page, fragment = link.split("#", 1)
    async with http.get(page) as response:
        assert response.status == 200
        assert "/static/js/signin.js" in await response.text()
    token = fragment.removeprefix("token=")
    origin = page.removesuffix("/pro/signin")
    return await http.post(
        origin + "/api/staff/signin",
        json={"token": token},
        headers={"Origin": origin, "Content-Type": "application/json"},
    )


async def read_banner(process: Process) -> list[str]:
    """The server's start-up printout, up to the staff-token command's environment note.

    (The note is printed when the server's environment sets the signing key, as here.)
    """
    assert process.stdout is not None
    lines: list[str] = []
    while not (lines and lines[-1].startswith("    (with the same")):
        line = await asyncio.wait_for(process.stdout.readline(), 15)
        assert line, "the printout ended early:\n" + "\n".join(lines)
        lines.append(line.decode().rstrip("\n"))
    return lines


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
    # The port came from TUKILINJA_PORT: the printed command names it.
    port = base_url.rsplit(":", 1)[1]
    assert f" -m gateway staff-token --port {port} --name NAME --line ID\n" in output


async def test_staff_token_for_a_server_on_another_port(tmp_path: Path) -> None:
    # The server on another port by `serve --port`, a signing key kept in a key file: a
    # separate staff-token process must read the same key and make the link for that port.
    port = another_port()
    base_url = f"http://127.0.0.1:{port}"
    env = process_env(SECRET_KEY_FILE=str(tmp_path / "state" / "signing.key"))
    async with started_gateway(["serve", "--port", str(port)], env, port):
        link = await staff_token(env, "--port", str(port), "--name", "Maija", "--line", "demo")
        assert link.startswith(base_url + "/pro/signin#token=")
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            response = await sign_in_as_the_page_does(http, link)
            assert response.status == 200, await response.text()
            assert await response.json() == {"name": "Maija", "lines": ["demo"]}
            async with http.get(base_url + "/api/staff/me") as me:
                assert (await me.json())["name"] == "Maija"
            client = await SignalClient.connect(base_url, http=http)
            assert (await client.request("hello", protocol=1))["staff"]["lines"] == ["demo"]
            await client.close()

            # Without --port the link is for 8080: refused, saying for which address it was.
            stale = await staff_token(env, "--name", "Maija", "--line", "demo")
            assert stale.startswith("http://127.0.0.1:8080/pro/signin#token=")
            response = await sign_in_as_the_page_does(http, stale.replace(":8080/", f":{port}/"))
            assert response.status == 401
            error = (await response.json())["error"]
            assert error["code"] == "token_other_server"
            assert error["made_for"] == "http://127.0.0.1:8080"
            assert error["server"] == base_url
            assert f"staff-token --base-url {base_url}" in error["message"]

            # --base-url names the server outright.
            named = await staff_token(env, "--base-url", base_url + "/", "--name", "Aino")
            assert (await sign_in_as_the_page_does(http, named)).status == 200


async def test_the_printed_staff_token_command_works_as_printed(tmp_path: Path) -> None:
    # A non-default configuration file and port: the banner's command carries both.
    port = another_port()
    env = process_env(
        SECRET_KEY_FILE=str(tmp_path / "signing.key"), EVENT_LOOP="asyncio", LOG_LEVEL="INFO"
    )
    args = ["serve", "--config", SAMPLE_CONFIG, "--port", str(port)]
    async with started_gateway(args, env, port) as process:
        lines = await read_banner(process)
        heading = next(i for i, line in enumerate(lines) if "More sign-in links" in line)
        command, note = lines[heading + 1 :]
        assert command.startswith("    ")
        assert note == "    (with the same TUKILINJA_SECRET_KEY_FILE as this server)"
        words = shlex.split(command)
        assert words[1:4] == ["-m", "gateway", "staff-token"]
        assert words[-4:] == ["--name", "NAME", "--line", "ID"]
        assert words[4:6] == ["--config", SAMPLE_CONFIG]
        assert words[6:8] == ["--port", str(port)]
        words[-3], words[-1] = "Maija Virtanen", "sosiaalineuvonta"
        code, out, err = await run_command(words, env)
        assert code == 0, err
        link = out.strip()
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            response = await sign_in_as_the_page_does(http, link)
            assert response.status == 200, await response.text()
            assert await response.json() == {
                "name": "Maija Virtanen",
                "lines": ["sosiaalineuvonta"],
            }
