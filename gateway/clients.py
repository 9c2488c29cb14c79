"""Pseudonymous client keys: who is the same client, without knowing who it is.

The key is HMAC-SHA256 of the client's address under a random secret that is replaced
every day (UTC) and lives only in this process's memory: keys cannot be turned back into
addresses, cannot be linked across days, and nothing of them is logged or stored. Behind a
reverse proxy the address comes from ``X-Forwarded-For``, trusted only when the connection
comes from one of ``[server] trusted_proxies``.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Sequence
from datetime import date

from aiohttp import web

from rooms.clock import Clock


class ClientKeys:
    """Keys of the day for client addresses."""

    def __init__(self, clock: Clock, trusted_proxies: Sequence[str] = ()) -> None:
        self._clock = clock
        self._day: date | None = None
        self._secret = b""
        self._proxies = [ipaddress.ip_network(net, strict=False) for net in trusted_proxies]

    def key(self, address: str) -> str:
        today = self._clock.now().date()
        if today != self._day:
            self._day = today
            self._secret = secrets.token_bytes(32)
        return hmac.new(self._secret, address.encode(), hashlib.sha256).hexdigest()[:24]

    def for_request(self, request: web.Request) -> str:
        return self.key(self.address(request))

    def address(self, request: web.Request) -> str:
        """The client's address: the peer's, or a trusted proxy's ``X-Forwarded-For``."""
        peer = request.transport.get_extra_info("peername") if request.transport else None
        address = str(peer[0]) if peer else "unknown"
        if not self._trusted(address):
            return address
        hops = [
            hop.strip()
            for value in request.headers.getall("X-Forwarded-For", [])
            for hop in value.split(",")
            if hop.strip()
        ]
        # The nearest hop that is not one of our proxies is the client.
        for hop in reversed(hops):
            if not self._trusted(hop):
                return hop
        return address

    def _trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self._proxies)
