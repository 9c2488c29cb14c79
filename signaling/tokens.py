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
INVITE_AUDIENCE: Final = "tukilinja:interpreter-invite"
MAX_INVITE_TTL: Final = timedelta(minutes=30)
REQUIRED_CLAIMS: Final = ["exp", "iat", "nbf", "iss", "aud", "sub", "jti"]
LEEWAY_SECONDS: Final = 5


def revocation_id(token_id: str) -> str:
    """The id under which a signed-out session is kept in the one-time token store (apart
    from the ids of used sign-in links)."""
    return "staff-session-revoked:" + token_id


class TokenError(Exception):
    """The token is malformed, forged, expired or meant for something else."""


class ExpiredTokenError(TokenError):
    """A genuine token (signature, audience and issuer checked) whose lifetime is over."""


class WrongIssuerError(TokenError):
    """A genuine token of the right kind, signed with this key but for another base URL.

    ``issuer`` is the base URL the token was made for (from the signed claims, so it was
    written by whoever holds the key); ``expected`` is the one this service checks.
    """

    def __init__(self, issuer: str, expected: str) -> None:
        super().__init__(f"the token was issued for {issuer}, not {expected}")
        self.issuer = issuer
        self.expected = expected


@dataclass(frozen=True)
class StaffClaims:
    """What a verified staff token says: who, which lines, and until when."""

    name: str
    lines: tuple[str, ...]
    token_id: str
    expires_at: datetime


@dataclass(frozen=True)
class InviteClaims:
    """A verified interpreter invitation: which call, which language, until when."""

    room_id: str
    language: str
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

    @property
    def issuer(self) -> str:
        return self._issuer

    def issue_signin(self, name: str, lines: tuple[str, ...], now: datetime) -> str:
        """A one-time sign-in token for a professional (exchanged for a session)."""
        return self._issue(SIGNIN_AUDIENCE, name, lines, now, self._signin_ttl)

    def issue_session(
        self, name: str, lines: tuple[str, ...], now: datetime, ttl: timedelta | None = None
    ) -> str:
        """A session token, kept in an HttpOnly cookie; ``ttl``: other than the default."""
        return self._issue(SESSION_AUDIENCE, name, lines, now, ttl or self._session_ttl)

    def verify_signin(self, token: str, now: datetime) -> StaffClaims:
        return self._verify(token, SIGNIN_AUDIENCE, now)

    def verify_session(self, token: str, now: datetime) -> StaffClaims:
        return self._verify(token, SESSION_AUDIENCE, now)

    def issue_invite(
        self, room_id: str, language: str, now: datetime, ttl: timedelta = MAX_INVITE_TTL
    ) -> tuple[str, datetime]:
        """A single-use link token for an interpreter, valid for one call (at most 30 min)."""
        ttl = min(ttl, MAX_INVITE_TTL)
        expires = now + ttl
        claims = {
            "iss": self._issuer,
            "aud": INVITE_AUDIENCE,
            "sub": "interpreter",
            "room": room_id,
            "lang": language,
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": int(expires.timestamp()),
            "jti": secrets.token_urlsafe(16),
        }
        return jwt.encode(claims, self._key, algorithm=ALGORITHM), expires

    def verify_invite(self, token: str, now: datetime) -> InviteClaims:
        """Check an interpreter invitation (signature, audience, issuer, times)."""
        claims = self._decode(token, INVITE_AUDIENCE, now)
        room = claims.get("room")
        lang = claims.get("lang")
        if not isinstance(room, str) or not isinstance(lang, str) or not room or not lang:
            raise TokenError("the invitation lacks a call or a language")
        if claims["exp"] - claims["iat"] > MAX_INVITE_TTL.total_seconds():
            raise TokenError("the invitation is valid for too long")
        return InviteClaims(
            room_id=room,
            language=lang,
            token_id=str(claims["jti"]),
            expires_at=datetime.fromtimestamp(claims["exp"], tz=now.tzinfo),
        )

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
        claims = self._decode(token, audience, now)
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

    def _decode(self, token: str, audience: str, now: datetime) -> dict[str, Any]:
        if not isinstance(token, str) or not token or len(token) > 4096:
            raise TokenError("missing or oversized token")
        try:
            claims = self._jwt_decode(token, audience, self._issuer)
        except jwt.InvalidIssuerError as exc:
            # The signature is checked before the issuer: this key made it, for another base
            # URL. Say so only for a token that is right in every other respect.
            try:
                other = self._jwt_decode(token, audience, None)
            except jwt.PyJWTError:
                raise TokenError(str(exc)) from exc
            issuer = other["iss"]
            if not isinstance(issuer, str) or not issuer or len(issuer) > 512:
                raise TokenError(str(exc)) from exc
            raise WrongIssuerError(issuer, self._issuer) from exc
        except jwt.PyJWTError as exc:
            raise TokenError(str(exc)) from exc
        # Expiry is checked against the injected clock, not the system clock.
        stamp = now.timestamp()
        if not isinstance(claims["exp"], int):
            raise TokenError("the token's expiry is malformed")
        if claims["exp"] + LEEWAY_SECONDS < stamp:
            raise ExpiredTokenError("the token has expired")
        for claim in ("nbf", "iat"):
            if not isinstance(claims[claim], int) or claims[claim] - LEEWAY_SECONDS > stamp:
                raise TokenError("the token is not valid yet")
        return claims

    def _jwt_decode(self, token: str, audience: str, issuer: str | None) -> dict[str, Any]:
        claims: dict[str, Any] = jwt.decode(
            token,
            self._key,
            algorithms=[ALGORITHM],
            audience=audience,
            issuer=issuer,
            leeway=LEEWAY_SECONDS,
            options={
                "require": REQUIRED_CLAIMS,
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
            },
        )
        return claims
