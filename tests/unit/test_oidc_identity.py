"""Mapping verified claims to what the professional sees."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.oidc.config import FTN_SUBSTANTIAL, IdentificationConfig, parse_identification
from gateway.oidc.errors import IdentificationError
from gateway.oidc.identity import VerifiedIdentity, map_identity

NOW = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
BASE = {"sub": "s-1", "acr": FTN_SUBSTANTIAL}


def config(**table: Any) -> IdentificationConfig:
    base = {"issuer": "https://broker.example.fi", "client_id": "c", "provider_name": "Broker"}
    made = parse_identification({**base, **table})
    assert made is not None
    return made


def mapped(token_claims: dict[str, Any], **table: Any) -> VerifiedIdentity:
    return map_identity({**BASE, **token_claims}, config(**table), NOW)


@pytest.mark.parametrize("claim", ["personal_identity_code", "hetu", "nin"])
def test_the_identity_code_under_the_names_brokers_use(claim: str) -> None:
    identity = mapped({"name": "Aino Demo", claim: "010190-904U"})
    assert identity.identity_code == "010190-***U" and identity.identity_code_masked


def test_the_first_configured_name_wins() -> None:
    identity = mapped({"name": "A B", "hetu": "010190-904U", "nin": "150538-9173"})
    assert identity.identity_code == "010190-***U"


def test_the_full_code_only_when_configured() -> None:
    identity = mapped({"name": "A B", "hetu": "010190-904u"}, show_full_identity_code=True)
    assert identity.identity_code == "010190-904U" and not identity.identity_code_masked


def test_a_name_from_its_parts_and_the_birthdate_from_the_code() -> None:
    identity = mapped({"given_name": " Aino ", "family_name": "Demo", "hetu": "010190-904U"})
    assert identity.display_name == "Aino Demo"
    assert identity.birthdate is not None and identity.birthdate.isoformat() == "1990-01-01"
    assert identity.for_professional() == {
        "name": "Aino Demo",
        "identity_code": "010190-***U",
        "identity_code_masked": True,
        "birthdate": "1990-01-01",
        "assurance": "substantial",
        "acr": FTN_SUBSTANTIAL,
        "provider": "Broker",
    }


def test_a_configured_claim_mapping() -> None:
    identity = mapped(
        {"full_name": "Eino Demo", "ssn": "150538-9173", "name": "ignored"},
        claims={"name": ["full_name"], "identity_code": ["ssn"]},
    )
    assert (identity.display_name, identity.identity_code) == ("Eino Demo", "150538-***3")


@pytest.mark.parametrize(
    ("claims", "code"),
    [
        ({"hetu": "010190-904U"}, "claims_missing"),  # no name
        ({"name": "A B"}, "claims_missing"),  # no identity code, and one is required
        ({"name": "A B", "hetu": "010190-904V"}, "identity_code_invalid"),
        ({"name": "A B", "hetu": "not a code"}, "identity_code_invalid"),
    ],
)
def test_refusals(claims: dict[str, Any], code: str) -> None:
    with pytest.raises(IdentificationError) as caught:
        mapped(claims)
    assert caught.value.code == code


def test_the_code_may_be_optional() -> None:
    identity = mapped({"name": "A B", "birthdate": "1990-01-01"}, require_identity_code=False)
    assert identity.identity_code is None and not identity.identity_code_masked


def test_the_repr_tells_nothing_of_the_person() -> None:
    identity = mapped({"name": "Aino Demo", "hetu": "010190-904U"})
    assert repr(identity) == "VerifiedIdentity(assurance='substantial', provider='Broker')"
    assert str(identity) == repr(identity)
