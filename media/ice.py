"""ICE settings the gateway controls: host addresses it offers and remote candidates it accepts.

aioice gathers host candidates from every interface except loopback and offers no hook to
choose them. :func:`install_host_address_pinning` wraps aioice's address lookup once per
process so that it honours :data:`PINNED_HOST_ADDRESSES`, a context variable: code that sets
it (the gateway around its own negotiations, test clients around theirs) gets exactly those
addresses, everyone else keeps aioice's default behaviour.
"""

from __future__ import annotations

import contextvars
import ipaddress
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from aiortc import RTCIceServer

from media import compat

PINNED_HOST_ADDRESSES: contextvars.ContextVar[tuple[str, ...] | None] = contextvars.ContextVar(
    "tukilinja_pinned_host_addresses", default=None
)

_WRAPPED_MARK = "_tukilinja_pinning"


def install_host_address_pinning() -> None:
    """Make aioice consult :data:`PINNED_HOST_ADDRESSES` (idempotent)."""
    current = compat.host_address_lookup()
    if getattr(current, _WRAPPED_MARK, False):
        return
    original: Callable[[bool, bool], list[str]] = current

    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        pinned = PINNED_HOST_ADDRESSES.get()
        if pinned is None:
            return original(use_ipv4, use_ipv6)
        return [a for a in pinned if (use_ipv4 and ":" not in a) or (use_ipv6 and ":" in a)]

    setattr(get_host_addresses, _WRAPPED_MARK, True)
    compat.set_host_address_lookup(get_host_addresses)


@contextmanager
def pinned_host_addresses(addresses: Sequence[str] | None) -> Iterator[None]:
    """Gather host candidates only on ``addresses`` inside this block (None: aioice default)."""
    install_host_address_pinning()
    token = PINNED_HOST_ADDRESSES.set(tuple(addresses) if addresses else None)
    try:
        yield
    finally:
        PINNED_HOST_ADDRESSES.reset(token)


@dataclass(frozen=True)
class IceServer:
    """One STUN or TURN server as configured; the page gets the same list."""

    urls: tuple[str, ...]
    username: str | None = None
    credential: str | None = None

    def to_aiortc(self) -> RTCIceServer:
        return RTCIceServer(
            urls=list(self.urls), username=self.username, credential=self.credential
        )

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"urls": list(self.urls)}
        if self.username is not None:
            out["username"] = self.username
        if self.credential is not None:
            out["credential"] = self.credential
        return out


@dataclass(frozen=True)
class IcePolicy:
    """How the gateway's peer connections use ICE."""

    servers: tuple[IceServer, ...] = ()
    host_addresses: tuple[str, ...] = ()
    remote_networks: tuple[str, ...] = ()

    def accepts_remote(self, address: str) -> bool:
        """Whether a remote candidate address may be used (all, if no networks are set)."""
        if not self.remote_networks:
            return True
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False  # hostnames (mDNS) are refused when networks are restricted
        return any(ip in ipaddress.ip_network(net, strict=False) for net in self.remote_networks)

    def filter_sdp(self, sdp: str) -> str:
        """Drop ``a=candidate`` lines whose address the policy refuses."""
        if not self.remote_networks:
            return sdp
        kept = []
        for line in sdp.splitlines():
            if line.startswith("a=candidate:"):
                parts = line.split()
                if len(parts) < 6 or not self.accepts_remote(parts[4]):
                    continue
            kept.append(line)
        return "\r\n".join(kept) + "\r\n"
