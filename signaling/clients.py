"""Fairness per client without identifying anyone.

A client is known only by a pseudonymous key (a keyed hash of its address, made in the
gateway layer with a secret that rotates daily and is never stored). Per key this node
counts open sockets and queue places and meters offers, so one client cannot fill a line's
queue, hold thousands of sockets or keep the node busy negotiating. Everything here is in
memory and forgotten when the client's last socket closes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from signaling.ratelimit import TokenBucket


@dataclass(frozen=True)
class ClientLimits:
    """The per-client limits (``[limits]`` in the configuration)."""

    sockets: int = 20
    queue_places: int = 3
    offers_per_minute: float = 30.0


@dataclass(eq=False)
class ClientState:
    """What this node counts for one client key."""

    key: str
    sockets: int = 0
    queue_places: int = 0
    offers: TokenBucket = field(default_factory=lambda: TokenBucket(0.5, 30))


class ClientTracker:
    """Per-key counts for the clients this node serves."""

    def __init__(self, limits: ClientLimits | None = None) -> None:
        self.limits = limits or ClientLimits()
        self._clients: dict[str, ClientState] = {}

    def attach(self, key: str) -> ClientState | None:
        """A new socket of ``key``; None when the client already holds too many."""
        state = self._clients.get(key)
        if state is None:
            rate = self.limits.offers_per_minute / 60
            burst = max(1, int(self.limits.offers_per_minute))
            state = self._clients[key] = ClientState(key, offers=TokenBucket(rate, burst))
        if state.sockets >= self.limits.sockets:
            return None
        state.sockets += 1
        return state

    def detach(self, key: str) -> None:
        """A socket of ``key`` has closed; the key is forgotten with its last socket."""
        state = self._clients.get(key)
        if state is None:
            return
        state.sockets -= 1
        if state.sockets <= 0 and state.queue_places <= 0:
            del self._clients[key]

    def take_place(self, state: ClientState) -> bool:
        """One more queue place for the client; False when it holds the most it may."""
        if state.queue_places >= self.limits.queue_places:
            return False
        state.queue_places += 1
        return True

    def release_place(self, state: ClientState) -> None:
        state.queue_places = max(0, state.queue_places - 1)
        if state.sockets <= 0 and state.queue_places <= 0:
            self._clients.pop(state.key, None)

    def offer_allowed(self, state: ClientState | None) -> bool:
        return state is None or state.offers.allow()

    def __len__(self) -> int:
        return len(self._clients)
