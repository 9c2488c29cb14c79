"""What the gateway knows of the provider: its discovery document and its signing keys.

Both are fetched when first needed and cached. The JWKS is fetched again when it is older
than an hour, and when an ID token names a key id (``kid``) it does not hold, but *at most
once per throttle window*: a storm of tokens with made-up key ids costs one fetch per
window, not one each.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final
from urllib.parse import urlsplit

import jwt

from gateway.oidc.config import LOOPBACK_HOSTS, IdentificationConfig
from gateway.oidc.errors import IdentificationError
from gateway.oidc.transport import ProviderTransport
from rooms.clock import Clock

__all__ = ["ProviderKeys", "ProviderMetadata", "ProviderMetadataCache"]

logger = logging.getLogger(__name__)

DISCOVERY_PATH: Final = "/.well-known/openid-configuration"
METADATA_MAX_AGE: Final = timedelta(hours=1)
JWKS_MAX_AGE: Final = timedelta(hours=1)
KEY_TYPES: Final = {"RS": "RSA", "PS": "RSA", "ES": "EC"}


@dataclass(frozen=True)
class ProviderMetadata:
    """The parts of the discovery document the relying party uses."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    iss_parameter_supported: bool = False

    @classmethod
    def from_json(cls, data: object, expected_issuer: str) -> ProviderMetadata:
        """Checked: ``issuer`` exactly as configured, endpoints https (or loopback http)."""
        if not isinstance(data, dict):
            raise IdentificationError("provider_unavailable")
        if data.get("issuer") != expected_issuer:
            logger.warning("the discovery document names another issuer than configured")
            raise IdentificationError("provider_unavailable")
        endpoints = {}
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            value = data.get(name)
            if not isinstance(value, str) or not _secure_url(value):
                logger.warning("the discovery document lacks a usable %s", name)
                raise IdentificationError("provider_unavailable")
            endpoints[name] = value
        return cls(
            issuer=expected_issuer,
            iss_parameter_supported=data.get("authorization_response_iss_parameter_supported")
            is True,
            **endpoints,
        )


def _secure_url(url: str) -> bool:
    parts = urlsplit(url)
    if parts.fragment or not parts.hostname:
        return False
    return parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS)


class ProviderMetadataCache:
    """The discovery document, fetched on first use and again after an hour."""

    def __init__(self, config: IdentificationConfig, transport: ProviderTransport, clock: Clock):
        self._issuer = config.issuer
        self._transport = transport
        self._clock = clock
        self._metadata: ProviderMetadata | None = None
        self._fetched_at: datetime | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> ProviderMetadata:
        async with self._lock:
            now = self._clock.now()
            fresh = self._fetched_at is not None and now - self._fetched_at < METADATA_MAX_AGE
            if self._metadata is None or not fresh:
                url = self._issuer.rstrip("/") + DISCOVERY_PATH
                try:
                    self._metadata = ProviderMetadata.from_json(
                        await self._transport.get_json(url), self._issuer
                    )
                    self._fetched_at = now
                except IdentificationError:
                    if self._metadata is None:
                        raise
                    logger.warning("the discovery document cannot be fetched; using the last")
            return self._metadata


class ProviderKeys:
    """The provider's public signing keys (its JWKS), with the unknown-``kid`` throttle."""

    def __init__(
        self,
        transport: ProviderTransport,
        clock: Clock,
        *,
        refetch_seconds: float,
        max_age: timedelta = JWKS_MAX_AGE,
    ) -> None:
        self._transport = transport
        self._clock = clock
        self._throttle = timedelta(seconds=refetch_seconds)
        self._max_age = max_age
        self._lock = asyncio.Lock()
        self._jwks_uri: str | None = None
        self._keys: list[dict[str, Any]] = []
        self._attempted_at: datetime | None = None
        self._fetched_at: datetime | None = None
        self.fetches = 0
        """How many times the JWKS was requested (for tests and diagnostics)."""

    async def key_for(self, jwks_uri: str, kid: object, alg: str) -> jwt.PyJWK | None:
        """The key that verifies a signature of ``alg`` by ``kid``, or None if there is none
        (even after the one refetch the throttle allows). ``provider_unavailable`` while no
        JWKS could be fetched at all."""
        async with self._lock:
            now = self._clock.now()
            if jwks_uri != self._jwks_uri:
                self._jwks_uri, self._keys = jwks_uri, []
                self._attempted_at = self._fetched_at = None
            stale = self._fetched_at is None or now - self._fetched_at >= self._max_age
            if stale and self._may_fetch(now):
                await self._fetch(now)
            key = self._find(kid, alg)
            if key is None and self._may_fetch(now):
                await self._fetch(now)
                key = self._find(kid, alg)
            if self._fetched_at is None:
                raise IdentificationError("provider_unavailable")
            return key

    def _may_fetch(self, now: datetime) -> bool:
        return self._attempted_at is None or now - self._attempted_at >= self._throttle

    async def _fetch(self, now: datetime) -> None:
        assert self._jwks_uri is not None
        self._attempted_at = now
        self.fetches += 1
        try:
            data = await self._transport.get_json(self._jwks_uri)
        except IdentificationError:
            logger.warning("the provider's JWKS cannot be fetched; keeping the last one")
            return
        keys = data.get("keys") if isinstance(data, dict) else None
        if not isinstance(keys, list):
            logger.warning("the provider's JWKS is malformed; keeping the last one")
            return
        self._keys = [key for key in keys if isinstance(key, dict)]
        self._fetched_at = now

    def _find(self, kid: object, alg: str) -> jwt.PyJWK | None:
        kty = KEY_TYPES.get(alg[:2])
        candidates = [
            key
            for key in self._keys
            if key.get("kty") == kty
            and key.get("use", "sig") == "sig"
            and key.get("alg", alg) == alg
            and (kid is None or key.get("kid") == kid)
        ]
        if len(candidates) != 1:  # none, or no kid and several that could be meant
            return None
        try:
            return jwt.PyJWK(candidates[0], algorithm=alg)
        except (jwt.PyJWKError, jwt.InvalidKeyError):
            return None
