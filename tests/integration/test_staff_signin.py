"""Staff sign-in through OpenID Connect against the real test provider, and staff sessions
checked again on use: sign-out revokes, expiry ends the session, idle or not."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import pytest
from yarl import URL

from gateway import keys
from gateway.auth import SESSION_COOKIE
from gateway.begin_limits import BURST
from gateway.oidc.identity import VerifiedIdentity
from gateway.ws import SESSION_ENDED_CLOSE_CODE
from rooms.clock import FakeClock
from rooms.identification import MemoryIdentificationFlowStore
from tests.support.client import SignalClient
from tests.support.gateway import RunningGateway, make_config, running_gateway
from tests.support.logs import capture_all_logs, log_text
from tests.support.oidc.broker import (
    LOA3,
    PERSONS,
    STAFF_PROVIDER_NAME,
    OidcProvider,
    browser,
    staff_signin_gateway,
)


async def begin(gateway: RunningGateway, http: aiohttp.ClientSession) -> str:
    """``GET /pro/signin/oidc``: the provider's authorization URL."""
    async with http.get(gateway.base_url + "/pro/signin/oidc", allow_redirects=False) as response:
        assert response.status == 302
        assert response.headers["Cache-Control"] == "no-store"
        return response.headers["Location"]


async def provider_callback(
    provider: OidcProvider, gateway: RunningGateway, http: aiohttp.ClientSession, person: str
) -> str:
    """Begin, and sign in at the provider as ``person``: the staff callback URL (unopened)."""
    url = await begin(gateway, http)
    assert url.startswith(provider.issuer)
    callback = await provider.sign_in(http, url, person, LOA3)
    assert callback.startswith(gateway.base_url + "/oidc/staff/callback?")
    return callback


async def open_callback(http: aiohttp.ClientSession, callback: str) -> aiohttp.ClientResponse:
    async with http.get(callback, allow_redirects=False) as response:
        assert response.status == 303
        return response


def with_path(url: str, path: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


async def me(gateway: RunningGateway, http: aiohttp.ClientSession) -> tuple[int, object]:
    async with http.get(gateway.base_url + "/api/staff/me") as response:
        return response.status, await response.json()


async def test_staff_sign_in_end_to_end(
    oidc_provider: OidcProvider, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    capture_all_logs(caplog)
    async with staff_signin_gateway(oidc_provider, tmp_path) as (gateway, _), browser() as http:
        async with http.get(gateway.base_url + "/api/staff/signin-options") as response:
            assert await response.json() == {
                "link": True,
                "oidc": {"provider": STAFF_PROVIDER_NAME, "url": "/pro/signin/oidc"},
            }
        callback = await provider_callback(oidc_provider, gateway, http, "noora-demo")
        response = await open_callback(http, callback)
        assert response.headers["Location"] == "/pro"
        cookies = response.headers.getall("Set-Cookie")
        session = next(c for c in cookies if c.startswith(SESSION_COOKIE + "="))
        assert "HttpOnly" in session and "SameSite=Strict" in session and "Path=/" in session
        assert await me(gateway, http) == (200, {"name": "Noora Demo", "lines": ["demo"]})

        resident = await gateway.resident()
        await resident.request("queue.join", line="demo")
        staff = await SignalClient.connect(gateway.base_url, http=http)
        hello = await staff.request("hello", protocol=1)
        assert hello["role"] == "staff"
        assert hello["staff"]["name"] == "Noora Demo"
        assert hello["staff"]["lines"] == ["demo"]
        answered = await staff.request("staff.answer_next", line="demo")
        connected = await resident.next_event("call.connected")
        assert connected["callId"] == answered["callId"]
        await staff.request("hangup")
        await resident.next_event("call.ended")
        await staff.close()
        await resident.close()
    logs = log_text(caplog.records)
    assert "a professional signed in through OpenID Connect" in logs
    for secret in ("Noora", "noora-demo", PERSONS["noora-demo"].identity_code, "demo-counsellors"):
        assert secret not in logs
    code = dict(part.split("=", 1) for part in urlsplit(callback).query.split("&"))["code"]
    assert code not in logs


@pytest.mark.parametrize("encrypted", [False, True], ids=["signed", "encrypted"])
async def test_lines_by_subject_with_or_without_encrypted_id_tokens(
    oidc_provider: OidcProvider, tmp_path: Path, encrypted: bool
) -> None:
    async with (
        staff_signin_gateway(oidc_provider, tmp_path, encrypted=encrypted) as (gateway, _),
        browser() as http,
    ):
        callback = await provider_callback(oidc_provider, gateway, http, "eino-demo")
        assert (await open_callback(http, callback)).headers["Location"] == "/pro"
        assert await me(gateway, http) == (200, {"name": "Eino Demo", "lines": ["demo"]})


async def test_a_person_without_lines_gets_no_session(
    oidc_provider: OidcProvider, tmp_path: Path
) -> None:
    async with staff_signin_gateway(oidc_provider, tmp_path) as (gateway, _), browser() as http:
        callback = await provider_callback(oidc_provider, gateway, http, "aino-demo")
        response = await open_callback(http, callback)
        assert response.headers["Location"] == "/pro/signin?error=oidc_no_lines"
        assert not any(c.startswith(SESSION_COOKIE) for c in response.headers.getall("Set-Cookie"))
        assert (await me(gateway, http))[0] == 401
        async with http.get(gateway.base_url + "/pro/signin?error=oidc_no_lines") as page:
            assert page.status == 200


async def test_a_replayed_or_foreign_callback_is_refused(
    oidc_provider: OidcProvider, tmp_path: Path
) -> None:
    async with staff_signin_gateway(oidc_provider, tmp_path) as (gateway, _):
        async with browser() as http:
            callback = await provider_callback(oidc_provider, gateway, http, "noora-demo")
            assert (await open_callback(http, callback)).headers["Location"] == "/pro"
            replayed = await open_callback(http, callback)
            assert replayed.headers["Location"] == "/pro/signin?error=oidc_expired"
        # A callback opened in another browser than the one that began (login CSRF): the
        # flow is refused and used up, so that its own browser cannot use it either.
        async with browser() as http:
            callback = await provider_callback(oidc_provider, gateway, http, "noora-demo")
            async with browser() as other:
                foreign = await open_callback(other, callback)
                assert foreign.headers["Location"] == "/pro/signin?error=oidc_expired"
                assert (await me(gateway, other))[0] == 401
            late = await open_callback(http, callback)
            assert late.headers["Location"] == "/pro/signin?error=oidc_expired"
            assert (await me(gateway, http))[0] == 401


async def test_resident_and_staff_flows_never_complete_each_other(
    oidc_provider: OidcProvider, tmp_path: Path
) -> None:
    async with staff_signin_gateway(oidc_provider, tmp_path, identification=True) as (
        gateway,
        _,
    ):
        identified: list[str] = []

        async def on_identified(binding: str, identity: VerifiedIdentity) -> None:
            identified.append(binding)

        gateway.app[keys.IDENTIFICATION_HOOKS].on_identified = on_identified
        # A resident's flow at the staff callback: unknown there, and still the resident's.
        async with browser() as http:
            url = await gateway.app[keys.IDENTIFICATION].begin("room-1/participant-a")
            resident_callback = await oidc_provider.sign_in(http, url, "noora-demo", LOA3)
            assert urlsplit(resident_callback).path == "/oidc/callback"
            at_staff = await open_callback(
                http, with_path(resident_callback, "/oidc/staff/callback")
            )
            assert at_staff.headers["Location"] == "/pro/signin?error=oidc_expired"
            assert (await me(gateway, http))[0] == 401
            async with http.get(resident_callback) as response:
                assert response.url.path == "/oidc/done"
                assert response.url.query["result"] == "ok"
        assert identified == ["room-1/participant-a"]
        # A staff flow at the residents' callback: unknown there, and still the staff's.
        async with browser() as http:
            staff_callback = await provider_callback(oidc_provider, gateway, http, "noora-demo")
            async with http.get(with_path(staff_callback, "/oidc/callback")) as response:
                assert response.url.path == "/oidc/done"
                assert response.url.query["result"] == "expired"
            assert identified == ["room-1/participant-a"]
            assert (await me(gateway, http))[0] == 401
            assert (await open_callback(http, staff_callback)).headers["Location"] == "/pro"
            assert (await me(gateway, http))[0] == 200


async def session_cookie(http: aiohttp.ClientSession) -> str:
    return next(c.value for c in http.cookie_jar if c.key == SESSION_COOKIE)


async def test_sign_out_revokes_the_session_on_open_sockets(gateway: RunningGateway) -> None:
    staff = await gateway.staff(lines=("demo",))
    other_console = await SignalClient.connect(gateway.base_url, http=staff.http)
    assert (await other_console.request("hello", protocol=1))["role"] == "staff"
    token = await session_cookie(staff.http)
    async with staff.http.post(
        gateway.base_url + "/api/staff/signout", headers={"Origin": gateway.base_url}
    ) as response:
        assert response.status == 204
    reply = await staff.call("staff.status", available=False)
    assert reply["type"] == "error"
    assert reply["error"]["code"] == "unauthorized"
    await asyncio.wait_for(staff.closed.wait(), 5)
    assert staff.ws.close_code == SESSION_ENDED_CLOSE_CODE
    assert staff.close_reason == "signed out"
    # Any request of the other console's finds the same, not only those that need staff.
    reply = await other_console.call("line.watch", line="demo")
    assert reply["error"]["code"] == "unauthorized"
    await asyncio.wait_for(other_console.closed.wait(), 5)
    # The old cookie, sent again, is no session any more: not for the API, not for a socket.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        headers = {"Cookie": f"{SESSION_COOKIE}={token}"}
        async with http.get(gateway.base_url + "/api/staff/me", headers=headers) as response:
            assert response.status == 401
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        http.cookie_jar.update_cookies({SESSION_COOKIE: token}, response_url=URL(gateway.base_url))
        again = await SignalClient.connect(gateway.base_url, http=http)
        assert (await again.request("hello", protocol=1))["role"] == "resident"
        await again.close()
    await other_console.close()
    await staff.close()


async def test_an_expired_session_is_refused_on_its_next_request() -> None:
    clock = FakeClock(datetime.now(UTC))
    async with running_gateway(make_config(), clock=clock) as gateway:
        staff = await gateway.staff(lines=("demo",))
        assert (await staff.request("staff.status", available=True))["available"] is True
        clock.advance(gateway.config.session_ttl.total_seconds() + 1)
        reply = await staff.call("staff.status", available=False)
        assert reply["error"]["code"] == "unauthorized"
        await asyncio.wait_for(staff.closed.wait(), 5)
        assert staff.ws.close_code == SESSION_ENDED_CLOSE_CODE
        assert staff.close_reason == "session expired"
        assert (await me(gateway, staff.http))[0] == 401
        await staff.close()


async def test_an_idle_staff_socket_is_closed_when_its_session_expires(
    gateway: RunningGateway,
) -> None:
    now = gateway.app[keys.CLOCK].now()
    token = gateway.app[keys.TOKENS].issue_session("Maija", ("demo",), now, timedelta(seconds=2))
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        ws = await http.ws_connect(
            gateway.base_url.replace("http", "ws", 1) + "/ws",
            headers={"Origin": gateway.base_url, "Cookie": f"{SESSION_COOKIE}={token}"},
        )
        await ws.send_json({"id": 1, "type": "hello", "protocol": 1})
        hello = await ws.receive_json(timeout=5)
        assert hello["result"]["role"] == "staff"
        message = await ws.receive(timeout=10)
        while message.type == aiohttp.WSMsgType.TEXT:  # events of the line, if any
            message = await ws.receive(timeout=10)
        assert message.type == aiohttp.WSMsgType.CLOSE
        assert message.data == SESSION_ENDED_CLOSE_CODE
        assert message.extra == "session expired"
        await ws.close()


async def test_a_flood_of_sign_in_begins_from_one_client_is_cut_off(
    oidc_provider: OidcProvider, tmp_path: Path
) -> None:
    """Each begin keeps a flow in the store for minutes: one client cannot fill it."""
    async with staff_signin_gateway(oidc_provider, tmp_path) as (gateway, _), browser() as http:
        locations = []
        for _ in range(BURST + 4):
            async with http.get(
                gateway.base_url + "/pro/signin/oidc", allow_redirects=False
            ) as response:
                locations.append(response.headers["Location"])
        provider = oidc_provider.issuer
        assert all(location.startswith(provider) for location in locations[:BURST])
        assert set(locations[BURST:]) == {"/pro/signin?error=oidc_busy"}
        flows = gateway.center_store.identification
        assert isinstance(flows, MemoryIdentificationFlowStore) and len(flows) == BURST
