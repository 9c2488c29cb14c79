"""The relying parties the demo provider knows, and where it finds their public keys.

A client's keys (its JWKS: an RS256 ``use: sig`` key for the request object and the
``private_key_jwt`` client assertion, an RSA ``use: enc`` key for the ID token) come from a
:class:`JwksSource`: :class:`InProcessJwks` asks a function of the same process (the
gateway's own relying party), :class:`HttpJwks` fetches the client's ``jwks_uri``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp

JWKS_MAX_BYTES = 64 * 1024


class JwksError(Exception):
    """A client's key set could not be had or is not a JWKS."""


class JwksSource(Protocol):
    """Where a client's public JWKS comes from."""

    async def get_jwks(self, refresh: bool = False) -> Mapping[str, Any]:
        """The JWKS (``{"keys": [...]}``); ``refresh``: do not answer from a cache.

        Raises :class:`JwksError` when there is none.
        """
        ...


def check_jwks(jwks: object) -> Mapping[str, Any]:
    """``jwks`` if it is shaped like a JWKS, else :class:`JwksError`."""
    if not isinstance(jwks, Mapping) or not isinstance(jwks.get("keys"), list):
        raise JwksError("the client's key set is not a JWKS")
    return jwks


class InProcessJwks:
    """The JWKS a function of this process returns (asked every time: keys may rotate)."""

    def __init__(self, get: Callable[[], Mapping[str, Any]]) -> None:
        self._get = get

    async def get_jwks(self, refresh: bool = False) -> Mapping[str, Any]:
        try:
            jwks = self._get()
        except Exception as exc:
            raise JwksError("the client's key set is not available") from exc
        return check_jwks(jwks)


class HttpJwks:
    """The JWKS at a client's ``jwks_uri``, kept for ``max_age`` seconds.

    A refresh (asked for when a key id is not found) goes to the network at most once in
    ``min_refresh`` seconds.
    """

    def __init__(
        self, url: str, *, max_age: float = 300.0, min_refresh: float = 5.0, timeout: float = 5.0
    ) -> None:
        self.url = url
        self._max_age = max_age
        self._min_refresh = min_refresh
        self._timeout = timeout
        self._jwks: Mapping[str, Any] | None = None
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()

    async def get_jwks(self, refresh: bool = False) -> Mapping[str, Any]:
        async with self._lock:
            age = time.monotonic() - self._fetched_at
            fresh = self._jwks is not None and age < self._max_age
            if self._jwks is not None and ((fresh and not refresh) or age < self._min_refresh):
                return self._jwks
            self._jwks = await self._fetch()
            self._fetched_at = time.monotonic()
            return self._jwks

    async def _fetch(self) -> Mapping[str, Any]:
        timeout = aiohttp.ClientTimeout(total=self._timeout)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.get(self.url, headers={"Accept": "application/json"}) as response,
            ):
                if response.status != 200:
                    raise JwksError(f"the client's jwks_uri answered {response.status}")
                body = await response.content.read(JWKS_MAX_BYTES + 1)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise JwksError("the client's jwks_uri cannot be read") from exc
        if len(body) > JWKS_MAX_BYTES:
            raise JwksError("the client's key set is too large")
        try:
            return check_jwks(json.loads(body))
        except ValueError as exc:
            raise JwksError("the client's key set is not JSON") from exc


@dataclass(frozen=True)
class DemoClient:
    """A registered relying party: its id, its exact redirect URIs and its keys.

    ``jwks`` None: registered, but no keys yet; requests from it are refused until
    :meth:`gateway.demoidp.DemoProvider.set_client_jwks` gives it some.
    """

    client_id: str
    redirect_uris: tuple[str, ...]
    jwks: JwksSource | None = None
