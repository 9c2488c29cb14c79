"""How often one client may begin a sign-in flow (each one is kept in the store a while)."""

from __future__ import annotations

from collections import OrderedDict
from typing import Final

from signaling.ratelimit import TokenBucket

__all__ = ["BeginLimits"]

BEGINS_PER_MINUTE: Final = 10
BURST: Final = 5
MAX_CLIENTS: Final = 10000  # the oldest client's bucket goes first beyond this


class BeginLimits:
    """A token bucket per client key (pseudonymous: gateway.clients.ClientKeys)."""

    def __init__(
        self, per_minute: float = BEGINS_PER_MINUTE, burst: int = BURST, clients: int = MAX_CLIENTS
    ) -> None:
        self._rate = per_minute / 60
        self._burst = burst
        self._clients = clients
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def allow(self, client: str) -> bool:
        bucket = self._buckets.pop(client, None) or TokenBucket(self._rate, self._burst)
        self._buckets[client] = bucket
        while len(self._buckets) > self._clients:
            self._buckets.popitem(last=False)
        return bucket.allow()
