"""The glue between the OpenID Connect relying party and the calls.

The relying party (``gateway.oidc``) verifies identities; the call layer
(``signaling.stepup``) binds them to a resident in one call. This module adapts one to the
other, and sets up the relying party for the built-in demo provider when that is on.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any, Final

import aiohttp
from aiohttp import web

from gateway import keys
from gateway.config import Config
from gateway.demoidp import DEMO_CLIENT_ID, ISSUER_PATH
from gateway.oidc.client_keys import ClientKeyRing
from gateway.oidc.config import IdentificationConfig
from gateway.oidc.errors import IdentificationError
from gateway.oidc.hooks import IdentificationHooks
from gateway.oidc.identity import VerifiedIdentity
from gateway.oidc.relying_party import RelyingParty
from gateway.oidc.transport import AiohttpTransport
from signaling.stepup import StepUp

__all__ = [
    "RelyingPartyFlows",
    "connect_hooks",
    "identification_settings",
    "identity_for_call",
    "relying_party",
]

DEMO_PROVIDER_NAME: Final = "Demo identification (made-up test persons)"
# What an identification error means to the people in the call (docs/protocol.md).
FAILURE_FOR_CALL: Final = {
    "cancelled": "cancelled",
    "provider_error": "cancelled",
    "acr_insufficient": "level_too_low",
    "flow_unknown": "expired",
    "expired": "expired",
}


def identification_settings(config: Config) -> IdentificationConfig | None:
    """The relying party's settings: configured, or for the demo provider when it is on."""
    if config.identification is not None:
        return config.identification
    if not config.demo_identification:
        return None
    return IdentificationConfig(
        issuer=config.base_url.rstrip("/") + ISSUER_PATH,
        client_id=DEMO_CLIENT_ID,
        provider_name=DEMO_PROVIDER_NAME,
    )


def identity_for_call(identity: VerifiedIdentity) -> dict[str, str]:
    """What the call keeps of a verified identity (shown to the professional only)."""
    data = {
        "name": identity.display_name,
        "code": identity.identity_code or "",
        "level": identity.assurance,
        "provider": identity.provider_name,
    }
    if identity.birthdate is not None:
        data["birthdate"] = identity.birthdate.isoformat()
    return {k: v for k, v in data.items() if v}


class RelyingPartyFlows:
    """The relying party as the call layer's :class:`signaling.stepup.IdentityFlows`."""

    def __init__(self, rp: RelyingParty, provider_name: str) -> None:
        self._rp = rp
        self._provider_name = provider_name

    @property
    def provider_name(self) -> str:
        return self._provider_name

    async def begin(self, binding: str) -> str:
        return await self._rp.begin(binding)


def connect_hooks(hooks: IdentificationHooks, stepup: StepUp) -> None:
    """Completed and failed identifications go to the call the flow was begun for."""

    async def identified(binding: str, identity: VerifiedIdentity) -> None:
        if not await stepup.identified(binding, identity_for_call(identity)):
            raise IdentificationError("flow_unknown", binding)  # the call is over

    async def failed(binding: str, code: str) -> None:
        await stepup.failed(binding, FAILURE_FOR_CALL.get(code, "failed"))

    hooks.on_identified = identified
    hooks.on_failed = failed


@asynccontextmanager
async def relying_party(
    app: web.Application,
    settings: IdentificationConfig,
    redirect_uri: str,
    purpose: bytes,
    **options: Any,
) -> AsyncIterator[RelyingParty]:
    """A relying party with its client keys and HTTP session, for the app's lifetime.

    ``purpose`` keeps the flow secrets of two relying parties (residents, staff) apart.
    """
    config = app[keys.CONFIG]
    ring = ClientKeyRing(
        settings.keys_dir,
        app[keys.CLOCK],
        signing_alg=settings.signing_alg,
        encryption_alg=settings.id_token_encryption_alg,
        grace=timedelta(hours=settings.key_grace_hours),
    )
    ring.load()
    async with aiohttp.ClientSession(
        cookie_jar=aiohttp.DummyCookieJar(), raise_for_status=False, trust_env=True
    ) as session:
        yield RelyingParty(
            settings,
            redirect_uri=redirect_uri,
            client_keys=ring,
            flows=app[keys.STORE].identification,
            transport=AiohttpTransport(session, settings.timeout_seconds),
            clock=app[keys.CLOCK],
            flow_secret=hmac.digest(config.signing_key(), purpose, hashlib.sha256),
            **options,
        )
