"""Strong identification: the gateway as an OpenID Connect relying party.

The profile is that of the brokers of the Finnish Trust Network (Traficom recommendation
213/2023 S); see docs/identification.md. What the call layer uses:

- ``app[gateway.keys.IDENTIFICATION]``: the :class:`RelyingParty` (only when configured);
  ``await rp.begin(binding)`` gives the authorization URL for the participant's browser.
- ``app[gateway.keys.IDENTIFICATION_HOOKS]``: :class:`IdentificationHooks`; set
  ``on_identified(binding, identity)`` and ``on_failed(binding, error_code)``.
- :class:`VerifiedIdentity`: what was verified; ``for_professional()`` is what to show.

The HTTP routes are in :mod:`gateway.oidc.routes`.
"""

from gateway.oidc.config import FTN_HIGH, FTN_SUBSTANTIAL, ClaimMapping, IdentificationConfig
from gateway.oidc.errors import ERROR_MESSAGES, IdentificationError
from gateway.oidc.hooks import IdentificationHooks, OnFailed, OnIdentified
from gateway.oidc.identity import VerifiedIdentity
from gateway.oidc.identity_code import is_valid_identity_code, mask_identity_code
from gateway.oidc.relying_party import Identified, RelyingParty

__all__ = [
    "ERROR_MESSAGES",
    "FTN_HIGH",
    "FTN_SUBSTANTIAL",
    "ClaimMapping",
    "IdentificationConfig",
    "IdentificationError",
    "IdentificationHooks",
    "Identified",
    "OnFailed",
    "OnIdentified",
    "RelyingParty",
    "VerifiedIdentity",
    "is_valid_identity_code",
    "mask_identity_code",
]
