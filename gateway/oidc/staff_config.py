"""The ``[staff_signin]`` section: professionals sign in through an OpenID Connect provider.

The provider is configured with the same keys as ``[identification]`` (its own issuer,
client, key directory and level requirement); what is added decides a professional's
lines. See docs/configuration.md and docs/identification.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Final

from gateway.oidc.config import ClaimMapping, IdentificationConfig, parse_identification
from rooms.errors import ConfigError

__all__ = ["STAFF_CLIENT_SECRET_ENV", "STAFF_DEFAULTS", "StaffSigninConfig", "parse_staff_signin"]

SECTION: Final = "staff_signin"
STAFF_CLIENT_SECRET_ENV: Final = "TUKILINJA_STAFF_OIDC_CLIENT_SECRET"
DEFAULT_STAFF_KEYS_DIR: Final = "~/.local/state/tukilinja/staff-oidc-keys"
OWN_KEYS: Final = frozenset({"lines_claim", "line_groups", "staff", "session_hours"})
MAX_CLAIM_VALUES: Final = 200  # a claim with more values than this is not looked through
STAFF_DEFAULTS: Final = IdentificationConfig(
    issuer="",
    client_id="",
    provider_name="",
    keys_dir=DEFAULT_STAFF_KEYS_DIR,
    scopes=("openid", "profile"),
    claims=ClaimMapping(birthdate=(), identity_code=()),
    require_identity_code=False,
)
"""Where staff sign-in differs from the defaults of ``[identification]``: no personal
identity code is asked for or needed, and the keys live in a directory of their own."""


@dataclass(frozen=True)
class StaffSigninConfig:
    """The staff sign-in provider and how a signed-in person's lines are decided.

    A person's lines are the union of ``line_groups[value]`` for each value of the claim
    ``lines_claim`` (a string or a list of strings) and ``staff[subject]``.
    """

    oidc: IdentificationConfig
    lines_claim: str = ""
    line_groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    staff: Mapping[str, tuple[str, ...]] = field(default_factory=dict, repr=False)
    session_hours: int | None = None

    @property
    def provider_name(self) -> str:
        return self.oidc.provider_name

    def session_ttl(self, default: timedelta) -> timedelta:
        """How long a session begun here lasts: ``session_hours``, else ``default``."""
        return default if self.session_hours is None else timedelta(hours=self.session_hours)

    def extra_claims(self) -> tuple[str, ...]:
        """The claims to ask the provider for besides the name."""
        return (self.lines_claim,) if self.lines_claim else ()

    def mapped_lines(self) -> set[str]:
        """Every line id the mappings name (checked against the configured lines)."""
        named = {line for lines in self.line_groups.values() for line in lines}
        named.update(line for lines in self.staff.values() for line in lines)
        return named

    def lines_for(self, subject: str, claims: Mapping[str, Any]) -> tuple[str, ...]:
        """The lines of the person ``subject`` whose verified claims are ``claims``."""
        lines: dict[str, None] = {}
        if self.lines_claim:
            for value in _values(claims.get(self.lines_claim)):
                lines.update(dict.fromkeys(self.line_groups.get(value, ())))
        lines.update(dict.fromkeys(self.staff.get(subject, ())))
        return tuple(lines)


def parse_staff_signin(value: object) -> StaffSigninConfig | None:
    """The ``[staff_signin]`` table, or None when it is absent (link sign-in only)."""
    oidc = parse_identification(value, section=SECTION, defaults=STAFF_DEFAULTS, ignore=OWN_KEYS)
    if oidc is None:
        return None
    assert isinstance(value, Mapping)
    lines_claim = value.get("lines_claim", "")
    if not isinstance(lines_claim, str):
        raise ConfigError(f"{SECTION}.lines_claim must be a claim name")
    line_groups = _mapping(value.get("line_groups", {}), "line_groups", name_keys=True)
    staff = _mapping(value.get("staff", {}), "staff", name_keys=False)
    if line_groups and not lines_claim.strip():
        raise ConfigError(f'{SECTION}.line_groups needs {SECTION}.lines_claim (e.g. "groups")')
    if not line_groups and not staff:
        raise ConfigError(
            f"{SECTION} gives nobody a line: set lines_claim and [{SECTION}.line_groups],"
            f" or [{SECTION}.staff]"
        )
    hours = value.get("session_hours")
    if hours is not None and (
        isinstance(hours, bool) or not isinstance(hours, int) or not 1 <= hours <= 24
    ):
        raise ConfigError(f"{SECTION}.session_hours must be an integer between 1 and 24")
    return StaffSigninConfig(
        oidc=oidc,
        lines_claim=lines_claim.strip(),
        line_groups=line_groups,
        staff=staff,
        session_hours=hours,
    )


def _mapping(value: object, key: str, *, name_keys: bool) -> dict[str, tuple[str, ...]]:
    """A table of claim values (or subjects) to lists of line ids.

    Errors name a claim value but never a subject: subjects identify people.
    """
    if not isinstance(value, Mapping):
        raise ConfigError(f"[{SECTION}.{key}] must be a table")
    mapping: dict[str, tuple[str, ...]] = {}
    for item, lines in value.items():
        where = f"{SECTION}.{key}.{item}" if name_keys else f"an entry of [{SECTION}.{key}]"
        if not isinstance(item, str) or not item:
            raise ConfigError(f"[{SECTION}.{key}] has an empty key")
        if not isinstance(lines, list) or not all(
            isinstance(line, str) and line.strip() for line in lines
        ):
            raise ConfigError(f"{where} must be a list of line ids")
        mapping[item] = tuple(dict.fromkeys(line.strip() for line in lines))
    return mapping


def _values(claim: object) -> list[str]:
    if isinstance(claim, str):
        return [claim]
    if isinstance(claim, list) and len(claim) <= MAX_CLAIM_VALUES:
        return [item for item in claim if isinstance(item, str)]
    return []
