"""The application factory: wires rooms, signalling and media into an aiohttp app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from aiohttp import WSCloseCode, web

from gateway import keys
from gateway.clients import ClientKeys
from gateway.config import Config, check
from gateway.demoidp import DEMO_CLIENT_ID
from gateway.demoidp.clients import InProcessJwks
from gateway.demoidp.provider import DemoProvider
from gateway.demoidp.routes import add_demo_routes
from gateway.http import add_routes, security_headers
from gateway.identification import (
    RelyingPartyFlows,
    connect_hooks,
    identification_settings,
    relying_party,
)
from gateway.memory import load_malloc_trim
from gateway.oidc.hooks import IdentificationHooks
from gateway.oidc.routes import callback_url
from gateway.server import head_complete, neutral_server_header
from gateway.staff_signin import staff_signin_ctx
from media.compat import check_compat
from media.ice import install_host_address_pinning
from rooms.clock import Clock, SystemClock
from rooms.store import Store, create_memory_store
from signaling.calls import CallCenter, CallSettings
from signaling.clients import ClientLimits, ClientTracker
from signaling.dispatch import Dispatcher
from signaling.tokens import TokenService

REFRESH_SECONDS = 30.0
MAINTAIN_SECONDS = 10.0
TRIM_CHECK_SECONDS = 5.0

logger = logging.getLogger(__name__)


async def create_app(
    config: Config,
    clock: Clock | None = None,
    store_factory: Callable[[Clock], Store] | None = None,
) -> web.Application:
    """Build the gateway application for ``config``.

    ``store_factory`` makes the shared store (default: the in-memory backend).

    Raises :class:`media.compat.CompatError` when the installed aiortc or aioice lacks what
    media forwarding relies on: the gateway refuses to start rather than fail on a call.
    Raises :class:`rooms.errors.ConfigError` for settings that may not go together (demo
    identification off loopback).
    """
    check(config)
    check_compat()
    app = web.Application(middlewares=[head_complete, security_headers], client_max_size=64 * 1024)
    app.on_response_prepare.append(neutral_server_header)
    app[keys.CONFIG] = config
    app[keys.CLOCK] = clock or SystemClock()
    app[keys.SOCKETS] = set()
    app[keys.STORE_FACTORY] = store_factory or create_memory_store
    app[keys.LIFECYCLE] = keys.Lifecycle()
    app[keys.CLIENT_KEYS] = ClientKeys(app[keys.CLOCK], config.trusted_proxies)
    app[keys.TOKENS] = TokenService(
        config.signing_key(),
        issuer=config.base_url,
        signin_ttl=config.signin_ttl,
        session_ttl=config.session_ttl,
    )
    app[keys.IDENTIFICATION_HOOKS] = IdentificationHooks()
    install_host_address_pinning()
    app.cleanup_ctx.append(_store_ctx)
    if identification_settings(config) is not None:
        app.cleanup_ctx.append(_identification_ctx)
    if config.staff_signin is not None:
        app.cleanup_ctx.append(staff_signin_ctx)
    app.cleanup_ctx.append(_center_ctx)
    app.on_shutdown.append(_close_sockets)
    add_routes(app)
    if config.demo_identification:
        # The built-in test provider; the relying party registers its keys with it.
        app[keys.DEMO_IDP] = DemoProvider.for_gateway(config.base_url, app[keys.CLOCK])
        add_demo_routes(app)
    return app


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    store = app[keys.STORE_FACTORY](app[keys.CLOCK])
    app[keys.STORE] = store
    yield
    await store.close()


async def _identification_ctx(app: web.Application) -> AsyncIterator[None]:
    """The OpenID Connect relying party, its client keys and its HTTP client session."""
    config = app[keys.CONFIG]
    settings = identification_settings(config)
    assert settings is not None
    redirect = callback_url(config.base_url)
    async with relying_party(app, settings, redirect, b"tukilinja identification flows") as rp:
        app[keys.IDENTIFICATION] = rp
        demo = app.get(keys.DEMO_IDP)
        if demo is not None and config.identification is None:
            demo.set_client_jwks(
                DEMO_CLIENT_ID, InProcessJwks(app[keys.IDENTIFICATION].public_jwks)
            )
        yield


async def _center_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[keys.CONFIG]
    center = CallCenter(
        config.all_lines(),
        app[keys.STORE],
        app[keys.CLOCK],
        config.ice,
        app[keys.TOKENS],
        CallSettings(
            grace_seconds=config.grace_seconds,
            invite_minutes=config.invite_minutes,
            media_timeout_seconds=config.media_timeout_seconds,
            base_url=config.base_url,
            forwarding=config.forwarding,
            wrapup_seconds=config.wrapup_seconds,
        ),
        clients=ClientTracker(
            ClientLimits(
                sockets=config.sockets_per_client,
                queue_places=config.queue_places_per_client,
                offers_per_minute=config.offers_per_minute_per_client,
            )
        ),
    )
    app[keys.CENTER] = center
    rp = app.get(keys.IDENTIFICATION)
    settings = identification_settings(config)
    if rp is not None and settings is not None:
        center.identity_flows = RelyingPartyFlows(rp, settings.provider_name)
        connect_hooks(app[keys.IDENTIFICATION_HOOKS], center.stepup)
    app[keys.DISPATCHER] = Dispatcher(
        center, config.ice.servers, demo_identification=config.demo_identification
    )
    refresher = asyncio.ensure_future(_refresh(center))
    maintainer = asyncio.ensure_future(_maintain(center))
    trimmer = asyncio.ensure_future(_trim_when_idle(center))
    yield
    for task in (refresher, maintainer, trimmer):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await center.shutdown()


async def _refresh(center: CallCenter) -> None:
    """Opening hours change with the clock: re-publish line status periodically."""
    while True:
        await asyncio.sleep(REFRESH_SECONDS)
        await center.refresh()


async def _maintain(center: CallCenter) -> None:
    """Renew this node's queue leases and staff presence; sweep what nobody renews."""
    while True:
        await asyncio.sleep(MAINTAIN_SECONDS)
        try:
            await center.maintain()
        except Exception:
            logger.exception("maintenance failed; trying again")


async def _trim_when_idle(center: CallCenter) -> None:
    """After calls have ended and none is running, hand freed memory back to the system."""
    release = load_malloc_trim()
    if release is None:
        return
    trimmed_at = center.counters.calls_ended
    while True:
        await asyncio.sleep(TRIM_CHECK_SECONDS)
        ended = center.counters.calls_ended
        if ended != trimmed_at and center.active_calls == 0:
            trimmed_at = ended
            release()


async def _close_sockets(app: web.Application) -> None:
    """On shutdown, end calls first (clients hear why), then close sockets as going away."""
    app[keys.LIFECYCLE].draining = True
    await app[keys.CENTER].shutdown()
    await asyncio.sleep(0.1)  # let writers deliver call.ended before the sockets close
    sockets: set[web.WebSocketResponse] = app[keys.SOCKETS]
    for ws in list(sockets):
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")
