"""Resume tokens and interpreter invitations: single use, bound, expiring on the fake clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from rooms.clock import FakeClock
from rooms.participants import ParticipantRole
from rooms.resume import InvalidTokenError, MemoryResumeStore, ResumeGrant, ResumeTokens
from signaling.tokens import INVITE_AUDIENCE, TokenError, TokenService

T0 = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
KEY = b"k" * 40


def _tokens(clock: FakeClock, store: MemoryResumeStore | None = None) -> ResumeTokens:
    return ResumeTokens(store or MemoryResumeStore(), clock, timedelta(hours=1))


async def test_resume_token_is_single_use_and_replaced() -> None:
    clock = FakeClock(T0)
    store = MemoryResumeStore()
    tokens = _tokens(clock, store)
    grant = ResumeGrant("p-1", ParticipantRole.RESIDENT, "demo")
    first = await tokens.issue(grant)
    assert await tokens.redeem(first) == grant
    with pytest.raises(InvalidTokenError):
        await tokens.redeem(first)  # replayed
    second = await tokens.issue(grant)
    third = await tokens.issue(grant)  # a new token revokes the one before
    with pytest.raises(InvalidTokenError):
        await tokens.redeem(second)
    assert await tokens.redeem(third) == grant
    assert len(store) == 0


async def test_resume_token_expires_on_the_clock() -> None:
    clock = FakeClock(T0)
    tokens = _tokens(clock)
    token = await tokens.issue(ResumeGrant("p-1", ParticipantRole.RESIDENT, "demo"))
    clock.advance(3601)
    with pytest.raises(InvalidTokenError):
        await tokens.redeem(token)


async def test_resume_token_is_bound_to_its_session_kind() -> None:
    clock = FakeClock(T0)
    tokens = _tokens(clock)
    staff = ResumeGrant("p-2", ParticipantRole.PROFESSIONAL, "demo", staff_ref="ref-a")
    token = await tokens.issue(staff)
    with pytest.raises(InvalidTokenError):
        await tokens.redeem(token, staff_ref=None)  # a resident socket
    token = await tokens.issue(staff)
    with pytest.raises(InvalidTokenError):
        await tokens.redeem(token, staff_ref="ref-b")  # another professional
    token = await tokens.issue(staff)
    assert await tokens.redeem(token, staff_ref="ref-a") == staff
    resident = await tokens.issue(ResumeGrant("p-3", ParticipantRole.RESIDENT, "demo"))
    with pytest.raises(InvalidTokenError):
        await tokens.redeem(resident, staff_ref="ref-a")
    for junk in ("", "short", "x" * 500):
        with pytest.raises(InvalidTokenError):
            await tokens.redeem(junk)


async def test_revoked_token_is_refused() -> None:
    clock = FakeClock(T0)
    tokens = _tokens(clock)
    token = await tokens.issue(ResumeGrant("p-1", ParticipantRole.RESIDENT, "demo"))
    await tokens.revoke("p-1")
    with pytest.raises(InvalidTokenError):
        await tokens.redeem(token)


def test_invite_is_bound_to_one_call_and_at_most_30_minutes() -> None:
    service = TokenService(KEY, issuer="http://127.0.0.1:8080")
    token, expires = service.issue_invite("c-1", "ar", T0, ttl=timedelta(hours=5))
    assert expires == T0 + timedelta(minutes=30)
    claims = service.verify_invite(token, T0 + timedelta(minutes=29))
    assert (claims.room_id, claims.language) == ("c-1", "ar")
    with pytest.raises(TokenError):
        service.verify_invite(token, T0 + timedelta(minutes=31))
    short, _ = service.issue_invite("c-1", "ar", T0, ttl=timedelta(minutes=5))
    with pytest.raises(TokenError):
        service.verify_invite(short, T0 + timedelta(minutes=6))


def test_invite_refuses_forged_foreign_and_overlong_tokens() -> None:
    service = TokenService(KEY, issuer="http://127.0.0.1:8080")
    other = TokenService(b"o" * 40, issuer="http://127.0.0.1:8080")
    forged, _ = other.issue_invite("c-1", "ar", T0)
    with pytest.raises(TokenError):
        service.verify_invite(forged, T0)
    staff = service.issue_signin("Maija", ("demo",), T0)
    with pytest.raises(TokenError):
        service.verify_invite(staff, T0)  # wrong audience
    claims = {
        "iss": "http://127.0.0.1:8080",
        "aud": INVITE_AUDIENCE,
        "sub": "interpreter",
        "room": "c-1",
        "lang": "ar",
        "iat": int(T0.timestamp()),
        "nbf": int(T0.timestamp()),
        "exp": int((T0 + timedelta(hours=2)).timestamp()),
        "jti": "j",
    }
    overlong = jwt.encode(claims, KEY, algorithm="HS256")
    with pytest.raises(TokenError):
        service.verify_invite(overlong, T0)
    none_alg = jwt.encode(claims, "", algorithm="none")
    with pytest.raises(TokenError):
        service.verify_invite(none_alg, T0)
