"""The ``[identification]`` section: the OpenID Connect provider and how to talk to it.

Every key is documented in docs/configuration.md and docs/identification.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field, fields, replace
from typing import Any, Final
from urllib.parse import urlsplit

from rooms.errors import ConfigError

__all__ = [
    "FTN_HIGH",
    "FTN_SUBSTANTIAL",
    "ClaimMapping",
    "IdentificationConfig",
    "parse_identification",
]

FTN_SUBSTANTIAL: Final = "http://ftn.ficora.fi/2017/loa2"
FTN_HIGH: Final = "http://ftn.ficora.fi/2017/loa3"
FTN_LEVELS: Final = ((FTN_SUBSTANTIAL, "substantial"), (FTN_HIGH, "high"))
DEFAULT_KEYS_DIR: Final = "~/.local/state/tukilinja/oidc-keys"
CLIENT_SECRET_ENV: Final = "TUKILINJA_OIDC_CLIENT_SECRET"

AUTH_METHODS: Final = ("private_key_jwt", "client_secret_basic")
ASSERTION_AUDIENCES: Final = ("token_endpoint", "issuer")
SIGNING_ALGS: Final = ("RS256", "PS256")
ID_TOKEN_SIGNING_ALGS: Final = ("RS256", "PS256", "ES256")
KEY_ENCRYPTION_ALGS: Final = ("RSA-OAEP-256", "RSA-OAEP")
CONTENT_ENCRYPTION_ALGS: Final = ("A256GCM", "A128GCM", "A256CBC-HS512", "A128CBC-HS256")
LOOPBACK_HOSTS: Final = ("127.0.0.1", "localhost", "::1")
# The table being parsed, for error messages ([identification] or [staff_signin]).
_SECTION: ContextVar[str] = ContextVar("section", default="identification")


@dataclass(frozen=True)
class ClaimMapping:
    """Which ID token claims carry each piece of identity; the first one present wins."""

    name: tuple[str, ...] = ("name",)
    given_name: tuple[str, ...] = ("given_name",)
    family_name: tuple[str, ...] = ("family_name",)
    birthdate: tuple[str, ...] = ("birthdate",)
    identity_code: tuple[str, ...] = ("personal_identity_code", "hetu", "nin")

    def all_names(self) -> tuple[str, ...]:
        """Every claim name in the mapping, once each, in order."""
        names: dict[str, None] = {}
        for item in fields(self):
            names.update(dict.fromkeys(getattr(self, item.name)))
        return tuple(names)


@dataclass(frozen=True)
class IdentificationConfig:
    """The relying party's settings; see docs/identification.md."""

    issuer: str
    client_id: str
    provider_name: str
    auth_method: str = "private_key_jwt"
    client_secret: str = field(default="", repr=False)
    client_assertion_audience: str = "token_endpoint"
    request_object: bool = True
    signing_alg: str = "RS256"
    keys_dir: str = DEFAULT_KEYS_DIR
    key_grace_hours: float = 24.0
    id_token_encrypted: bool = True
    id_token_signing_alg: str = "RS256"
    id_token_encryption_alg: str = "RSA-OAEP-256"
    id_token_encryption_enc: str = "A256GCM"
    scopes: tuple[str, ...] = ("openid", "profile", "personal_identity_code")
    acr_levels: tuple[tuple[str, str], ...] = FTN_LEVELS
    minimum_acr: str = FTN_SUBSTANTIAL
    acr_values: tuple[str, ...] = ()
    claims: ClaimMapping = field(default_factory=ClaimMapping)
    request_claims: bool = True
    require_identity_code: bool = True
    show_full_identity_code: bool = False
    leeway_seconds: float = 30.0
    flow_minutes: int = 10
    jwks_refetch_seconds: float = 60.0
    timeout_seconds: float = 10.0

    def acr_rank(self, acr: object) -> int | None:
        """The position of ``acr`` among the configured levels (low to high), or None."""
        for rank, (value, _) in enumerate(self.acr_levels):
            if value == acr:
                return rank
        return None

    def acr_name(self, acr: str) -> str:
        """The level's short name ("substantial", "high"), or the value itself."""
        return dict(self.acr_levels).get(acr, acr)

    def requested_acr_values(self) -> tuple[str, ...]:
        """``acr_values`` to ask for: as configured, else every level from the minimum up
        (highest first)."""
        if self.acr_values:
            return self.acr_values
        minimum = self.acr_rank(self.minimum_acr) or 0
        return tuple(value for value, _ in reversed(self.acr_levels[minimum:]))

    def check_secret(self, section: str = "identification", env: str = CLIENT_SECRET_ENV) -> None:
        """``client_secret_basic`` needs the secret (from the environment variable ``env``)."""
        if self.auth_method == "client_secret_basic" and not self.client_secret:
            raise ConfigError(f"{section}.auth_method client_secret_basic needs {env}")


def parse_identification(
    value: object,
    *,
    section: str = "identification",
    defaults: IdentificationConfig | None = None,
    ignore: frozenset[str] = frozenset(),
) -> IdentificationConfig | None:
    """The ``[identification]`` table, or None when it is absent (identification off).

    ``section`` names the table in error messages (``[staff_signin]`` has the same keys);
    ``defaults`` replaces the built-in defaults; keys in ``ignore`` belong to the caller.
    """
    if value is None:
        return None
    # `demo` switches on the built-in demo provider (gateway.config), not a provider here.
    table = {k: v for k, v in _table(value, section).items() if k != "demo" and k not in ignore}
    if not table or table.get("enabled", True) is False:
        return None
    token = _SECTION.set(section)
    try:
        return _parse(table, section, defaults)
    finally:
        _SECTION.reset(token)


def _parse(
    table: Mapping[str, Any], section: str, defaults: IdentificationConfig | None
) -> IdentificationConfig:
    d = defaults or IdentificationConfig(issuer="", client_id="", provider_name="")
    issuer = _issuer(table.get("issuer"))
    client_id = _str(table.get("client_id"), f"{section}.client_id")
    levels = _acr_levels(table.get("acr_levels"), d.acr_levels)
    config = IdentificationConfig(
        issuer=issuer,
        client_id=client_id,
        provider_name=_str(
            table.get("provider_name", urlsplit(issuer).hostname or issuer),
            f"{section}.provider_name",
        ),
        auth_method=_choice(table, "auth_method", d.auth_method, AUTH_METHODS),
        client_assertion_audience=_choice(
            table, "client_assertion_audience", d.client_assertion_audience, ASSERTION_AUDIENCES
        ),
        request_object=_bool(table, "request_object", d.request_object),
        signing_alg=_choice(table, "signing_alg", d.signing_alg, SIGNING_ALGS),
        keys_dir=_str(table.get("keys_dir", d.keys_dir), f"{section}.keys_dir"),
        key_grace_hours=_number(table, "key_grace_hours", d.key_grace_hours, 0.0, 24.0 * 365),
        id_token_encrypted=_bool(table, "id_token_encrypted", d.id_token_encrypted),
        id_token_signing_alg=_choice(
            table, "id_token_signing_alg", d.id_token_signing_alg, ID_TOKEN_SIGNING_ALGS
        ),
        id_token_encryption_alg=_choice(
            table, "id_token_encryption_alg", d.id_token_encryption_alg, KEY_ENCRYPTION_ALGS
        ),
        id_token_encryption_enc=_choice(
            table, "id_token_encryption_enc", d.id_token_encryption_enc, CONTENT_ENCRYPTION_ALGS
        ),
        scopes=_strings(table, "scopes", d.scopes),
        acr_levels=levels,
        minimum_acr=_str(table.get("minimum_acr", d.minimum_acr), f"{section}.minimum_acr"),
        acr_values=_strings(table, "acr_values", d.acr_values, allow_empty=True),
        claims=_claims(table.get("claims", {}), d.claims),
        request_claims=_bool(table, "request_claims", d.request_claims),
        require_identity_code=_bool(table, "require_identity_code", d.require_identity_code),
        show_full_identity_code=_bool(table, "show_full_identity_code", d.show_full_identity_code),
        leeway_seconds=_number(table, "leeway_seconds", d.leeway_seconds, 0.0, 300.0),
        flow_minutes=int(_number(table, "flow_minutes", d.flow_minutes, 1, 30, integer=True)),
        jwks_refetch_seconds=_number(
            table, "jwks_refetch_seconds", d.jwks_refetch_seconds, 1.0, 3600.0
        ),
        timeout_seconds=_number(table, "timeout_seconds", d.timeout_seconds, 1.0, 60.0),
    )
    if "openid" not in config.scopes:
        raise ConfigError(f'{section}.scopes must include "openid"')
    known = dict(levels)
    if config.minimum_acr not in known:
        raise ConfigError(f"{section}.minimum_acr must be one of {section}.acr_levels")
    unknown = [value for value in config.acr_values if value not in known]
    if unknown:
        raise ConfigError(f"{section}.acr_values must be among {section}.acr_levels")
    return config


def _table(value: object, key: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"[{key}] must be a table")
    return value


def _str(value: object, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{key} must be a non-empty string")
    return value.strip()


def _issuer(value: object) -> str:
    issuer = _str(value, f"{_SECTION.get()}.issuer")
    parts = urlsplit(issuer)
    loopback = parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS
    if not (parts.scheme == "https" or loopback) or not parts.hostname:
        raise ConfigError(f"{_SECTION.get()}.issuer must be an https:// URL")
    if parts.query or parts.fragment:
        raise ConfigError(f"{_SECTION.get()}.issuer must have no query or fragment")
    return issuer  # compared exactly, as the provider states it: no trailing-slash repair


def _choice(table: Mapping[str, Any], key: str, default: str, choices: tuple[str, ...]) -> str:
    value = table.get(key, default)
    if value not in choices:
        raise ConfigError(f"{_SECTION.get()}.{key} must be one of: {', '.join(choices)}")
    return str(value)


def _bool(table: Mapping[str, Any], key: str, default: bool) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{_SECTION.get()}.{key} must be true or false")
    return value


def _number(
    table: Mapping[str, Any],
    key: str,
    default: float,
    low: float,
    high: float,
    *,
    integer: bool = False,
) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{_SECTION.get()}.{key} must be a number")
    if integer and not isinstance(value, int):
        raise ConfigError(f"{_SECTION.get()}.{key} must be an integer")
    if not low <= value <= high:  # also refuses NaN
        raise ConfigError(f"{_SECTION.get()}.{key} must be between {low:g} and {high:g}")
    return float(value)


def _strings(
    table: Mapping[str, Any],
    key: str,
    default: tuple[str, ...],
    *,
    allow_empty: bool = False,
    section: str | None = None,
) -> tuple[str, ...]:
    section = section or _SECTION.get()
    value = table.get(key, list(default))
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f"{section}.{key} must be a list of strings")
    if not value and not allow_empty:
        raise ConfigError(f"{section}.{key} must not be empty")
    return tuple(v.strip() for v in value)


def _acr_levels(value: object, default: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    if value is None:
        return default
    section = _SECTION.get()
    table = _table(value, f"{section}.acr_levels")
    if not table:
        raise ConfigError(f"{section}.acr_levels must name at least one level")
    for acr, name in table.items():
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{section}.acr_levels: the name of {acr!r} must be a string")
    return tuple((str(acr), str(name).strip()) for acr, name in table.items())


def _claims(value: object, default: ClaimMapping) -> ClaimMapping:
    section = f"{_SECTION.get()}.claims"
    table = _table(value, section)
    known = {item.name for item in fields(ClaimMapping)}
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigError(
            f"{section}: unknown {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    mapped = {name: _strings(table, name, (), section=section) for name in table}
    return replace(default, **mapped)
