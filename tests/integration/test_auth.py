"""Professional sign-in: one-time links, cookie flags, forged and expired tokens."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import aiohttp
import jwt

from gateway.cli import signin_link
from tests.support.client import SignalClient
from tests.support.gateway import TEST_KEY, RunningGateway


def token_of(link: str) -> str:
    return link.split("#token=", 1)[1]


async def post_signin(
    gateway: RunningGateway, http: aiohttp.ClientSession, token: object
) -> aiohttp.ClientResponse:
    return await http.post(
        gateway.base_url + "/api/staff/signin",
        json={"token": token},
        headers={"Origin": gateway.base_url},
    )


async def test_link_works_once_and_sets_strict_httponly_cookie(gateway: RunningGateway) -> None:
    link = signin_link(gateway.config, "Maija", ("demo",))
    assert link.startswith(gateway.base_url + "/pro/signin#token=")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        response = await post_signin(gateway, http, token_of(link))
        assert response.status == 200
        assert await response.json() == {"name": "Maija", "lines": ["demo"]}
        cookie = response.headers["Set-Cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=Strict" in cookie
        assert "Path=/" in cookie
        me = await http.get(gateway.base_url + "/api/staff/me")
        assert (await me.json())["name"] == "Maija"
        client = await SignalClient.connect(gateway.base_url, http=http)
        assert (await client.request("hello", protocol=1))["staff"]["lines"] == ["demo"]
        await client.close()
        again = await post_signin(gateway, http, token_of(link))
        assert again.status == 401
        assert (await again.json())["error"]["code"] == "token_used"


async def test_forged_expired_and_wrong_audience_tokens(gateway: RunningGateway) -> None:
    now = datetime.now(UTC)
    base = {
        "iss": gateway.base_url,
        "aud": "tukilinja:staff-signin",
        "sub": "staff",
        "name": "Mallory",
        "lines": ["demo"],
        "iat": int(now.timestamp()),
        "nbf": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=5)).timestamp()),
        "jti": "abc",
    }
    forged = jwt.encode(base, "another-key-" + "y" * 40, algorithm="HS256")
    expired = jwt.encode(
        {**base, "exp": int((now - timedelta(minutes=1)).timestamp()), "jti": "e"},
        TEST_KEY,
        algorithm="HS256",
    )
    session_as_signin = jwt.encode(
        {**base, "aud": "tukilinja:staff-session", "jti": "s"}, TEST_KEY, algorithm="HS256"
    )
    other_issuer = jwt.encode(
        {**base, "iss": "https://elsewhere.example", "jti": "i"}, TEST_KEY, algorithm="HS256"
    )
    unsigned = jwt.encode({**base, "jti": "n"}, "", algorithm="none")
    other_kind_and_issuer = jwt.encode(
        {**base, "aud": "tukilinja:staff-session", "iss": "https://elsewhere.example"},
        TEST_KEY,
        algorithm="HS256",
    )
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        for token in (forged, session_as_signin, other_kind_and_issuer, unsigned, "garbage"):
            response = await post_signin(gateway, http, token)
            assert response.status == 401, token
            assert (await response.json())["error"]["code"] == "invalid_token"
        # Genuine links that cannot be used say why: expired, or made for another address.
        response = await post_signin(gateway, http, expired)
        assert response.status == 401
        assert (await response.json())["error"]["code"] == "token_expired"
        response = await post_signin(gateway, http, other_issuer)
        assert response.status == 401
        error = (await response.json())["error"]
        assert error["code"] == "token_other_server"
        assert (error["made_for"], error["server"]) == (
            "https://elsewhere.example",
            gateway.base_url,
        )
        for body in ({"token": 5}, {"nothing": 1}):
            response = await http.post(
                gateway.base_url + "/api/staff/signin",
                json=body,
                headers={"Origin": gateway.base_url},
            )
            assert response.status == 400
        response = await http.post(
            gateway.base_url + "/api/staff/signin",
            data=b"{not json",
            headers={"Origin": gateway.base_url, "Content-Type": "application/json"},
        )
        assert response.status == 400
        me = await http.get(gateway.base_url + "/api/staff/me")
        assert me.status == 401


async def test_a_link_for_another_port_is_refused_saying_so(gateway: RunningGateway) -> None:
    # The same key and lines, the default port: what staff-token printed before it read
    # the server's port.
    other = replace(gateway.config, port=gateway.config.port + 1)
    link = signin_link(other, "Maija", ("demo",))
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        response = await post_signin(gateway, http, token_of(link))
        assert response.status == 401
        error = (await response.json())["error"]
        assert error["code"] == "token_other_server"
        assert error["message"] == (
            f"This sign-in link was made for {other.base_url}, not this server"
            f" ({gateway.base_url}). Make a new one for this server:"
            f" staff-token --base-url {gateway.base_url}"
        )
        assert token_of(link) not in await response.text()
        assert (await http.get(gateway.base_url + "/api/staff/me")).status == 401
        right = signin_link(gateway.config, "Maija", ("demo",))
        assert (await post_signin(gateway, http, token_of(right))).status == 200


async def test_forged_session_cookie_is_anonymous(gateway: RunningGateway) -> None:
    now = datetime.now(UTC)
    forged = jwt.encode(
        {
            "iss": gateway.base_url,
            "aud": "tukilinja:staff-session",
            "sub": "staff",
            "name": "Mallory",
            "lines": ["demo"],
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": int((now + timedelta(hours=1)).timestamp()),
            "jti": "x",
        },
        "not-the-key-" + "z" * 40,
        algorithm="HS256",
    )
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        jar.update_cookies({"tukilinja_session": forged})
        client = await SignalClient.connect(gateway.base_url, http=http)
        hello = await client.request("hello", protocol=1)
        assert hello["role"] == "resident"
        reply = await client.call("staff.answer_next", line="demo")
        assert reply["error"]["code"] == "unauthorized"
        await client.close()


async def test_cross_origin_post_refused(gateway: RunningGateway) -> None:
    link = signin_link(gateway.config, "Maija", ("demo",))
    async with aiohttp.ClientSession() as http:
        response = await http.post(
            gateway.base_url + "/api/staff/signin",
            json={"token": token_of(link)},
            headers={"Origin": "https://evil.example"},
        )
        assert response.status == 403


async def test_pages_and_api(gateway: RunningGateway) -> None:
    async with aiohttp.ClientSession() as http:
        for path in ("/", "/lines/demo", "/pro", "/pro/signin"):
            response = await http.get(gateway.base_url + path)
            assert response.status == 200, path
            assert "default-src 'self'" in response.headers["Content-Security-Policy"]
            assert response.headers["Referrer-Policy"] == "no-referrer"
        lines = await (await http.get(gateway.base_url + "/api/lines?lang=en")).json()
        assert [line["id"] for line in lines["lines"]] == ["demo"]
        assert lines["lines"][0]["name"] == "Demo line"
        missing = await http.get(gateway.base_url + "/api/lines/nope")
        assert missing.status == 404
        assert (await missing.json())["error"]["code"] == "unknown_line"
        assert (await http.get(gateway.base_url + "/healthz")).status == 200
        assert (await http.get(gateway.base_url + "/readyz")).status == 200
