"""Janus (Debian's ``janus`` package) as a second reference: its videocall plugin.

The same cheap clients as for the gateway make one-to-one calls through Janus: each side
creates a session over Janus's HTTP API, attaches ``janus.plugin.videocall`` and registers a
name; the caller sends ``call`` with its offer, the callee answers ``incomingcall`` with
``accept`` and its answer, the caller gets ``accepted``. Events arrive by long poll. Janus
relays RTP as it is, so the stamps in the Opus padding survive and the same figures apply.

Janus runs the way :class:`bench.proc.GatewayProcess` runs the gateway: pinned to one core
by ``taskset``, bounded by ``timeout``, killed with the bench (``setpriv --pdeathsig``), its
API on 127.0.0.1, with a configuration written to a temporary folder: only the HTTP
transport and the videocall plugin, ICE on one link of a private network namespace, no STUN
or TURN, no admin API.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import aiohttp
from aiortc import RTCSessionDescription

from bench.calls import STEP_TIMEOUT, Endpoint
from bench.media import set_local
from bench.proc import GatewayProcess

JANUS: Final = Path("/usr/bin/janus")
LIBRARIES: Final = Path("/usr/lib/x86_64-linux-gnu/janus")
PLUGIN: Final = "janus.plugin.videocall"
# Janus never gathers candidates on a loopback interface (it skips IFF_LOOPBACK), so the
# Janus leg runs in a private network namespace (see bench.cli) with a veth pair that exists
# only there. Both addresses sit on one end: traffic between them is local (delivered as on
# loopback), and nothing in the namespace can reach the machine's own interfaces.
NAMESPACE_LINK: Final = ("bench-janus", "bench-client")
JANUS_ADDRESS: Final = "10.77.0.1"
CLIENT_ADDRESS: Final = "10.77.0.2"


def setup_namespace_network() -> None:
    """Inside a fresh network namespace: loopback up, and the link Janus gathers on."""
    janus_link, client_link = NAMESPACE_LINK
    commands = [
        ["ip", "link", "set", "lo", "up"],
        ["ip", "link", "add", janus_link, "type", "veth", "peer", "name", client_link],
        ["ip", "addr", "add", f"{JANUS_ADDRESS}/30", "dev", janus_link],
        ["ip", "addr", "add", f"{CLIENT_ADDRESS}/30", "dev", janus_link],
        ["ip", "link", "set", janus_link, "up"],
        ["ip", "link", "set", client_link, "up"],
    ]
    for command in commands:
        subprocess.run(command, check=True, capture_output=True)


def janus_config(folder: Path, rtp_ports: tuple[int, int]) -> str:
    """The main configuration: modules from ``folder``, ICE on the namespace's link only."""
    return f"""general: {{
\tconfigs_folder = "{folder}"
\tplugins_folder = "{folder / "plugins"}"
\ttransports_folder = "{folder / "transports"}"
\tevents_folder = "{folder / "events"}"
\tloggers_folder = "{folder / "loggers"}"
\tinterface = "{JANUS_ADDRESS}"
\tdebug_level = 3
\tsession_timeout = 0
\tserver_name = "bench"
}}
certificates: {{
}}
media: {{
\trtp_port_range = "{rtp_ports[0]}-{rtp_ports[1]}"
}}
nat: {{
\tice_enforce_list = "{NAMESPACE_LINK[0]}"
\tignore_mdns = true
}}
plugins: {{
}}
transports: {{
}}
events: {{
}}
loggers: {{
}}
"""


def http_transport_config(port: int) -> str:
    """The HTTP transport on 127.0.0.1:``port``; no HTTPS, no admin API."""
    return f"""general: {{
\tjson = "compact"
\tbase_path = "/janus"
\thttp = true
\tport = {port}
\tip = "127.0.0.1"
\thttps = false
}}
admin: {{
\tadmin_http = false
\tadmin_https = false
}}
cors: {{
}}
certificates: {{
}}
"""


def write_config(folder: Path, port: int, rtp_ports: tuple[int, int]) -> Path:
    """Write a configuration folder that loads only the HTTP transport and videocall."""
    for sub in ("plugins", "transports", "events", "loggers"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    (folder / "plugins" / "libjanus_videocall.so").symlink_to(
        LIBRARIES / "plugins" / "libjanus_videocall.so"
    )
    (folder / "transports" / "libjanus_http.so").symlink_to(
        LIBRARIES / "transports" / "libjanus_http.so"
    )
    main = folder / "janus.jcfg"
    main.write_text(janus_config(folder, rtp_ports))
    (folder / "janus.transport.http.jcfg").write_text(http_transport_config(port))
    (folder / "janus.plugin.videocall.jcfg").write_text("general: {\n\tevents = false\n}\n")
    return main


class JanusProcess(GatewayProcess):
    """``janus`` on core ``core``: its API on 127.0.0.1 at a free port, a temporary config."""

    def __init__(self, core: int = 0, max_seconds: float = 1800) -> None:
        super().__init__("janus", core, max_seconds)
        self._folder = Path(tempfile.mkdtemp(prefix="bench-janus-"))
        config = write_config(self._folder, self.port, (20000, 40000))
        # timeout … taskset -c CORE setpriv --pdeathsig KILL (as for the gateway), then janus.
        setpriv = self._command.index("setpriv")
        self._command = [*self._command[: setpriv + 3], str(JANUS), "-F", str(self._folder)]
        self._command += ["-C", str(config)]
        self.log_path = Path(f"/tmp/bench-janus-{self.port}.log")

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/janus"

    async def start(self, timeout: float = 30) -> None:
        self._proc = self._spawn()
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if self._proc.poll() is not None:
                    raise RuntimeError(f"janus exited: {self.log_tail()}")
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with http.get(self.api_url + "/info") as response:
                        if response.status == 200:
                            break
                await asyncio.sleep(0.2)
            else:
                raise RuntimeError(f"janus did not start in {timeout} s: {self.log_tail()}")
        self.pid = self._python_pid()

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s; the configuration folder is removed."""
        proc = self._proc
        await super().stop()
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=1)
        shutil.rmtree(self._folder, ignore_errors=True)


class JanusError(RuntimeError):
    """Janus answered a request with an error."""


def plugin_event(message: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """The videocall plugin's event name and result from a Janus ``event`` message."""
    data = message.get("plugindata", {}).get("data", {})
    if "error" in data:
        raise JanusError(f"videocall error {data.get('error_code')}: {data['error']}")
    result = data.get("result", {})
    return (result.get("event") if isinstance(result, dict) else None), result


class JanusHandle:
    """One Janus session with the videocall plugin attached; events by long poll."""

    def __init__(self, http: aiohttp.ClientSession, api: str) -> None:
        self._http = http
        self._api = api
        self._session = 0
        self._handle = 0
        self._events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._poller: asyncio.Task[None] | None = None

    async def _post(self, url: str, body: dict[str, Any]) -> dict[str, Any]:
        body = {**body, "transaction": secrets.token_hex(6)}
        async with self._http.post(url, json=body) as response:
            reply: dict[str, Any] = await response.json(content_type=None)
        if reply.get("janus") == "error":
            raise JanusError(str(reply.get("error")))
        return reply

    async def open(self) -> None:
        created = await self._post(self._api, {"janus": "create"})
        self._session = int(created["data"]["id"])
        attached = await self._post(
            f"{self._api}/{self._session}", {"janus": "attach", "plugin": PLUGIN}
        )
        self._handle = int(attached["data"]["id"])
        self._poller = asyncio.ensure_future(self._poll())

    async def _poll(self) -> None:
        url = f"{self._api}/{self._session}?maxev=10"
        while True:
            try:
                async with self._http.get(url) as response:
                    batch = await response.json(content_type=None)
            except (aiohttp.ClientError, OSError, ValueError):
                await asyncio.sleep(0.2)
                continue
            for message in batch if isinstance(batch, list) else [batch]:
                if message.get("janus") == "event":
                    self._events.put_nowait(message)

    async def message(self, body: dict[str, Any], jsep: dict[str, Any] | None = None) -> None:
        """Send a request to the plugin (answered asynchronously with an event)."""
        request: dict[str, Any] = {"janus": "message", "body": body}
        if jsep is not None:
            request["jsep"] = jsep
        await self._post(f"{self._api}/{self._session}/{self._handle}", request)

    async def event(self, name: str) -> dict[str, Any]:
        """Wait for the plugin event ``name``; returns the whole Janus message."""
        while True:
            message = await asyncio.wait_for(self._events.get(), STEP_TIMEOUT)
            event, _ = plugin_event(message)
            if event == name:
                return message

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        if self._session:
            with contextlib.suppress(Exception):
                await self._post(f"{self._api}/{self._session}", {"janus": "destroy"})


def _jsep(sdp: str, kind: str) -> dict[str, Any]:
    # Candidates are in the SDP (aiortc gathers first): tell Janus not to wait for more.
    return {"type": kind, "sdp": sdp, "trickle": False}


@dataclass
class JanusCall:
    """Two endpoints talking through Janus's videocall plugin."""

    caller: Endpoint
    callee: Endpoint
    handles: tuple[JanusHandle, JanusHandle]
    http: aiohttp.ClientSession
    join_seconds: float = 0.0

    @property
    def endpoints(self) -> tuple[Endpoint, Endpoint]:
        return (self.caller, self.callee)

    async def hang_up(self) -> None:
        with contextlib.suppress(Exception):
            await self.handles[0].message({"request": "hangup"})
        for endpoint in self.endpoints:
            await endpoint.close()
        for handle in self.handles:
            await handle.close()
        await self.http.close()


async def place_janus_call(janus: JanusProcess, cycle: Sequence[bytes], index: int) -> JanusCall:
    """Register two names, call, accept; wait for media both ways.

    Join time runs from the callee's ``accept`` (with its answer) to the first packet
    received at both ends, as the gateway's runs from ``staff.answer_next``.
    """
    http = aiohttp.ClientSession()
    caller, callee = Endpoint(cycle), Endpoint(cycle)
    caller.stats.expect(callee.track)
    callee.stats.expect(caller.track)
    handles = (JanusHandle(http, janus.api_url), JanusHandle(http, janus.api_url))
    call = JanusCall(caller, callee, handles, http)
    names = (f"caller-{index}-{secrets.token_hex(3)}", f"callee-{index}-{secrets.token_hex(3)}")
    step = "attach"
    try:
        for handle, name in zip(handles, names, strict=True):
            await handle.open()
            step = f"register {name}"
            await handle.message({"request": "register", "username": name})
            await handle.event("registered")
        step = "call"
        offer = await set_local(caller.pc, "offer", (CLIENT_ADDRESS,))
        await handles[0].message({"request": "call", "username": names[1]}, _jsep(offer, "offer"))
        step = "incomingcall"
        incoming = await handles[1].event("incomingcall")
        await callee.pc.setRemoteDescription(
            RTCSessionDescription(incoming["jsep"]["sdp"], "offer")
        )
        callee.hook()
        answer = await set_local(callee.pc, "answer", (CLIENT_ADDRESS,))
        started = time.monotonic_ns()
        step = "accept"
        await handles[1].message({"request": "accept"}, _jsep(answer, "answer"))
        step = "accepted"
        accepted = await handles[0].event("accepted")
        await caller.pc.setRemoteDescription(
            RTCSessionDescription(accepted["jsep"]["sdp"], "answer")
        )
        caller.hook()
        step = "first packet at the caller"
        await asyncio.wait_for(caller.stats.first_arrival.wait(), STEP_TIMEOUT)
        step = "first packet at the callee"
        await asyncio.wait_for(callee.stats.first_arrival.wait(), STEP_TIMEOUT)
        call.join_seconds = (max(caller.stats.first_ns, callee.stats.first_ns) - started) / 1e9
        return call
    except BaseException as exc:
        if isinstance(exc, Exception):
            exc.add_note(f"step: {step}")
        await call.hang_up()
        raise
