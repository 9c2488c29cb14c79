"""Staff sign-in and session tokens (PyJWT, HS256 only, audience and issuer checked)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import jwt

ALGORITHM: Final = "HS256"
SIGNIN_AUDIENCE: Final = "tukilinja:staff-signin"
SESSION_AUDIENCE: Final = "tukilinja:staff-session"
REQUIRED_CLAIMS: Final = ["exp", "iat", "nbf", "iss", "aud", "sub", "jti"]
LEEWAY_SECONDS: Final = 5


class TokenError(Exception):
    """The token is malformed, forged, expired or meant for something else."""


@dataclass(frozen=True)
class StaffClaims:
    """What a verified staff token says: who, which lines, and until when."""

    name: str
    lines: tuple[str, ...]
    token_id: str
    expires_at: datetime


class TokenService:
    """Issues and verifies the two staff token kinds with one signing key."""

    def __init__(
        self,
        key: bytes,
        issuer: str,
        signin_ttl: timedelta = timedelta(minutes=10),
        session_ttl: timedelta = timedelta(hours=8),
    ) -> None:
        if len(key) < 32:
            raise ValueError("the signing key must be at least 32 bytes")
        self._key = key
        self._issuer = issuer
        self._signin_ttl = signin_ttl
        self._session_ttl = session_ttl

    @property
    def session_ttl(self) -> timedelta:
        return self._session_ttl

    def issue_signin(self, name: str, lines: tuple[str, ...], now: datetime) -> str:
        """A one-time sign-in token for a professional (exchanged for a session)."""
        return self._issue(SIGNIN_AUDIENCE, name, lines, now, self._signin_ttl)

    def issue_session(self, name: str, lines: tuple[str, ...], now: datetime) -> str:
        """A session token, kept in an HttpOnly cookie."""
        return self._issue(SESSION_AUDIENCE, name, lines, now, self._session_ttl)

    def verify_signin(self, token: str, now: datetime) -> StaffClaims:
        return self._verify(token, SIGNIN_AUDIENCE, now)

    def verify_session(self, token: str, now: datetime) -> StaffClaims:
        return self._verify(token, SESSION_AUDIENCE, now)

    def _issue(
        self, audience: str, name: str, lines: tuple[str, ...], now: datetime, ttl: timedelta
    ) -> str:
        claims = {
            "iss": self._issuer,
            "aud": audience,
            "sub": "staff",
            "name": name,
            "lines": list(lines),
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": int((now + ttl).timestamp()),
            "jti": secrets.token_urlsafe(16),
        }
        return jwt.encode(claims, self._key, algorithm=ALGORITHM)

    def _verify(self, token: str, audience: str, now: datetime) -> StaffClaims:
        if not token or len(token) > 4096:
            raise TokenError("missing or oversized token")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                audience=audience,
                issuer=self._issuer,
                leeway=LEEWAY_SECONDS,
                options={
                    "require": REQUIRED_CLAIMS,
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.PyJWTError as exc:
            raise TokenError(str(exc)) from exc
        # Expiry is checked against the injected clock, not the system clock.
        stamp = now.timestamp()
        if not isinstance(claims["exp"], int) or claims["exp"] + LEEWAY_SECONDS < stamp:
            raise TokenError("the token has expired")
        for claim in ("nbf", "iat"):
            if not isinstance(claims[claim], int) or claims[claim] - LEEWAY_SECONDS > stamp:
                raise TokenError("the token is not valid yet")
        name = claims.get("name")
        lines = claims.get("lines")
        if not isinstance(name, str) or not name.strip() or not isinstance(lines, list):
            raise TokenError("the token lacks a name or lines")
        if not all(isinstance(line, str) for line in lines):
            raise TokenError("the token's lines are malformed")
        return StaffClaims(
            name=name,
            lines=tuple(lines),
            token_id=str(claims["jti"]),
            expires_at=datetime.fromtimestamp(claims["exp"], tz=now.tzinfo),
        )
