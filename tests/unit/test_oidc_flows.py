"""The relying party's flow against a fake broker: what it sends, single use, bindings."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jwt
import pytest

from gateway.oidc.config import FTN_HIGH, FTN_SUBSTANTIAL
from gateway.oidc.errors import IdentificationError
from rooms.clock import FakeClock
from tests.support.oidc.fake import CLIENT_ID, ISSUER, FakeSetup, b64, fake_setup

T0 = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
BINDING = "room-7/participant-3"


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> FakeSetup:
    return fake_setup(tmp_path_factory.mktemp("keys"), FakeClock(T0))


@pytest.fixture
def clock(shared: FakeSetup) -> FakeClock:
    shared.clock.set(T0)
    return shared.clock


def setup_like(shared: FakeSetup, **settings: Any) -> FakeSetup:
    return fake_setup(shared.ring.directory, shared.clock, ring=shared.ring, **settings)


@pytest.fixture
def fake(shared: FakeSetup, clock: FakeClock) -> FakeSetup:
    return setup_like(shared)


def query_of(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def request_object(fake: FakeSetup, url: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The request object's header and claims, its signature checked with the published key."""
    token = query_of(url)["request"]
    header = jwt.get_unverified_header(token)
    [jwk] = [k for k in fake.ring.public_jwks()["keys"] if k["kid"] == header["kid"]]
    assert jwk["use"] == "sig"
    claims = jwt.decode(
        token,
        jwt.PyJWK(jwk),
        algorithms=["RS256"],
        audience=ISSUER,
        options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
    )
    return header, claims


async def identified(fake: FakeSetup, binding: str = BINDING) -> dict[str, str]:
    """Begin a flow and let the fake broker answer it: the callback's query."""
    return fake.provider.authorize(await fake.rp.begin(binding))


async def failure(fake: FakeSetup, query: dict[str, str], **kwargs: Any) -> IdentificationError:
    with pytest.raises(IdentificationError) as caught:
        await fake.rp.complete(query, **kwargs)
    return caught.value


async def test_the_authorization_request_is_a_signed_request_object(fake: FakeSetup) -> None:
    url = await fake.rp.begin(BINDING, ui_locales="fi")
    assert url.startswith(ISSUER + "/auth?")
    outside = query_of(url)
    assert set(outside) == {"client_id", "response_type", "scope", "request"}
    header, claims = request_object(fake, url)
    assert header["alg"] == "RS256" and header["kid"] == fake.ring.signing_key().kid
    assert claims["iss"] == claims["client_id"] == CLIENT_ID
    assert claims["aud"] == ISSUER
    assert claims["response_type"] == "code"
    assert claims["redirect_uri"] == "https://tukilinja.example.test/oidc/callback"
    assert claims["scope"] == "openid profile personal_identity_code"
    assert claims["code_challenge_method"] == "S256"
    assert len(claims["code_challenge"]) == 43
    assert len(claims["state"]) >= 43 and len(claims["nonce"]) == 43
    assert claims["acr_values"] == f"{FTN_HIGH} {FTN_SUBSTANTIAL}"
    assert claims["ui_locales"] == "fi"
    asked = claims["claims"]["id_token"]
    assert {"name", "birthdate", "personal_identity_code", "hetu", "nin"} <= set(asked)
    assert asked["acr"] is None  # asked for, voluntarily: the level is checked here
    assert 0 < claims["exp"] - claims["nbf"] <= 600 and claims["iat"] == claims["nbf"]
    _, again = request_object(fake, await fake.rp.begin(BINDING))
    assert again["jti"] != claims["jti"]
    assert again["state"] != claims["state"] and again["nonce"] != claims["nonce"]


async def test_plain_parameters_without_request_objects(shared: FakeSetup) -> None:
    fake = setup_like(shared, request_object=False, auth_method="client_secret_basic")
    params = query_of(await fake.rp.begin(BINDING))
    assert "request" not in params
    assert params["client_id"] == CLIENT_ID and params["code_challenge_method"] == "S256"
    assert '"personal_identity_code"' in params["claims"]


async def test_a_flow_completes_with_the_identity_for_its_binding(fake: FakeSetup) -> None:
    result = await fake.rp.complete(await identified(fake))
    assert result.binding == BINDING
    identity = result.identity
    assert identity.display_name == "Väinö Demo-Testaaja"
    assert identity.identity_code == "010190-***U" and identity.identity_code_masked
    assert identity.birthdate is not None and identity.birthdate.isoformat() == "1990-01-01"
    assert (identity.acr, identity.assurance) == (FTN_HIGH, "high")
    assert identity.provider_name == "Fake broker"
    assert identity.subject == "fake-subject-7f3a"
    assert "Väinö" not in repr(result) and "010190" not in repr(result)


async def test_the_code_is_exchanged_with_a_client_assertion(fake: FakeSetup) -> None:
    await fake.rp.complete(await identified(fake))
    await fake.rp.complete(await identified(fake))
    first, second = fake.provider.assertions
    assert first["header"]["kid"] == fake.ring.signing_key().kid
    assert first["claims"]["aud"] == ISSUER + "/token"
    assert first["claims"]["iss"] == first["claims"]["sub"] == CLIENT_ID
    assert first["claims"]["exp"] - first["claims"]["iat"] <= 60
    assert first["claims"]["jti"] != second["claims"]["jti"]
    [(url, form, headers), _] = fake.transport.posts
    assert url == ISSUER + "/token"
    assert form["grant_type"] == "authorization_code" and "Authorization" not in headers
    assert "client_secret" not in form


async def test_the_assertion_audience_may_be_the_issuer(shared: FakeSetup) -> None:
    fake = setup_like(shared, client_assertion_audience="issuer")
    await fake.rp.complete(await identified(fake))
    assert fake.provider.assertions[0]["claims"]["aud"] == ISSUER


async def test_client_secret_basic(shared: FakeSetup) -> None:
    fake = setup_like(shared, auth_method="client_secret_basic", id_token_encrypted=False)
    result = await fake.rp.complete(await identified(fake))
    assert result.binding == BINDING
    [(_, form, headers)] = fake.transport.posts
    assert "client_assertion" not in form
    user, _, secret = base64.b64decode(headers["Authorization"].split()[1]).decode().partition(":")
    assert user == CLIENT_ID and secret == "s3cret%2Fwith%3Aodd%20chars"


async def test_a_replayed_authorization_response_is_refused(fake: FakeSetup) -> None:
    query = await identified(fake)
    await fake.rp.complete(query)
    error = await failure(fake, query)
    assert error.code == "flow_unknown" and error.binding is None


async def test_a_replay_after_a_failure_is_refused_too(fake: FakeSetup) -> None:
    query = await identified(fake)
    first = await failure(fake, {**query, "code": "not-the-code"})
    assert (first.code, first.binding) == ("token_exchange_failed", BINDING)
    assert (await failure(fake, query)).code == "flow_unknown"


async def test_a_code_for_another_participants_flow_is_refused(fake: FakeSetup) -> None:
    mine = await identified(fake, "room-7/participant-3")
    theirs = await identified(fake, "room-7/participant-4")
    error = await failure(fake, {**mine, "code": theirs["code"]})
    # PKCE: their code was issued for their challenge, not for this flow's verifier.
    assert (error.code, error.binding) == ("token_exchange_failed", "room-7/participant-3")


async def test_a_flow_completed_for_another_binding_is_refused(fake: FakeSetup) -> None:
    query = await identified(fake, "room-7/participant-3")
    error = await failure(fake, query, binding="room-7/participant-4")
    assert (error.code, error.binding) == ("wrong_binding", "room-7/participant-3")
    assert (await failure(fake, query, binding="room-7/participant-3")).code == "flow_unknown"
    query = await identified(fake, "room-7/participant-3")
    result = await fake.rp.complete(query, binding="room-7/participant-3")
    assert result.binding == "room-7/participant-3"


async def test_a_flow_expires(fake: FakeSetup, clock: FakeClock) -> None:
    query = await identified(fake)
    clock.advance(10 * 60)
    assert (await failure(fake, query)).code == "flow_unknown"
    assert len(fake.flows) == 0


@pytest.mark.parametrize("state", [None, "", "short", "x" * 200, "bad state with spaces!!"])
async def test_a_malformed_state_is_unknown(fake: FakeSetup, state: str | None) -> None:
    query = {"code": "c"} if state is None else {"code": "c", "state": state}
    assert (await failure(fake, query)).code == "flow_unknown"


@pytest.mark.parametrize(
    ("error", "code"), [("access_denied", "cancelled"), ("login_required", "provider_error")]
)
async def test_an_error_response(fake: FakeSetup, error: str, code: str) -> None:
    query = await identified(fake)
    del query["code"]
    failed = await failure(fake, {**query, "error": error})
    assert (failed.code, failed.binding) == (code, BINDING)


@pytest.mark.parametrize("iss", ["https://evil.example", ISSUER + "/", None])
async def test_the_iss_parameter_must_name_the_provider(fake: FakeSetup, iss: str | None) -> None:
    query = await identified(fake)
    query = {k: v for k, v in query.items() if k != "iss"}
    if iss is not None:
        query["iss"] = iss
    assert (await failure(fake, query)).code == "issuer_mismatch"


async def test_a_response_without_iss_passes_when_the_provider_sends_none(
    fake: FakeSetup,
) -> None:
    fake.provider.iss_parameter = False
    fake.rp.metadata._metadata = None  # discovery again: the provider no longer announces it
    query = await identified(fake)
    assert "iss" not in query
    assert (await fake.rp.complete(query)).binding == BINDING


async def test_a_missing_code(fake: FakeSetup) -> None:
    query = await identified(fake)
    del query["code"]
    assert (await failure(fake, query)).code == "bad_response"


async def test_no_id_token(fake: FakeSetup) -> None:
    query = await identified(fake)
    fake.provider.token = lambda form, headers: (200, {"access_token": "at"})  # type: ignore[method-assign]
    assert (await failure(fake, query)).code == "id_token_missing"


async def test_the_provider_down(fake: FakeSetup) -> None:
    fake.transport.down = True
    with pytest.raises(IdentificationError) as caught:
        await fake.rp.begin(BINDING)
    assert caught.value.code == "provider_unavailable"
    fake.transport.down = False
    query = await identified(fake)
    fake.transport.down = True
    assert (await failure(fake, query)).code == "provider_unavailable"


async def test_discovery_naming_another_issuer_is_refused(fake: FakeSetup) -> None:
    fake.provider.metadata = lambda: {  # type: ignore[method-assign]
        "issuer": ISSUER + "/other",
        "authorization_endpoint": ISSUER + "/auth",
        "token_endpoint": ISSUER + "/token",
        "jwks_uri": ISSUER + "/jwks",
    }
    with pytest.raises(IdentificationError) as caught:
        await fake.rp.begin(BINDING)
    assert caught.value.code == "provider_unavailable"


async def test_the_store_holds_no_state_nonce_or_verifier(fake: FakeSetup) -> None:
    url = await fake.rp.begin(BINDING)
    _, claims = request_object(fake, url)
    held = repr(vars(fake.flows))
    assert BINDING in held
    for secret in (claims["state"], claims["nonce"]):
        assert secret not in held
    digest = hashlib.sha256(claims["state"].encode()).hexdigest()
    assert digest in held
    assert b64(hashlib.sha256(claims["state"].encode()).digest()) not in held


@pytest.mark.parametrize("binding", ["", "x" * 513])
async def test_a_binding_must_be_given(fake: FakeSetup, binding: str) -> None:
    with pytest.raises(ValueError):
        await fake.rp.begin(binding)


async def test_an_unexpected_fault_fails_closed(fake: FakeSetup) -> None:
    query = await identified(fake)

    def broken(form: object, headers: object) -> tuple[int, object]:
        raise KeyError("010190-904U")

    fake.provider.token = broken  # type: ignore[method-assign]
    error = await failure(fake, query)
    assert (error.code, error.binding) == ("internal_error", BINDING)


@pytest.mark.parametrize(("given", "sent"), [("sv en", "sv en"), ("fi-FI", "fi-FI"), ("<x>", None)])
async def test_ui_locales(fake: FakeSetup, given: str, sent: str | None) -> None:
    _, claims = request_object(fake, await fake.rp.begin(BINDING, ui_locales=given))
    assert claims.get("ui_locales") == sent
