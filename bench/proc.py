"""The gateway under test as a separate process, and what /proc says about processes."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Final

import aiohttp

REPO: Final = Path(__file__).resolve().parent.parent
SECRET_KEY: Final = "bench-signing-key-" + "b" * 40
CLOCK_TICKS: Final = os.sysconf("SC_CLK_TCK")
PR_SET_PDEATHSIG: Final = 1


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the command name: state is field 3, utime 14 and stime 15 (1-based).
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def system_seconds(pid: int) -> float:
    """stime alone: time in the kernel (socket calls, and on loopback the delivery too)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[12]) / CLOCK_TICKS


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def core_busy_seconds() -> dict[int, float]:
    """Per core: seconds not idle since boot (all processes), from /proc/stat."""
    busy: dict[int, float] = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, *values = line.split()
        if name.startswith("cpu") and name != "cpu":
            ticks = [int(v) for v in values]
            # user nice system idle iowait irq softirq steal ...: idle and iowait are idle.
            busy[int(name[3:])] = (sum(ticks[:8]) - ticks[3] - ticks[4]) / CLOCK_TICKS
    return busy


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class GatewayProcess:
    """``python -m gateway serve`` on core ``core``, a free port, loopback only.

    It stops by itself: ``timeout`` ends it after ``max_seconds`` and it is killed when this
    process dies (PR_SET_PDEATHSIG).
    """

    def __init__(
        self,
        forwarding: str,
        core: int = 0,
        max_seconds: float = 1800,
        module: tuple[str, ...] = ("gateway", "serve"),
    ) -> None:
        self.forwarding = forwarding
        self.port = free_port()
        self.env = {
            **os.environ,
            "TUKILINJA_PORT": str(self.port),
            "TUKILINJA_HOST": "127.0.0.1",
            "TUKILINJA_SECRET_KEY": SECRET_KEY,
            "TUKILINJA_ICE_HOST_ADDRESSES": "127.0.0.1",
            "TUKILINJA_ICE_REMOTE_NETWORKS": "127.0.0.0/8",
            "TUKILINJA_MEDIA_FORWARDING": forwarding,
            "TUKILINJA_LOG_LEVEL": "WARNING",
            "TUKILINJA_DEMO_LINE": "true",
        }
        self._command = [
            "timeout",
            "--kill-after=5",
            str(int(max_seconds)),
            "taskset",
            "-c",
            str(core),
            # Its own parent-death signal: it ends with ``timeout``, which ends with the bench.
            "setpriv",
            "--pdeathsig",
            "KILL",
            sys.executable,
            "-m",
            *module,
        ]
        self._proc: subprocess.Popen[bytes] | None = None
        self.pid = 0
        self.log_path = Path(f"/tmp/bench-gateway-{forwarding}-{self.port}.log")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _spawn(self) -> subprocess.Popen[bytes]:
        log = self.log_path.open("wb")
        proc = subprocess.Popen(
            self._command,
            cwd=REPO,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )
        log.close()
        return proc

    async def start(self, timeout: float = 30) -> None:
        self._proc = self._spawn()
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if self._proc.poll() is not None:
                    raise RuntimeError(f"gateway exited: {self.log_tail()}")
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with http.get(self.base_url + "/healthz") as response:
                        if response.status == 200:
                            break
                await asyncio.sleep(0.2)
            else:
                raise RuntimeError(f"gateway did not start in {timeout} s: {self.log_tail()}")
        self.pid = self._python_pid()

    def _python_pid(self) -> int:
        """The gateway's own pid: the child of ``timeout`` (taskset and setpriv exec it)."""
        assert self._proc is not None
        children = Path(f"/proc/{self._proc.pid}/task/{self._proc.pid}/children")
        pids = children.read_text().split()
        if len(pids) != 1:
            raise RuntimeError(f"cannot find the gateway process under {self._proc.pid}")
        pid = int(pids[0])
        affinity = os.sched_getaffinity(pid)
        if len(affinity) != 1:
            raise RuntimeError(f"the gateway is not pinned to one core: {affinity}")
        return pid

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def system_seconds(self) -> float:
        return system_seconds(self.pid)

    def rss_kib(self) -> int:
        return rss_kib(self.pid)

    def log_tail(self, lines: int = 20) -> str:
        """The end of the gateway's output, without the sign-in link it prints."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        kept = [line for line in text.splitlines() if "#token=" not in line]
        return "\n".join(kept[-lines:])

    async def stop(self) -> None:
        """SIGTERM (the gateway drains), then SIGKILL after 10 s."""
        proc = self._proc
        if proc is None:
            return
        self._proc = None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 10
            while proc.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            if proc.poll() is None:
                proc.kill()
        proc.wait(timeout=10)
        with contextlib.suppress(OSError):
            self.log_path.unlink()
