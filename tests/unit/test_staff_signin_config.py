"""``[staff_signin]``: the provider's keys as ``[identification]``, and the line mapping."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from gateway.config import apply_env, check, from_mapping
from gateway.oidc.staff_config import StaffSigninConfig, parse_staff_signin
from rooms.errors import ConfigError

PROVIDER = {"issuer": "https://login.example.fi", "client_id": "tukilinja-staff"}


def parse(**table: Any) -> StaffSigninConfig:
    config = parse_staff_signin({**PROVIDER, **table})
    assert config is not None
    return config


def test_absent_or_disabled_is_link_sign_in_only() -> None:
    assert parse_staff_signin(None) is None
    assert parse_staff_signin({**PROVIDER, "enabled": False, "staff": {"s": ["demo"]}}) is None


def test_staff_defaults_differ_from_identification() -> None:
    config = parse(staff={"subject-1": ["demo"]})
    oidc = config.oidc
    assert oidc.require_identity_code is False
    assert oidc.scopes == ("openid", "profile")
    assert oidc.claims.identity_code == ()
    assert oidc.keys_dir.endswith("staff-oidc-keys")
    assert oidc.provider_name == "login.example.fi"
    assert config.session_ttl(timedelta(hours=8)) == timedelta(hours=8)
    assert config.extra_claims() == ()


def test_the_identification_options_apply() -> None:
    config = parse(
        staff={"s": ["demo"]},
        provider_name="Työpaikan kirjautuminen",
        auth_method="client_secret_basic",
        request_object=False,
        id_token_encrypted=False,
        keys_dir="/var/lib/tukilinja/staff-keys",
        acr_levels={"urn:acr:mfa": "two-factor"},
        minimum_acr="urn:acr:mfa",
        claims={"name": ["display_name", "name"]},
        session_hours=4,
    )
    oidc = config.oidc
    assert oidc.provider_name == "Työpaikan kirjautuminen"
    assert (oidc.auth_method, oidc.request_object, oidc.id_token_encrypted) == (
        "client_secret_basic",
        False,
        False,
    )
    assert oidc.requested_acr_values() == ("urn:acr:mfa",)
    assert oidc.claims.name == ("display_name", "name")
    assert oidc.claims.identity_code == ()  # the staff default stays for unnamed claims
    assert config.session_ttl(timedelta(hours=8)) == timedelta(hours=4)


def test_lines_from_groups_and_subjects_together() -> None:
    config = parse(
        lines_claim="groups",
        line_groups={"counsellors": ["neuvonta", "demo"], "night": ["yö"], "none": []},
        staff={"subject-1": ["yö", "kotihoito"]},
    )
    assert config.extra_claims() == ("groups",)
    assert config.lines_for("x", {"groups": ["counsellors"]}) == ("neuvonta", "demo")
    assert config.lines_for("x", {"groups": "night"}) == ("yö",)  # a single value
    assert config.lines_for("subject-1", {"groups": ["night", "counsellors"]}) == (
        "yö",
        "neuvonta",
        "demo",
        "kotihoito",
    )
    assert config.lines_for("x", {"groups": ["unknown", 7, None]}) == ()
    assert config.lines_for("x", {"groups": {"counsellors": True}}) == ()
    assert config.lines_for("x", {"groups": ["none"]}) == ()
    assert config.lines_for("x", {}) == ()
    assert config.mapped_lines() == {"neuvonta", "demo", "yö", "kotihoito"}


def test_subjects_alone() -> None:
    config = parse(staff={"subject-1": ["demo"]})
    assert config.lines_for("subject-1", {"groups": ["counsellors"]}) == ("demo",)
    assert config.lines_for("subject-2", {}) == ()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({}, "gives nobody a line"),
        ({"line_groups": {"g": ["demo"]}}, "needs staff_signin.lines_claim"),
        ({"lines_claim": 3, "staff": {"s": ["demo"]}}, "lines_claim must be a claim name"),
        ({"lines_claim": "groups", "line_groups": {"g": "demo"}}, "staff_signin.line_groups.g"),
        ({"lines_claim": "groups", "line_groups": ["g"]}, "[staff_signin.line_groups]"),
        ({"staff": {"s": [""]}}, "an entry of [staff_signin.staff]"),
        ({"staff": {"s": ["demo"]}, "session_hours": 25}, "session_hours"),
        ({"staff": {"s": ["demo"]}, "session_hours": True}, "session_hours"),
        ({"staff": {"s": ["demo"]}, "signing_alg": "HS256"}, "staff_signin.signing_alg"),
        ({"staff": {"s": ["demo"]}, "scopes": ["profile"]}, "staff_signin.scopes"),
    ],
)
def test_refused_tables(table: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_staff_signin({**PROVIDER, **table})
    assert message in str(info.value)


def test_errors_never_name_a_subject() -> None:
    with pytest.raises(ConfigError) as info:
        parse_staff_signin({**PROVIDER, "staff": {"010190-904U": "demo"}})
    assert "010190-904U" not in str(info.value)


def test_errors_name_the_section() -> None:
    with pytest.raises(ConfigError) as info:
        parse_staff_signin({"issuer": "http://login.example.fi", "client_id": "c"})
    assert "staff_signin.issuer" in str(info.value)


def gateway_config(staff: dict[str, Any], **extra: Any) -> Any:
    return from_mapping({"staff_signin": {**PROVIDER, **staff}, **extra})


def test_mapped_lines_must_exist() -> None:
    assert check(gateway_config({"staff": {"s": ["demo"]}})).staff_signin is not None
    with pytest.raises(ConfigError, match="unknown lines: nowhere"):
        check(gateway_config({"staff": {"s": ["demo", "nowhere"]}}))


def test_the_two_clients_keep_their_keys_apart() -> None:
    identification = {**PROVIDER, "keys_dir": "/tmp/keys"}
    with pytest.raises(ConfigError, match="keys_dir"):
        check(
            gateway_config(
                {"staff": {"s": ["demo"]}, "keys_dir": "/tmp/keys"}, identification=identification
            )
        )


def test_the_client_secret_comes_from_its_own_variable() -> None:
    config = gateway_config({"staff": {"s": ["demo"]}, "auth_method": "client_secret_basic"})
    config = apply_env(config, {"TUKILINJA_STAFF_OIDC_CLIENT_SECRET": "s3cret"})
    assert config.staff_signin is not None
    assert config.staff_signin.oidc.client_secret == "s3cret"
    assert "s3cret" not in repr(config)
