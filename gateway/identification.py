"""The glue between the OpenID Connect relying party and the calls.

The relying party (``gateway.oidc``) verifies identities; the call layer
(``signaling.stepup``) binds them to a resident in one call. This module adapts one to the
other, and sets up the relying party for the built-in demo provider when that is on.
"""

from __future__ import annotations

from typing import Final

from gateway.config import Config
from gateway.demoidp import DEMO_CLIENT_ID, ISSUER_PATH
from gateway.oidc.config import IdentificationConfig
from gateway.oidc.errors import IdentificationError
from gateway.oidc.hooks import IdentificationHooks
from gateway.oidc.identity import VerifiedIdentity
from gateway.oidc.relying_party import RelyingParty
from signaling.stepup import StepUp

__all__ = ["RelyingPartyFlows", "connect_hooks", "identification_settings", "identity_for_call"]

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
