"""The gateway's own keys as an OpenID Connect client: a directory of PEM files, rotated.

Each file is an unencrypted PKCS#8 RSA private key (at least 2048 bits) named
``sig-YYYYMMDDTHHMMSSZ.pem`` or ``enc-YYYYMMDDTHHMMSSZ.pem``: what it is for (signing the
request objects and client assertions, or decrypting ID tokens) and the UTC time from which
it is used. ``sig.pem`` / ``enc.pem`` (no time) are used from the beginning.

- Every key in the directory whose time has not come yet is *published* (in the JWKS) but
  not used: the provider learns it before the gateway starts signing with it.
- The *active* key of a use is the one with the latest time that has come.
- A key replaced by a newer active one stays published and usable (for decryption: the
  provider may still encrypt to it from its cached copy of the JWKS) for the grace time,
  then it is ignored. Deleting the file removes it at once.
- When no key of a use has started, a new one (RSA 3072, mode 0600) is written, so a fresh
  installation works without preparation.

The key id (``kid``) is the key's RFC 7638 thumbprint.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc.jwk import RSAKey

from rooms.clock import Clock
from rooms.errors import ConfigError

__all__ = ["ClientKey", "ClientKeyRing", "key_file_name", "write_new_key"]

logger = logging.getLogger(__name__)

USES: Final = ("sig", "enc")
KEY_FILE: Final = re.compile(r"(sig|enc)(?:-(\d{8}T\d{6}Z))?\.pem")
TIME_FORMAT: Final = "%Y%m%dT%H%M%SZ"
FROM_THE_BEGINNING: Final = datetime(1970, 1, 1, tzinfo=UTC)
MIN_BITS: Final = 2048
NEW_KEY_BITS: Final = 3072
RELOAD_SECONDS: Final = 60.0


@dataclass(frozen=True)
class ClientKey:
    """One private key of the gateway, with its public JWK."""

    use: str
    kid: str
    starts: datetime
    private_key: rsa.RSAPrivateKey
    jose_key: RSAKey

    def public_jwk(self, alg: str) -> dict[str, Any]:
        """The public half only, with ``kid``, ``use`` and ``alg``."""
        jwk = {k: v for k, v in self.jose_key.as_dict(private=False).items() if k in ("n", "e")}
        return {"kty": "RSA", "use": self.use, "alg": alg, "kid": self.kid, **jwk}

    def __repr__(self) -> str:
        return f"ClientKey(use={self.use!r}, kid={self.kid!r}, starts={self.starts.isoformat()})"


def key_file_name(use: str, starts: datetime) -> str:
    """``sig-20260501T000000Z.pem`` for a signing key used from 2026-05-01 00:00 UTC."""
    if use not in USES:
        raise ValueError(f"use must be one of {USES}")
    return f"{use}-{starts.astimezone(UTC).strftime(TIME_FORMAT)}.pem"


def write_new_key(directory: Path, use: str, starts: datetime, bits: int = NEW_KEY_BITS) -> Path:
    """Generate an RSA key for ``use`` from ``starts`` into ``directory`` (mode 0600)."""
    directory = directory.expanduser()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / key_file_name(use, starts)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # FileExistsError first
    try:
        private = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


class ClientKeyRing:
    """The key directory, re-read at most every ``reload_seconds`` when keys are asked for."""

    def __init__(
        self,
        directory: str | Path,
        clock: Clock,
        *,
        signing_alg: str,
        encryption_alg: str,
        grace: timedelta,
        reload_seconds: float = RELOAD_SECONDS,
        create_missing: bool = True,
        new_key_bits: int = NEW_KEY_BITS,
    ) -> None:
        self._directory = Path(directory).expanduser()
        self._clock = clock
        self._algs = {"sig": signing_alg, "enc": encryption_alg}
        self._grace = grace
        self._reload = timedelta(seconds=reload_seconds)
        self._create_missing = create_missing
        self._new_key_bits = new_key_bits
        self._keys: dict[str, list[ClientKey]] = {use: [] for use in USES}
        self._listing: tuple[tuple[str, int, int], ...] | None = None
        self._parsed: dict[tuple[str, int, int], ClientKey] = {}
        self._checked_at: datetime | None = None

    @property
    def directory(self) -> Path:
        return self._directory

    def load(self) -> None:
        """Read the directory now (at start-up: errors raise :class:`ConfigError`)."""
        self._read(self._clock.now())

    def refresh(self) -> None:
        """Re-read the directory if it was last read ``reload_seconds`` ago; on an error keep
        the keys already loaded."""
        now = self._clock.now()
        if self._checked_at is not None and now - self._checked_at < self._reload:
            return
        try:
            self._read(now)
        except (ConfigError, OSError) as exc:
            logger.warning("the client key directory cannot be read; keeping the keys: %s", exc)
            self._checked_at = now

    def signing_key(self) -> ClientKey:
        """The active signing key."""
        self.refresh()
        return self._active("sig", self._clock.now())

    def decryption_keys(self, kid: object) -> list[ClientKey]:
        """Usable encryption keys: the one with ``kid``, or all of them when there is none."""
        self.refresh()
        usable = self._usable("enc", self._clock.now())
        if kid is None:
            return usable
        return [key for key in usable if key.kid == kid]

    def public_jwks(self) -> dict[str, list[dict[str, Any]]]:
        """The JWKS the gateway publishes: public keys only, active first of each use."""
        self.refresh()
        now = self._clock.now()
        return {
            "keys": [
                key.public_jwk(self._algs[use]) for use in USES for key in self._usable(use, now)
            ]
        }

    # -- internals ---------------------------------------------------------------------------

    def _active(self, use: str, now: datetime) -> ClientKey:
        started = [key for key in self._keys[use] if key.starts <= now]
        if not started:
            raise ConfigError(f"no {use} key has started in {self._directory}")
        return started[-1]

    def _usable(self, use: str, now: datetime) -> list[ClientKey]:
        """Active first, then upcoming, then replaced keys still within the grace time."""
        keys = self._keys[use]
        started = [key for key in keys if key.starts <= now]
        upcoming = [key for key in keys if key.starts > now]
        if not started:
            return upcoming
        replaced = [
            key
            for key, successor in itertools.pairwise(started)
            if now < successor.starts + self._grace
        ]
        return [started[-1], *upcoming, *reversed(replaced)]

    def _read(self, now: datetime) -> None:
        self._checked_at = now
        listing = self._list()
        if listing != self._listing:
            self._keys = self._parse(listing)
            self._listing = listing
        if self._create_missing:
            for use in USES:
                if not any(key.starts <= now for key in self._keys[use]):
                    write_new_key(
                        self._directory, use, now.replace(microsecond=0), self._new_key_bits
                    )
                    logger.info("created a new client %s key in the key directory", use)
                    self._listing = None
                    self._read(now)
                    return

    def _list(self) -> tuple[tuple[str, int, int], ...]:
        if not self._directory.exists():
            if not self._create_missing:
                raise ConfigError(f"the key directory {self._directory} does not exist")
            self._directory.mkdir(parents=True, mode=0o700)
        entries = []
        for path in sorted(self._directory.iterdir()):
            if KEY_FILE.fullmatch(path.name) and path.is_file():
                stat = path.stat()
                entries.append((path.name, stat.st_mtime_ns, stat.st_size))
        return tuple(entries)

    def _parse(self, listing: tuple[tuple[str, int, int], ...]) -> dict[str, list[ClientKey]]:
        keys: dict[str, list[ClientKey]] = {use: [] for use in USES}
        parsed = {}
        for entry in listing:
            name = entry[0]
            match = KEY_FILE.fullmatch(name)
            assert match is not None
            use, stamp = match.groups()
            starts = (
                datetime.strptime(stamp, TIME_FORMAT).replace(tzinfo=UTC)
                if stamp
                else FROM_THE_BEGINNING
            )
            # An unchanged file is not parsed again (checking an RSA key takes a while).
            key = self._parsed.get(entry) or self._load_key(self._directory / name, use, starts)
            parsed[entry] = key
            keys[use].append(key)
        for use in USES:
            keys[use].sort(key=lambda key: key.starts)
            times = [key.starts for key in keys[use]]
            if len(set(times)) != len(times):
                raise ConfigError(f"two {use} keys in {self._directory} start at the same time")
        self._parsed = parsed
        return keys

    def _load_key(self, path: Path, use: str, starts: datetime) -> ClientKey:
        try:
            private = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{path.name} is not an unencrypted PEM private key") from exc
        if not isinstance(private, rsa.RSAPrivateKey) or private.key_size < MIN_BITS:
            raise ConfigError(f"{path.name} must be an RSA key of at least {MIN_BITS} bits")
        jose_key = RSAKey.import_key(private, {"use": use})
        kid = jose_key.thumbprint()
        jose_key = RSAKey.import_key(private, {"use": use, "kid": kid})
        return ClientKey(use=use, kid=kid, starts=starts, private_key=private, jose_key=jose_key)
