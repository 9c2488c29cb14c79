"""The identity a verified ID token states, mapped by configuration for the professional."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

from gateway.oidc.config import IdentificationConfig
from gateway.oidc.errors import IdentificationError
from gateway.oidc.identity_code import (
    identity_code_birthdate,
    is_valid_identity_code,
    mask_identity_code,
)

__all__ = ["VerifiedIdentity", "map_identity"]

MAX_NAME_CHARS: Final = 200


@dataclass(frozen=True, repr=False)
class VerifiedIdentity:
    """A person strongly identified by the provider. Lives in memory only.

    ``identity_code`` is masked (``010190-***A``) unless ``show_full_identity_code`` is
    configured; the full code is then the only form kept. ``subject`` is the provider's
    ``sub``: to tell the same person again within the call, never to show, store or log.
    The repr names only the level and the provider, so the identity never reaches a log by
    accident.
    """

    display_name: str
    given_name: str | None
    family_name: str | None
    identity_code: str | None
    identity_code_masked: bool
    birthdate: date | None
    acr: str
    assurance: str
    provider_name: str
    issuer: str
    identified_at: datetime
    subject: str

    def for_professional(self) -> dict[str, Any]:
        """What the professional's console shows (JSON)."""
        return {
            "name": self.display_name,
            "identity_code": self.identity_code,
            "identity_code_masked": self.identity_code_masked,
            "birthdate": None if self.birthdate is None else self.birthdate.isoformat(),
            "assurance": self.assurance,
            "acr": self.acr,
            "provider": self.provider_name,
        }

    def __repr__(self) -> str:
        return f"VerifiedIdentity(assurance={self.assurance!r}, provider={self.provider_name!r})"


def map_identity(
    claims: Mapping[str, Any], config: IdentificationConfig, identified_at: datetime
) -> VerifiedIdentity:
    """The identity in verified ``claims`` by the configured claim names.

    Raises ``claims_missing`` without a name (or a required identity code) and
    ``identity_code_invalid`` for a code that is not a valid personal identity code.
    """
    mapping = config.claims
    given = _first(claims, mapping.given_name)
    family = _first(claims, mapping.family_name)
    name = _first(claims, mapping.name) or " ".join(p for p in (given, family) if p)
    if not name:
        raise IdentificationError("claims_missing")
    code = _first(claims, mapping.identity_code)
    if code is not None:
        code = code.upper()
        if not is_valid_identity_code(code):
            raise IdentificationError("identity_code_invalid")
    elif config.require_identity_code:
        raise IdentificationError("claims_missing")
    birthdate = _date(_first(claims, mapping.birthdate))
    if birthdate is None and code is not None:
        birthdate = identity_code_birthdate(code)
    shown_code = code
    if code is not None and not config.show_full_identity_code:
        shown_code = mask_identity_code(code)
    acr = str(claims["acr"])
    return VerifiedIdentity(
        display_name=name,
        given_name=given,
        family_name=family,
        identity_code=shown_code,
        identity_code_masked=code is not None and not config.show_full_identity_code,
        birthdate=birthdate,
        acr=acr,
        assurance=config.acr_name(acr),
        provider_name=config.provider_name,
        issuer=config.issuer,
        identified_at=identified_at,
        subject=str(claims["sub"]),
    )


def _first(claims: Mapping[str, Any], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = claims.get(name)
        if isinstance(value, str) and value.strip():
            return " ".join(value.split())[:MAX_NAME_CHARS]
    return None


def _date(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value) if len(value) == 10 else None
    except ValueError:
        return None
