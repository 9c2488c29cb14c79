"""Staff tokens: fixed algorithm, audience, issuer, lifetimes against an injected clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from signaling.tokens import ExpiredTokenError, TokenError, TokenService, WrongIssuerError

KEY = b"k" * 64
NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


def service() -> TokenService:
    return TokenService(KEY, issuer="https://tuki.example", signin_ttl=timedelta(minutes=10))


def test_round_trip_and_kinds_are_not_interchangeable() -> None:
    tokens = service()
    signin = tokens.issue_signin("Maija", ("demo",), NOW)
    claims = tokens.verify_signin(signin, NOW + timedelta(minutes=9))
    assert (claims.name, claims.lines) == ("Maija", ("demo",))
    with pytest.raises(TokenError):
        tokens.verify_session(signin, NOW)
    session = tokens.issue_session("Maija", ("demo",), NOW)
    with pytest.raises(TokenError):
        tokens.verify_signin(session, NOW)
    assert tokens.verify_session(session, NOW + timedelta(hours=7)).name == "Maija"


def test_expiry_uses_the_given_clock() -> None:
    tokens = service()
    signin = tokens.issue_signin("Maija", ("demo",), NOW)
    with pytest.raises(ExpiredTokenError):
        tokens.verify_signin(signin, NOW + timedelta(minutes=11))
    with pytest.raises(TokenError) as not_yet:
        tokens.verify_signin(signin, NOW - timedelta(minutes=1))  # not valid yet
    assert not isinstance(not_yet.value, ExpiredTokenError)


def test_other_algorithms_and_issuers_are_refused() -> None:
    tokens = service()
    claims = {
        "iss": "https://tuki.example",
        "aud": "tukilinja:staff-signin",
        "sub": "staff",
        "name": "X",
        "lines": [],
        "iat": int(NOW.timestamp()),
        "nbf": int(NOW.timestamp()),
        "exp": int(NOW.timestamp()) + 60,
        "jti": "j",
    }
    for token in (
        jwt.encode(claims, KEY, algorithm="HS512"),
        jwt.encode(claims, "", algorithm="none"),
        jwt.encode({**claims, "iss": "https://other.example"}, KEY, algorithm="HS256"),
        jwt.encode({k: v for k, v in claims.items() if k != "jti"}, KEY, algorithm="HS256"),
        jwt.encode({**claims, "lines": "demo"}, KEY, algorithm="HS256"),
    ):
        with pytest.raises(TokenError):
            tokens.verify_signin(token, NOW)
    assert tokens.verify_signin(jwt.encode(claims, KEY, algorithm="HS256"), NOW).name == "X"


def test_short_keys_are_refused() -> None:
    with pytest.raises(ValueError):
        TokenService(b"short", issuer="x")


def test_a_genuine_token_for_another_base_url_names_both() -> None:
    other = TokenService(KEY, issuer="http://127.0.0.1:8080")
    signin = other.issue_signin("Maija", ("demo",), NOW)
    with pytest.raises(WrongIssuerError) as refused:
        service().verify_signin(signin, NOW)
    assert (refused.value.issuer, refused.value.expected) == (
        "http://127.0.0.1:8080",
        "https://tuki.example",
    )
    assert signin not in str(refused.value)
    # A session cookie for another base URL is refused the same way (a TokenError).
    with pytest.raises(WrongIssuerError):
        service().verify_session(other.issue_session("Maija", ("demo",), NOW), NOW)


def test_only_a_token_right_in_every_other_way_is_called_another_servers() -> None:
    other = TokenService(KEY, issuer="http://127.0.0.1:8080")
    forged = TokenService(b"f" * 64, issuer="http://127.0.0.1:8080")
    for token in (
        other.issue_session("Maija", ("demo",), NOW),  # another kind
        forged.issue_signin("Maija", ("demo",), NOW),  # another key
    ):
        with pytest.raises(TokenError) as refused:
            service().verify_signin(token, NOW)
        assert not isinstance(refused.value, WrongIssuerError)
    claims = jwt.decode(
        other.issue_signin("M", (), NOW),
        KEY,
        algorithms=["HS256"],
        audience="tukilinja:staff-signin",
        options={"verify_exp": False},
    )
    for issuer in ("", "x" * 600):
        token = jwt.encode({**claims, "iss": issuer}, KEY, algorithm="HS256")
        with pytest.raises(TokenError) as refused:
            service().verify_signin(token, NOW)
        assert not isinstance(refused.value, WrongIssuerError)
