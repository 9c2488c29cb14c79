"""The [identification] section: defaults, every key, and the refusals."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.config import from_mapping, load_config
from gateway.oidc.config import (
    FTN_HIGH,
    FTN_SUBSTANTIAL,
    ClaimMapping,
    IdentificationConfig,
    parse_identification,
)
from rooms.errors import ConfigError

MINIMAL = {"issuer": "https://broker.example.fi", "client_id": "tukilinja"}


def parse(**table: Any) -> IdentificationConfig:
    config = parse_identification({**MINIMAL, **table})
    assert config is not None
    return config


def test_absent_or_disabled_means_off() -> None:
    assert parse_identification(None) is None
    assert parse_identification({}) is None
    assert parse_identification({**MINIMAL, "enabled": False}) is None
    assert from_mapping({}).identification is None


def test_the_defaults_are_the_ftn_profile() -> None:
    config = parse()
    assert config.provider_name == "broker.example.fi"
    assert config.auth_method == "private_key_jwt"
    assert config.request_object and config.id_token_encrypted
    assert (config.signing_alg, config.id_token_signing_alg) == ("RS256", "RS256")
    assert (config.id_token_encryption_alg, config.id_token_encryption_enc) == (
        "RSA-OAEP-256",
        "A256GCM",
    )
    assert config.minimum_acr == FTN_SUBSTANTIAL
    assert config.requested_acr_values() == (FTN_HIGH, FTN_SUBSTANTIAL)
    assert config.acr_name(FTN_HIGH) == "high" and config.acr_name("other") == "other"
    assert config.claims.identity_code == ("personal_identity_code", "hetu", "nin")
    assert not config.show_full_identity_code
    assert config.require_identity_code
    assert (config.leeway_seconds, config.flow_minutes, config.jwks_refetch_seconds) == (
        30.0,
        10,
        60.0,
    )


def test_every_key() -> None:
    config = parse(
        provider_name="Esimerkkivälittäjä",
        auth_method="client_secret_basic",
        client_assertion_audience="issuer",
        request_object=False,
        signing_alg="PS256",
        keys_dir="/var/lib/tukilinja/oidc",
        key_grace_hours=48,
        id_token_encrypted=False,
        id_token_signing_alg="ES256",
        id_token_encryption_alg="RSA-OAEP",
        id_token_encryption_enc="A128GCM",
        scopes=["openid", "profile", "ssn"],
        acr_levels={"urn:low": "low", "urn:mid": "mid", "urn:top": "top"},
        minimum_acr="urn:mid",
        acr_values=["urn:top"],
        claims={"identity_code": ["ssn", "hetu"], "name": ["full_name"]},
        request_claims=False,
        require_identity_code=False,
        show_full_identity_code=True,
        leeway_seconds=5,
        flow_minutes=15,
        jwks_refetch_seconds=120,
        timeout_seconds=3,
    )
    assert config.provider_name == "Esimerkkivälittäjä"
    assert config.acr_rank("urn:top") == 2 and config.acr_rank("urn:nope") is None
    assert config.requested_acr_values() == ("urn:top",)
    assert config.claims == ClaimMapping(name=("full_name",), identity_code=("ssn", "hetu"))
    assert config.flow_minutes == 15 and isinstance(config.flow_minutes, int)
    assert config.key_grace_hours == 48.0 and config.timeout_seconds == 3.0


def test_requested_levels_start_at_the_minimum() -> None:
    assert parse(minimum_acr=FTN_HIGH).requested_acr_values() == (FTN_HIGH,)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"issuer": "http://broker.example.fi"}, "https"),
        ({"issuer": "https://broker.example.fi/?x=1"}, "query"),
        ({"issuer": ""}, "issuer"),
        ({"client_id": 5}, "client_id"),
        ({"auth_method": "client_secret_post"}, "auth_method"),
        ({"client_assertion_audience": "both"}, "client_assertion_audience"),
        ({"id_token_signing_alg": "HS256"}, "id_token_signing_alg"),
        ({"id_token_signing_alg": "none"}, "id_token_signing_alg"),
        ({"id_token_encryption_alg": "RSA1_5"}, "id_token_encryption_alg"),
        ({"id_token_encryption_enc": "A128CBC"}, "id_token_encryption_enc"),
        ({"signing_alg": "HS256"}, "signing_alg"),
        ({"id_token_encrypted": "yes"}, "id_token_encrypted"),
        ({"scopes": ["profile"]}, "openid"),
        ({"scopes": "openid"}, "scopes"),
        ({"minimum_acr": "http://ftn.ficora.fi/2017/loa4"}, "minimum_acr"),
        ({"acr_values": ["urn:other"]}, "acr_values"),
        ({"acr_levels": {}}, "acr_levels"),
        ({"claims": {"email": ["email"]}}, "unknown email"),
        ({"claims": {"name": []}}, "claims.name"),
        ({"leeway_seconds": 301}, "leeway_seconds"),
        ({"leeway_seconds": float("nan")}, "leeway_seconds"),
        ({"flow_minutes": 31}, "flow_minutes"),
        ({"flow_minutes": 2.5}, "flow_minutes"),
        ({"jwks_refetch_seconds": 0}, "jwks_refetch_seconds"),
        ({"timeout_seconds": True}, "timeout_seconds"),
    ],
)
def test_refusals_name_the_key(table: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse(**table)


def test_loopback_http_is_allowed_for_tests() -> None:
    assert parse(issuer="http://127.0.0.1:4000").issuer == "http://127.0.0.1:4000"


def test_the_issuer_is_kept_exactly() -> None:
    assert parse(issuer="https://broker.example.fi/").issuer == "https://broker.example.fi/"


def test_the_client_secret_comes_from_the_environment(tmp_path: Any) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(
        '[identification]\nissuer = "https://broker.example.fi"\nclient_id = "t"\n'
        'auth_method = "client_secret_basic"\n'
    )
    with pytest.raises(ConfigError, match="TUKILINJA_OIDC_CLIENT_SECRET"):
        load_config(path, env={})
    config = load_config(path, env={"TUKILINJA_OIDC_CLIENT_SECRET": "hush"})
    assert config.identification is not None
    assert config.identification.client_secret == "hush"
    assert "hush" not in repr(config)


def test_private_key_jwt_needs_no_secret(tmp_path: Any) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text('[identification]\nissuer = "https://broker.example.fi"\nclient_id = "t"\n')
    config = load_config(path, env={})
    assert config.identification is not None and config.identification.client_secret == ""
