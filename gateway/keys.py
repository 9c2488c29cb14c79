"""Typed keys for the application's shared state (no module-level singletons)."""

from __future__ import annotations

from aiohttp import web

from gateway.config import Config
from rooms.clock import Clock
from rooms.store import Store
from signaling.calls import CallCenter
from signaling.dispatch import Dispatcher
from signaling.tokens import TokenService

CONFIG = web.AppKey("config", Config)
CLOCK = web.AppKey("clock", Clock)
STORE = web.AppKey("store", Store)
TOKENS = web.AppKey("tokens", TokenService)
CENTER = web.AppKey("center", CallCenter)
DISPATCHER = web.AppKey("dispatcher", Dispatcher)
SOCKETS = web.AppKey("sockets", set[web.WebSocketResponse])
DRAINING = web.AppKey("draining", list[bool])
