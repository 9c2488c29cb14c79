"""Typed keys for the application's shared state (no module-level singletons)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from gateway.begin_limits import BeginLimits
from gateway.clients import ClientKeys
from gateway.config import Config
from gateway.demoidp.provider import DemoProvider
from gateway.oidc.hooks import IdentificationHooks
from gateway.oidc.relying_party import RelyingParty
from rooms.clock import Clock
from rooms.store import Store
from signaling.calls import CallCenter
from signaling.dispatch import Dispatcher
from signaling.tokens import TokenService


@dataclass
class Lifecycle:
    """Whether this node still takes new sessions."""

    draining: bool = False


CONFIG = web.AppKey("config", Config)
CLOCK = web.AppKey("clock", Clock)
STORE = web.AppKey("store", Store)
StoreFactory = Callable[[Clock], Store]
STORE_FACTORY: web.AppKey[StoreFactory] = web.AppKey("store_factory")
TOKENS = web.AppKey("tokens", TokenService)
CENTER = web.AppKey("center", CallCenter)
DISPATCHER = web.AppKey("dispatcher", Dispatcher)
SOCKETS = web.AppKey("sockets", set[web.WebSocketResponse])
LIFECYCLE = web.AppKey("lifecycle", Lifecycle)
CLIENT_KEYS = web.AppKey("client_keys", ClientKeys)
DEMO_IDP = web.AppKey("demo_idp", DemoProvider)
"""Present only while demo identification is on (``config.demo_identification``)."""
IDENTIFICATION = web.AppKey("identification", RelyingParty)
"""The OpenID Connect relying party; present only when ``[identification]`` is configured."""
IDENTIFICATION_HOOKS = web.AppKey("identification_hooks", IdentificationHooks)
"""Where completed identifications go; always present, the call layer sets the hooks."""
STAFF_SIGNIN = web.AppKey("staff_signin", RelyingParty)
STAFF_BEGIN_LIMITS = web.AppKey("staff_begin_limits", BeginLimits)
"""Staff sign-in flows begun per client (a flood would fill the flow store)."""
"""The staff sign-in relying party; present only when ``[staff_signin]`` is configured."""
