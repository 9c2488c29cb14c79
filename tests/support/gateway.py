"""Start a real gateway server on a free loopback port, the way an operator would."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

import aiohttp
from aiohttp import web

from gateway import keys
from gateway.app import create_app
from gateway.cli import signin_link
from gateway.config import Config, demo_line, from_mapping
from gateway.server import serve_app
from rooms.clock import Clock
from rooms.store import Store
from signaling.calls import CallCenter
from tests.support.client import SignalClient

TEST_KEY = "test-signing-key-" + "x" * 40


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def make_config(
    extra: Mapping[str, Any] | None = None,
    port: int | None = None,
    *,
    unstaffed_demo: bool = True,
) -> Config:
    """A config that keeps everything on loopback: host candidates and accepted remotes.

    ``unstaffed_demo``: the demo line takes callers while nobody is available (so a test
    can queue before a professional signs in); pass False to test the refusal.
    """
    data: dict[str, Any] = {
        "server": {"host": "127.0.0.1", "port": port or free_port(), "demo_line": True},
        "security": {"secret_key": TEST_KEY},
        "ice": {"host_addresses": ["127.0.0.1"], "remote_networks": ["127.0.0.0/8"]},
    }
    for key, value in (extra or {}).items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    config = from_mapping(data)
    if config.demo_line and "demo" not in config.lines:
        demo = dataclasses.replace(demo_line(), queue_when_unstaffed=unstaffed_demo)
        config = dataclasses.replace(config, lines={"demo": demo, **config.lines})
    return config


@dataclass
class RunningGateway:
    config: Config
    app: web.Application
    runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return self.config.base_url

    @property
    def center(self) -> CallCenter:
        return self.app[keys.CENTER]

    @property
    def center_store(self) -> Store:
        return self.app[keys.STORE]

    async def resident(self) -> SignalClient:
        client = await SignalClient.connect(self.base_url)
        await client.request("hello", protocol=1)
        return client

    async def staff(
        self,
        name: str = "Test Worker",
        lines: tuple[str, ...] = (),
        now: datetime | Literal["app"] | None = "app",
        link: str | None = None,
    ) -> SignalClient:
        """Sign in through the one-time link and open a staff socket.

        ``now``: the time the link is issued at; by default the app's clock (which may be
        a fake one), None for the system clock. ``link``: sign in with this link instead
        of a new one.
        """
        http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        if link is None:
            issued = self.app[keys.CLOCK].now() if now == "app" else now
            link = signin_link(self.config, name, lines, issued)
        token = link.split("#token=", 1)[1]
        async with http.post(
            self.base_url + "/api/staff/signin",
            json={"token": token},
            headers={"Origin": self.base_url},
        ) as response:
            assert response.status == 200, await response.text()
        client = await SignalClient.connect(self.base_url, http=http)
        client._owns_http = True
        hello = await client.request("hello", protocol=1)
        assert hello["role"] == "staff"
        return client


@asynccontextmanager
async def running_gateway(
    config: Config | None = None,
    clock: Clock | None = None,
    store_factory: Callable[[Clock], Store] | None = None,
) -> AsyncIterator[RunningGateway]:
    config = config or make_config()
    app = await create_app(config, clock=clock, store_factory=store_factory)
    async with serve_app(app, config, shutdown_timeout=5) as runner:
        yield RunningGateway(config, app, runner)


def with_port(config: Config, port: int) -> Config:
    return replace(config, port=port)
