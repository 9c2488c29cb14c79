"""Identification flows in progress: which binding a ``state`` belongs to, used once.

A flow is begun for an opaque *binding* (the call layer's participant and room) and is
completed by the authorization response that carries its ``state``. The store keeps only a
digest of the state, the binding and an expiry: no code, token, nonce or identity. Taking a
flow uses it up, so a replayed authorization response finds nothing.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

__all__ = ["IdentificationFlowStore", "MemoryIdentificationFlowStore", "PendingFlow"]


@dataclass(frozen=True)
class PendingFlow:
    """A flow waiting for its authorization response."""

    binding: str
    expires_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {"binding": self.binding, "expires_at": self.expires_at.isoformat()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PendingFlow:
        return cls(
            binding=str(data["binding"]), expires_at=datetime.fromisoformat(data["expires_at"])
        )


class IdentificationFlowStore(Protocol):
    """Pending flows by state digest, each taken at most once (Redis: SET EX, GETDEL)."""

    async def put(self, digest: str, flow: PendingFlow) -> None:
        """Remember ``flow`` under ``digest`` until ``flow.expires_at``."""
        ...

    async def take(self, digest: str, now: datetime) -> PendingFlow | None:
        """Atomically fetch and forget; None if unknown, already taken or expired."""
        ...


class MemoryIdentificationFlowStore:
    """In-process IdentificationFlowStore that purges expired flows as it goes."""

    def __init__(self) -> None:
        self._flows: dict[str, PendingFlow] = {}
        self._heap: list[tuple[datetime, str]] = []

    async def put(self, digest: str, flow: PendingFlow) -> None:
        if flow.expires_at.tzinfo is None or flow.expires_at.utcoffset() is None:
            raise ValueError("expires_at must be time-zone aware")
        self._flows[digest] = flow
        heapq.heappush(self._heap, (flow.expires_at, digest))

    async def take(self, digest: str, now: datetime) -> PendingFlow | None:
        self._purge(now)
        flow = self._flows.pop(digest, None)
        if flow is None or flow.expires_at <= now:
            return None
        return flow

    def __len__(self) -> int:
        return len(self._flows)

    def _purge(self, now: datetime) -> None:
        while self._heap and self._heap[0][0] <= now:
            _, digest = heapq.heappop(self._heap)
            flow = self._flows.get(digest)
            if flow is not None and flow.expires_at <= now:
                del self._flows[digest]
