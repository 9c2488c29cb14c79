"""Gateway configuration: a TOML file, then ``TUKILINJA_*`` environment variables on top.

Every setting is documented in docs/configuration.md.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from gateway.oidc.config import CLIENT_SECRET_ENV, IdentificationConfig, parse_identification
from gateway.oidc.staff_config import (
    STAFF_CLIENT_SECRET_ENV,
    StaffSigninConfig,
    parse_staff_signin,
)
from media.ice import IcePolicy, IceServer
from rooms.errors import ConfigError
from rooms.hours import OpeningHours
from rooms.lines import ServiceLine

ENV_PREFIX = "TUKILINJA_"
DEFAULT_KEY_FILE = "~/.local/state/tukilinja/signing.key"


@dataclass(frozen=True)
class Config:
    """Everything the gateway needs to start."""

    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = ""
    allowed_origins: tuple[str, ...] = ()
    trusted_proxies: tuple[str, ...] = ()
    sockets_per_client: int = 20
    queue_places_per_client: int = 3
    offers_per_minute_per_client: float = 30.0
    secret_key: str = ""
    secret_key_file: str = DEFAULT_KEY_FILE
    lines: Mapping[str, ServiceLine] = field(default_factory=dict)
    demo_line: bool = True
    demo_identification: bool = False
    ice: IcePolicy = field(default_factory=IcePolicy)
    forwarding: str = "packet"
    max_message_bytes: int = 64 * 1024
    messages_per_second: float = 20.0
    message_burst: int = 40
    heartbeat_seconds: float = 20.0
    signin_token_minutes: int = 10
    session_hours: int = 8
    drain_seconds: float = 30.0
    header_timeout_seconds: float = 10.0
    keepalive_seconds: float = 15.0
    body_timeout_seconds: float = 10.0
    grace_seconds: float = 60.0
    invite_minutes: int = 30
    media_timeout_seconds: float = 20.0
    wrapup_seconds: int = 30
    log_level: str = "INFO"
    event_loop: str = "uvloop"
    identification: IdentificationConfig | None = None
    staff_signin: StaffSigninConfig | None = None

    @property
    def base_url(self) -> str:
        """The URL residents use; defaults to the listening address."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def origins(self) -> frozenset[str]:
        """Origins allowed to open the signalling socket."""
        base = urlsplit(self.base_url)
        origins = {f"{base.scheme}://{base.netloc}"}
        if not self.public_url and self.host in ("127.0.0.1", "localhost"):
            origins.add(f"http://localhost:{self.port}")
            origins.add(f"http://127.0.0.1:{self.port}")
        origins.update(origin.rstrip("/") for origin in self.allowed_origins)
        return frozenset(origins)

    @property
    def secure_cookies(self) -> bool:
        return self.base_url.startswith("https://")

    @property
    def signin_ttl(self) -> timedelta:
        return timedelta(minutes=self.signin_token_minutes)

    @property
    def session_ttl(self) -> timedelta:
        return timedelta(hours=self.session_hours)

    def all_lines(self) -> dict[str, ServiceLine]:
        """Configured lines plus the always-open demo line when enabled."""
        lines = dict(self.lines)
        if self.demo_line and "demo" not in lines:
            lines = {"demo": demo_line(), **lines}
        return lines

    def signing_key(self) -> bytes:
        """The token signing key: configured, or kept in a private file (made on first use)."""
        if self.secret_key:
            key = self.secret_key.encode()
            if len(key) < 32:
                raise ConfigError("secret_key must be at least 32 characters")
            return key
        path = Path(self.secret_key_file).expanduser()
        if not path.exists():
            _create_key_file(path)
        key = path.read_text().strip().encode()
        if len(key) < 32:
            raise ConfigError(f"the key in {path} is shorter than 32 characters")
        return key


def _create_key_file(path: Path) -> None:
    """Write a new random key to `path` unless another process just did (atomic link)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    draft = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):  # another process made it: use that
            os.link(draft, path)
    finally:
        draft.unlink(missing_ok=True)


def demo_line() -> ServiceLine:
    """A line that is always open, for trying the gateway out."""
    return ServiceLine(
        id="demo",
        names={"fi": "Kokeilulinja", "en": "Demo line", "sv": "Demolinje"},
        descriptions={
            "fi": "Aina auki. Tällä linjalla voit kokeilla puhelua.",
            "en": "Always open. Use this line to try a call.",
            "sv": "Alltid öppen. Här kan du prova ett samtal.",
        },
        hours=OpeningHours.always(),
        max_queue=20,
        default_handle_seconds=300,
    )


def load_config(path: str | Path | None, env: Mapping[str, str] | None = None) -> Config:
    """Read the TOML file (if any), then apply environment variables."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            with open(path, "rb") as handle:
                data = tomllib.load(handle)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read {path}: {exc}") from exc
    config = check(apply_env(from_mapping(data), os.environ if env is None else env))
    if config.identification is not None:
        config.identification.check_secret()
    if config.staff_signin is not None:
        config.staff_signin.oidc.check_secret("staff_signin", STAFF_CLIENT_SECRET_ENV)
    return config


LOOPBACK_HOSTS: Final = ("127.0.0.1", "::1", "localhost")


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address (127.0.0.0/8, ::1)."""
    host = host.strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check(config: Config) -> Config:
    """Checks across settings, on the final configuration (after ``serve --host`` too).

    Demo identification hands out made-up identities to anyone who asks: it is refused
    unless the gateway listens on loopback and (when set) ``public_url`` is a loopback one,
    so that no reverse proxy can put it in front of real residents.
    """
    if config.demo_identification:
        if not is_loopback(config.host):
            raise ConfigError(
                "demo identification ([identification] demo, TUKILINJA_DEMO_IDENTIFICATION)"
                " is only for trying out: it needs the gateway to listen on loopback"
                f" ({', '.join(LOOPBACK_HOSTS)}), not on {config.host!r}"
            )
        public_host = urlsplit(config.public_url).hostname if config.public_url else None
        if public_host is not None and not is_loopback(public_host):
            raise ConfigError(
                "demo identification ([identification] demo, TUKILINJA_DEMO_IDENTIFICATION)"
                " is only for trying out: public_url must be a loopback address too"
            )
    if config.staff_signin is not None:
        _check_staff_signin(config, config.staff_signin)
    return config


def _check_staff_signin(config: Config, staff: StaffSigninConfig) -> None:
    """Mapped lines must exist; the two relying parties keep their keys apart."""
    unknown = sorted(staff.mapped_lines() - set(config.all_lines()))
    if unknown:
        raise ConfigError(f"staff_signin maps people to unknown lines: {', '.join(unknown)}")
    if config.identification is not None:
        own = Path(staff.oidc.keys_dir).expanduser()
        if own == Path(config.identification.keys_dir).expanduser():
            raise ConfigError(
                "staff_signin.keys_dir must differ from identification.keys_dir:"
                " each client has keys of its own"
            )


def from_mapping(data: Mapping[str, Any]) -> Config:
    """Build a :class:`Config` from parsed TOML."""
    server = _table(data, "server")
    security = _table(data, "security")
    signalling = _table(data, "signalling")
    ice = _table(data, "ice")
    media = _table(data, "media")
    calls = _table(data, "calls")
    identification = _table(data, "identification")
    limits = _table(data, "limits")
    holidays = tuple(_parse_date(day, "holidays") for day in data.get("holidays", []))
    lines_table = _table(data, "lines")
    d = Config()  # the defaults
    lines = {
        line_id: ServiceLine.from_config(line_id, _as_table(cfg, f"lines.{line_id}"), holidays)
        for line_id, cfg in lines_table.items()
    }
    config = Config(
        host=str(server.get("host", d.host)),
        port=_int(server.get("port", d.port), "server.port", 0, 65535),
        public_url=str(server.get("public_url", "")),
        allowed_origins=tuple(str(o) for o in server.get("allowed_origins", [])),
        trusted_proxies=_networks(server.get("trusted_proxies", []), "server.trusted_proxies"),
        sockets_per_client=_int(
            limits.get("sockets_per_client", d.sockets_per_client),
            "limits.sockets_per_client",
            1,
        ),
        queue_places_per_client=_int(
            limits.get("queue_places_per_client", d.queue_places_per_client),
            "limits.queue_places_per_client",
            1,
        ),
        offers_per_minute_per_client=_float(
            limits.get("offers_per_minute_per_client", d.offers_per_minute_per_client),
            "limits.offers_per_minute_per_client",
            1.0,
        ),
        demo_line=_bool(server.get("demo_line", not lines), "server.demo_line"),
        demo_identification=_bool(
            identification.get("demo", d.demo_identification), "identification.demo"
        ),
        drain_seconds=_float(
            server.get("drain_seconds", d.drain_seconds), "server.drain_seconds", 0.0
        ),
        header_timeout_seconds=_float(
            server.get("header_timeout_seconds", d.header_timeout_seconds),
            "server.header_timeout_seconds",
            0.1,
        ),
        keepalive_seconds=_float(
            server.get("keepalive_seconds", d.keepalive_seconds), "server.keepalive_seconds", 0.1
        ),
        body_timeout_seconds=_float(
            server.get("body_timeout_seconds", d.body_timeout_seconds),
            "server.body_timeout_seconds",
            0.1,
        ),
        log_level=_log_level(server.get("log_level", d.log_level)),
        event_loop=_event_loop(server.get("event_loop", d.event_loop)),
        secret_key=str(security.get("secret_key", "")),
        secret_key_file=str(security.get("secret_key_file", d.secret_key_file)),
        signin_token_minutes=_int(
            security.get("signin_token_minutes", d.signin_token_minutes),
            "security.signin_token_minutes",
            1,
            60,
        ),
        session_hours=_int(
            security.get("session_hours", d.session_hours), "security.session_hours", 1, 24
        ),
        max_message_bytes=_int(
            signalling.get("max_message_bytes", d.max_message_bytes),
            "signalling.max_message_bytes",
            1024,
            1024 * 1024,
        ),
        messages_per_second=_float(
            signalling.get("messages_per_second", d.messages_per_second),
            "signalling.messages_per_second",
            0.1,
        ),
        message_burst=_int(
            signalling.get("message_burst", d.message_burst), "signalling.message_burst", 1
        ),
        heartbeat_seconds=_float(
            signalling.get("heartbeat_seconds", d.heartbeat_seconds),
            "signalling.heartbeat_seconds",
            0.1,
        ),
        grace_seconds=_float(
            calls.get("grace_seconds", d.grace_seconds), "calls.grace_seconds", 0.1
        ),
        invite_minutes=_int(
            calls.get("invite_minutes", d.invite_minutes), "calls.invite_minutes", 1, 30
        ),
        wrapup_seconds=_int(
            calls.get("wrapup_seconds", d.wrapup_seconds), "calls.wrapup_seconds", 0, 600
        ),
        media_timeout_seconds=_float(
            calls.get("media_timeout_seconds", d.media_timeout_seconds),
            "calls.media_timeout_seconds",
            1.0,
        ),
        lines=lines,
        forwarding=_forwarding(media.get("forwarding", d.forwarding)),
        ice=IcePolicy(
            servers=tuple(_ice_server(s) for s in ice.get("servers", [])),
            host_addresses=tuple(str(a) for a in ice.get("host_addresses", [])),
            remote_networks=tuple(str(n) for n in ice.get("remote_networks", [])),
        ),
        identification=parse_identification(data.get("identification")),
        staff_signin=parse_staff_signin(data.get("staff_signin")),
    )
    _check_url(config.public_url)
    return config


def apply_env(config: Config, env: Mapping[str, str]) -> Config:
    """Override settings from ``TUKILINJA_*`` variables."""

    def get(name: str) -> str | None:
        value = env.get(ENV_PREFIX + name)
        return value if value not in (None, "") else None

    changes: dict[str, Any] = {}
    if (value := get("HOST")) is not None:
        changes["host"] = value
    if (value := get("PORT")) is not None:
        changes["port"] = _int(value, "TUKILINJA_PORT", 0, 65535)
    if (value := get("PUBLIC_URL")) is not None:
        _check_url(value)
        changes["public_url"] = value
    if (value := get("ALLOWED_ORIGINS")) is not None:
        changes["allowed_origins"] = _csv(value)
    if (value := get("TRUSTED_PROXIES")) is not None:
        changes["trusted_proxies"] = _networks(list(_csv(value)), "TUKILINJA_TRUSTED_PROXIES")
    if (value := get("SECRET_KEY")) is not None:
        changes["secret_key"] = value
    if (value := get("SECRET_KEY_FILE")) is not None:
        changes["secret_key_file"] = value
    if (value := get("DEMO_LINE")) is not None:
        changes["demo_line"] = value.lower() in ("1", "true", "yes", "on")
    if (value := get("DEMO_IDENTIFICATION")) is not None:
        changes["demo_identification"] = _env_bool(value, "TUKILINJA_DEMO_IDENTIFICATION")
    if (value := get("LOG_LEVEL")) is not None:
        changes["log_level"] = _log_level(value)
    if (value := get("EVENT_LOOP")) is not None:
        changes["event_loop"] = _event_loop(value)
    if (value := get("GRACE_SECONDS")) is not None:
        changes["grace_seconds"] = _float(value, "TUKILINJA_GRACE_SECONDS", 0.1)
    if (value := get("MEDIA_FORWARDING")) is not None:
        changes["forwarding"] = _forwarding(value)
    ice = config.ice
    if (value := get("ICE_SERVERS")) is not None:
        try:
            servers = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"TUKILINJA_ICE_SERVERS is not JSON: {exc}") from exc
        if not isinstance(servers, list):
            raise ConfigError("TUKILINJA_ICE_SERVERS must be a JSON list")
        ice = replace(ice, servers=tuple(_ice_server(s) for s in servers))
    if (value := get("ICE_HOST_ADDRESSES")) is not None:
        ice = replace(ice, host_addresses=_csv(value))
    if (value := get("ICE_REMOTE_NETWORKS")) is not None:
        ice = replace(ice, remote_networks=_csv(value))
    changes["ice"] = ice
    secret = env.get(CLIENT_SECRET_ENV)
    if config.identification is not None and secret:
        changes["identification"] = replace(config.identification, client_secret=secret)
    staff_secret = env.get(STAFF_CLIENT_SECRET_ENV)
    if config.staff_signin is not None and staff_secret:
        oidc = replace(config.staff_signin.oidc, client_secret=staff_secret)
        changes["staff_signin"] = replace(config.staff_signin, oidc=oidc)
    return replace(config, **changes)


def _networks(value: object, key: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ConfigError(f"{key} must be a list of networks (CIDR)")
    for item in value:
        try:
            ipaddress.ip_network(str(item), strict=False)
        except ValueError as exc:
            raise ConfigError(f"{key}: {item!r} is not a network: {exc}") from exc
    return tuple(str(item) for item in value)


def _csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _table(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    return _as_table(data.get(key, {}), key)


def _as_table(value: object, key: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"[{key}] must be a table")
    return value


def _int(value: object, key: str, low: int | None = None, high: int | None = None) -> int:
    try:
        number = int(str(value))
    except ValueError:
        raise ConfigError(f"{key} must be an integer") from None
    if (low is not None and number < low) or (high is not None and number > high):
        raise ConfigError(f"{key} must be between {low} and {high}")
    return number


def _parse_date(value: object, key: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(f"{key}: {value!r} is not a date (YYYY-MM-DD)") from None


def _ice_server(value: object) -> IceServer:
    if not isinstance(value, Mapping):
        raise ConfigError("each ICE server must be a table with `urls`")
    urls = value.get("urls")
    if isinstance(urls, str):
        urls = [urls]
    if not isinstance(urls, list) or not urls:
        raise ConfigError("an ICE server needs `urls`")
    for url in urls:
        if not str(url).startswith(("stun:", "turn:", "turns:")):
            raise ConfigError(f"ICE server URL {url!r} must start with stun:, turn: or turns:")
    username = value.get("username")
    credential = value.get("credential")
    return IceServer(
        urls=tuple(str(u) for u in urls),
        username=None if username is None else str(username),
        credential=None if credential is None else str(credential),
    )


def _float(value: object, key: str, low: float) -> float:
    try:
        number = float(str(value))
    except ValueError:
        raise ConfigError(f"{key} must be a number") from None
    if not number >= low:  # also refuses NaN
        raise ConfigError(f"{key} must be at least {low}")
    return number


def _bool(value: object, key: str) -> bool:
    if isinstance(value, bool):
        return value
    raise ConfigError(f"{key} must be true or false")


def _env_bool(value: str, key: str) -> bool:
    word = value.strip().lower()
    if word in ("1", "true", "yes", "on"):
        return True
    if word in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{key} must be true or false")


def _log_level(value: object) -> str:
    level = str(value).upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError("log_level must be DEBUG, INFO, WARNING or ERROR")
    return level


def _event_loop(value: object) -> str:
    if value not in ("uvloop", "asyncio"):
        raise ConfigError('server.event_loop must be "uvloop" or "asyncio"')
    return str(value)


def _forwarding(value: object) -> str:
    if value not in ("packet", "relay"):
        raise ConfigError('media.forwarding must be "packet" or "relay" (a benchmark baseline)')
    return str(value)


def _check_url(url: str) -> None:
    if url and urlsplit(url).scheme not in ("http", "https"):
        raise ConfigError("public_url must start with http:// or https://")
