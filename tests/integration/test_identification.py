"""Strong identification against a real OpenID provider configured like an FTN broker.

The provider is oidc-provider (npm, version 8; tests/support/oidc/provider.mjs): it checks
the request object, the client assertion (``kid``, unused ``jti``), PKCE and the redirect
URI, and encrypts the ID token to the key it fetched from the gateway's JWKS URL.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from gateway import keys
from gateway.oidc.client_keys import key_file_name, write_new_key
from gateway.oidc.identity import VerifiedIdentity
from gateway.oidc.transport import AiohttpTransport
from tests.support.gateway import RunningGateway
from tests.support.logs import capture_all_logs, log_text
from tests.support.oidc.broker import (
    LOA2,
    LOA3,
    PERSONS,
    TEST_KEY_BITS,
    OidcProvider,
    browser,
    identification_gateway,
)


@dataclasses.dataclass
class Outcomes:
    """What the hooks were told."""

    identified: list[tuple[str, VerifiedIdentity]] = dataclasses.field(default_factory=list)
    failed: list[tuple[str, str]] = dataclasses.field(default_factory=list)


def listen(gateway: RunningGateway) -> Outcomes:
    outcomes = Outcomes()

    async def on_identified(binding: str, identity: VerifiedIdentity) -> None:
        outcomes.identified.append((binding, identity))

    async def on_failed(binding: str, code: str) -> None:
        outcomes.failed.append((binding, code))

    hooks = gateway.app[keys.IDENTIFICATION_HOOKS]
    hooks.on_identified, hooks.on_failed = on_identified, on_failed
    return outcomes


@dataclasses.dataclass
class TokenResponses:
    id_tokens: list[str] = dataclasses.field(default_factory=list)


@pytest.fixture
def token_responses(monkeypatch: pytest.MonkeyPatch) -> Iterator[TokenResponses]:
    """The ID tokens the token endpoint answers with, as the gateway received them."""
    seen = TokenResponses()
    original = AiohttpTransport.post_form

    async def recording(
        self: AiohttpTransport, url: str, form: Mapping[str, str], headers: Mapping[str, str]
    ) -> tuple[int, Any]:
        status, body = await original(self, url, form, headers)
        if isinstance(body, dict) and isinstance(body.get("id_token"), str):
            seen.id_tokens.append(body["id_token"])
        return status, body

    monkeypatch.setattr(AiohttpTransport, "post_form", recording)
    yield seen


async def identify(
    provider: OidcProvider,
    gateway: RunningGateway,
    binding: str = "room-1/participant-a",
    person: str = "aino-demo",
    acr: str = LOA3,
) -> str:
    """One whole flow as the participant's browser: the result the done page shows."""
    url = await gateway.app[keys.IDENTIFICATION].begin(binding, ui_locales="fi")
    async with browser() as http:
        callback = await provider.sign_in(http, url, person, acr)
        assert callback.startswith(gateway.base_url + "/oidc/callback?")
        async with http.get(callback) as response:
            assert response.status == 200
            assert response.url.path == "/oidc/done"
            return response.url.query["result"]


async def test_the_ftn_profile_end_to_end(
    oidc_provider: OidcProvider, tmp_path: Path, token_responses: TokenResponses
) -> None:
    async with identification_gateway(oidc_provider, tmp_path) as (gateway, _):
        outcomes = listen(gateway)
        url = await gateway.app[keys.IDENTIFICATION].begin("room-1/participant-a")
        assert set(dict(parse_qsl(urlsplit(url).query))) == {
            "client_id",
            "response_type",
            "scope",
            "request",
        }
        async with browser() as http:
            callback = await oidc_provider.sign_in(http, url, "aino-demo", LOA3)
            assert {"code", "state", "iss"} <= set(dict(parse_qsl(urlsplit(callback).query)))
            async with http.get(callback) as response:
                assert response.status == 200
                assert response.url.path == "/oidc/done"
                assert response.url.query["result"] == "ok"
                page = await response.text()
    person = PERSONS["aino-demo"]
    [(binding, identity)] = outcomes.identified
    assert outcomes.failed == []
    assert binding == "room-1/participant-a"
    assert identity.display_name == person.name
    assert (identity.given_name, identity.family_name) == (person.given_name, person.family_name)
    assert identity.identity_code == person.masked_code == "010190-***U"
    assert identity.birthdate is not None and identity.birthdate.isoformat() == person.birthdate
    assert (identity.acr, identity.assurance) == (LOA3, "high")
    assert identity.provider_name == "Testivälittäjä"
    assert identity.subject == person.id
    # The ID token came encrypted (five parts), and the done page knows nothing of the person.
    [id_token] = token_responses.id_tokens
    assert id_token.count(".") == 4
    assert person.given_name not in page and person.identity_code[:6] not in page


async def test_a_replayed_callback_is_refused(oidc_provider: OidcProvider, tmp_path: Path) -> None:
    async with identification_gateway(oidc_provider, tmp_path) as (gateway, _):
        outcomes = listen(gateway)
        url = await gateway.app[keys.IDENTIFICATION].begin("room-1/participant-a")
        async with browser() as http:
            callback = await oidc_provider.sign_in(http, url)
            for expected in ("ok", "expired", "expired"):
                async with http.get(callback) as response:
                    assert response.url.query["result"] == expected
    assert len(outcomes.identified) == 1 and outcomes.failed == []


async def test_a_code_for_another_participants_flow(
    oidc_provider: OidcProvider, tmp_path: Path
) -> None:
    async with identification_gateway(oidc_provider, tmp_path) as (gateway, _):
        outcomes = listen(gateway)
        rp = gateway.app[keys.IDENTIFICATION]
        mine = await rp.begin("room-1/participant-a")
        theirs = await rp.begin("room-1/participant-b")
        async with browser() as http:
            my_callback = await oidc_provider.sign_in(http, mine, "aino-demo")
            their_callback = await oidc_provider.sign_in(http, theirs, "eino-demo")
            my_query = dict(parse_qsl(urlsplit(my_callback).query))
            their_query = dict(parse_qsl(urlsplit(their_callback).query))
            swapped = {**my_query, "code": their_query["code"]}
            injected = f"{gateway.base_url}/oidc/callback?{urlencode(swapped)}"
            async with http.get(injected) as response:
                assert response.url.query["result"] == "failed"
    # The provider refused the exchange (PKCE): Eino was identified for nobody.
    assert outcomes.failed == [("room-1/participant-a", "token_exchange_failed")]
    assert outcomes.identified == []


@pytest.mark.parametrize(
    ("minimum", "level", "result"),
    [(LOA2, LOA2, "ok"), (LOA3, LOA2, "failed"), (LOA3, LOA3, "ok")],
)
async def test_the_required_level_of_assurance(
    oidc_provider: OidcProvider, tmp_path: Path, minimum: str, level: str, result: str
) -> None:
    settings = {"minimum_acr": minimum}
    async with identification_gateway(oidc_provider, tmp_path, settings=settings) as (gw, _):
        outcomes = listen(gw)
        assert await identify(oidc_provider, gw, acr=level) == result
    if result == "ok":
        [(_, identity)] = outcomes.identified
        assert identity.acr == level
        assert identity.assurance == {LOA2: "substantial", LOA3: "high"}[level]
    else:
        assert outcomes.failed == [("room-1/participant-a", "acr_insufficient")]


async def test_client_secret_basic_with_plain_id_tokens(
    oidc_provider: OidcProvider, tmp_path: Path, token_responses: TokenResponses
) -> None:
    async with identification_gateway(
        oidc_provider, tmp_path, auth_method="client_secret_basic", encrypted=False
    ) as (gateway, client):
        assert client.client_secret
        outcomes = listen(gateway)
        url = await gateway.app[keys.IDENTIFICATION].begin("room-1/participant-a")
        assert "request=" not in url and "code_challenge=" in url
        assert await identify(oidc_provider, gateway, person="noora-demo") == "ok"
    [(_, identity)] = outcomes.identified
    assert identity.identity_code == PERSONS["noora-demo"].masked_code == "070304A***U"
    assert token_responses.id_tokens[-1].count(".") == 2  # signed only


async def test_an_encrypted_id_token_is_required_unless_configured_otherwise(
    oidc_provider: OidcProvider, tmp_path: Path
) -> None:
    settings = {"id_token_encrypted": True}
    async with identification_gateway(
        oidc_provider, tmp_path, encrypted=False, settings=settings
    ) as (gateway, _):
        outcomes = listen(gateway)
        assert await identify(oidc_provider, gateway) == "failed"
    assert outcomes.failed == [("room-1/participant-a", "id_token_not_encrypted")]


async def test_key_rotation(oidc_provider: OidcProvider, tmp_path: Path) -> None:
    """The rotation procedure of docs/identification.md, against the provider's JWKS cache."""
    async with identification_gateway(oidc_provider, tmp_path) as (gateway, client):
        outcomes = listen(gateway)
        ring = gateway.app[keys.IDENTIFICATION].client_keys
        first_sig, first_enc = ring.signing_key(), ring.decryption_keys(None)[0]
        assert await identify(oidc_provider, gateway) == "ok"  # the provider fetched the JWKS

        # 1. New keys are published ahead of their start; the provider's cache time passes.
        starts = (datetime.now(UTC) + timedelta(seconds=2)).replace(microsecond=0)
        for use in ("sig", "enc"):
            write_new_key(ring.directory, use, starts, bits=TEST_KEY_BITS)
        ring.load()
        await oidc_provider.forget_client_keys(client.client_id)
        assert await identify(oidc_provider, gateway) == "ok"  # now it holds old and new
        assert ring.signing_key().kid == first_sig.kid

        # 2. The new keys start. The provider knows the signing key already; it encrypts to
        #    the old encryption key it has cached, which the gateway still holds.
        while datetime.now(UTC) < starts:
            await asyncio.sleep(0.1)
        ring.load()
        second_sig = ring.signing_key()
        assert second_sig.kid != first_sig.kid
        assert await identify(oidc_provider, gateway) == "ok"

        # 3. The provider refreshes its copy; the old keys are deleted: it must have
        #    encrypted to the new key, and verified the new signature.
        await oidc_provider.forget_client_keys(client.client_id)
        assert await identify(oidc_provider, gateway) == "ok"
        for use, key in (("sig", first_sig), ("enc", first_enc)):
            (ring.directory / key_file_name(use, key.starts)).unlink()
        ring.load()
        assert [k["kid"] for k in ring.public_jwks()["keys"]] == [
            second_sig.kid,
            ring.decryption_keys(None)[0].kid,
        ]
        assert await identify(oidc_provider, gateway) == "ok"

        # 4. A key used before the provider could see it is refused by the provider: that is
        #    why new keys are published ahead.
        early = (datetime.now(UTC) + timedelta(seconds=1)).replace(microsecond=0)
        write_new_key(ring.directory, "sig", early, bits=TEST_KEY_BITS)
        while datetime.now(UTC) < early:
            await asyncio.sleep(0.1)
        ring.load()
        assert await identify(oidc_provider, gateway) == "failed"
    assert len(outcomes.identified) == 5
    assert outcomes.failed == [("room-1/participant-a", "provider_error")]


async def test_a_failing_hook_is_logged_by_its_type_only(
    oidc_provider: OidcProvider, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    capture_all_logs(caplog)
    async with identification_gateway(oidc_provider, tmp_path) as (gateway, _):

        async def on_identified(binding: str, identity: VerifiedIdentity) -> None:
            raise RuntimeError(f"cannot show {identity.display_name}")

        gateway.app[keys.IDENTIFICATION_HOOKS].on_identified = on_identified
        assert await identify(oidc_provider, gateway) == "failed"
        async with browser() as http:
            url = gateway.base_url + "/oidc/callback?state=" + "s" * 43 + "&code=c"
            async with http.head(url) as response:
                assert response.status == 405
    logs = log_text(caplog.records)
    assert "the on_identified hook raised RuntimeError" in logs
    assert PERSONS["aino-demo"].given_name not in logs


async def test_the_gateway_publishes_its_public_keys(
    oidc_provider: OidcProvider, tmp_path: Path
) -> None:
    async with identification_gateway(oidc_provider, tmp_path) as (gateway, _), browser() as http:
        async with http.get(gateway.base_url + "/oidc/jwks.json") as response:
            assert response.status == 200
            assert "max-age=300" in response.headers["Cache-Control"]
            jwks = await response.json()
        async with http.get(gateway.base_url + "/oidc/done?result=ok") as response:
            assert response.status == 200
            assert "identified.js" in await response.text()
    assert sorted(key["use"] for key in jwks["keys"]) == ["enc", "sig"]
    for key in jwks["keys"]:
        assert set(key) == {"kty", "use", "alg", "kid", "n", "e"}  # no private parts
    assert {key["alg"] for key in jwks["keys"]} == {"RS256", "RSA-OAEP-256"}


async def test_without_identification_there_are_no_routes(
    gateway: RunningGateway,
) -> None:
    assert keys.IDENTIFICATION not in gateway.app
    async with browser() as http:
        for path in ("/oidc/jwks.json", "/oidc/callback?state=x&code=y", "/oidc/done"):
            async with http.get(gateway.base_url + path) as response:
                assert response.status == 404, path


async def test_nothing_of_the_identity_is_logged_stored_or_written(
    oidc_provider: OidcProvider,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    token_responses: TokenResponses,
) -> None:
    capture_all_logs(caplog)
    person = PERSONS["eino-demo"]
    async with identification_gateway(oidc_provider, tmp_path) as (gateway, _):
        outcomes = listen(gateway)
        url = await gateway.app[keys.IDENTIFICATION].begin("room-1/participant-a")
        async with browser() as http:
            callback = await oidc_provider.sign_in(http, url, person.id, LOA2)
            async with http.get(callback) as response:
                assert response.url.query["result"] == "ok"
        [(_, identity)] = outcomes.identified
        await gateway.app[keys.IDENTIFICATION].begin("room-1/participant-b")  # one pending
        store_text = everything_in(gateway.app[keys.STORE])
    assert "room-1/participant-b" in store_text  # the walk reaches the flows
    query = dict(parse_qsl(urlsplit(callback).query))
    [id_token] = token_responses.id_tokens
    secrets = {
        "name": person.name,
        "given name": person.given_name,
        "identity code": person.identity_code,
        "masked code": person.masked_code,
        "birthdate": person.birthdate,
        "sub": identity.subject,
        "code": query["code"],
        "state": query["state"],
        "id token": id_token,
        "id token part": id_token.split(".")[3][:40],
    }
    logs = log_text(caplog.records)
    assert "an identification succeeded" in logs  # the capture works
    files = all_files(tmp_path)
    for what, value in secrets.items():
        assert value not in logs, f"the {what} is in the logs"
        assert value not in store_text, f"the {what} is in the store"
        if len(value) >= 8:  # a short one could turn up by chance in a key's base64
            assert value not in files, f"the {what} is in a file"


def all_files(directory: Path) -> str:
    """What every file under ``directory`` holds (the gateway's key directory among them)."""
    paths = [path for path in directory.rglob("*") if path.is_file()]
    assert paths, "no files: the check would prove nothing"
    return "\n".join(path.read_bytes().decode("latin-1") for path in paths)


def everything_in(obj: object, seen: set[int] | None = None) -> str:
    """Every string and number reachable from ``obj`` through the store's own objects: what
    a backend would serialise."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return ""
    seen.add(id(obj))
    if isinstance(obj, str | bytes | int | float | datetime):
        return str(obj)
    if isinstance(obj, Mapping):
        return "\n".join(everything_in(k, seen) + everything_in(v, seen) for k, v in obj.items())
    if isinstance(obj, list | tuple | set | frozenset):
        return "\n".join(everything_in(item, seen) for item in obj)
    if type(obj).__module__.startswith("rooms.") and hasattr(obj, "__dict__"):
        return everything_in(vars(obj), seen)  # the store's own objects, not the loop's
    return ""
