"""Demo identification: the built-in provider, used over HTTP by a standard relying party.

The relying party here is written from the Finnish Trust Network profile alone (PyJWT and
joserfc, nothing of the provider's code): a signed request object, PKCE S256, state and
nonce; ``private_key_jwt`` at the token endpoint; the ID token decrypted (RSA-OAEP-256 +
A256GCM) and its signature checked with the provider's published key.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import secrets
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import aiohttp
import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwe
from joserfc.jwk import RSAKey
from jwt.algorithms import RSAAlgorithm

from gateway import keys
from gateway.app import create_app
from gateway.demoidp import DEMO_CLIENT_ID, HttpJwks, InProcessJwks
from rooms.clock import FakeClock
from rooms.errors import ConfigError
from tests.support.demo_browser import FormParser, parse_page
from tests.support.gateway import RunningGateway, free_port, make_config, running_gateway

LOA2 = "http://ftn.ficora.fi/2017/loa2"
LOA3 = "http://ftn.ficora.fi/2017/loa3"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
HETU = re.compile(r"(\d{6})[-+A](\d{3})([0-9A-Y])")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Attempt:
    """One authorization request as the relying party remembers it."""

    url: str
    state: str
    nonce: str
    verifier: str


@dataclass
class RelyingParty:
    """A standard OpenID Connect client to the FTN profile."""

    base_url: str
    now: Callable[[], float]
    client_id: str = DEMO_CLIENT_ID
    sig_key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    enc_key: RSAKey = field(
        default_factory=lambda: RSAKey.generate_key(
            2048, parameters={"use": "enc", "alg": "RSA-OAEP-256", "kid": "rp-enc"}
        )
    )
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def redirect_uri(self) -> str:
        return self.base_url + "/oidc/callback"

    def jwks(self) -> dict[str, Any]:
        sig = RSAAlgorithm.to_jwk(self.sig_key.public_key(), as_dict=True)
        sig.update({"kid": "rp-sig", "use": "sig", "alg": "RS256"})
        return {"keys": [sig, self.enc_key.as_dict(private=False)]}

    async def discover(self, http: aiohttp.ClientSession) -> dict[str, Any]:
        url = self.base_url + "/demo-idp/.well-known/openid-configuration"
        async with http.get(url) as response:
            assert response.status == 200
            self.metadata = await response.json()
        return self.metadata

    def request_object(
        self, claims: Mapping[str, Any], key: rsa.RSAPrivateKey | None = None
    ) -> str:
        return jwt.encode(
            dict(claims), key or self.sig_key, algorithm="RS256", headers={"kid": "rp-sig"}
        )

    def start(
        self,
        *,
        acr_values: str = f"{LOA3} {LOA2}",
        overrides: Mapping[str, Any] | None = None,
        drop: tuple[str, ...] = (),
        key: rsa.RSAPrivateKey | None = None,
        query: Mapping[str, str] | None = None,
    ) -> Attempt:
        state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        verifier = secrets.token_urlsafe(48)
        now = int(self.now())
        claims: dict[str, Any] = {
            "iss": self.client_id,
            "aud": self.metadata["issuer"],
            "iat": now,
            "exp": now + 300,
            "client_id": self.client_id,
            "response_type": "code",
            "scope": "openid profile personal_identity_code",
            "redirect_uri": self.redirect_uri,
            "state": state,
            "nonce": nonce,
            "acr_values": acr_values,
            "code_challenge": _b64(hashlib.sha256(verifier.encode()).digest()),
            "code_challenge_method": "S256",
            "ui_locales": "en",
            **(overrides or {}),
        }
        for name in drop:
            claims.pop(name, None)
        params = {
            "client_id": self.client_id,
            "response_type": "code",
            "scope": "openid",
            "request": self.request_object(claims, key),
            **(query or {}),
        }
        url = self.metadata["authorization_endpoint"] + "?" + urlencode(params)
        return Attempt(url, state, nonce, verifier)

    def assertion(self, *, audience: str | None = None, jti: str | None = None) -> str:
        now = int(self.now())
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": audience or self.metadata["token_endpoint"],
            "jti": jti or secrets.token_urlsafe(16),
            "iat": now,
            "exp": now + 60,
        }
        return jwt.encode(claims, self.sig_key, algorithm="RS256", headers={"kid": "rp-sig"})

    async def exchange(
        self,
        http: aiohttp.ClientSession,
        code: str,
        verifier: str | None,
        *,
        assertion: str | None = None,
        redirect_uri: str | None = None,
    ) -> aiohttp.ClientResponse:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri or self.redirect_uri,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion or self.assertion(),
        }
        if verifier is not None:
            form["code_verifier"] = verifier
        response = await http.post(self.metadata["token_endpoint"], data=form)
        await response.read()
        return response

    async def open_id_token(self, http: aiohttp.ClientSession, token: str) -> dict[str, Any]:
        algorithms = ["RSA-OAEP-256", "A256GCM"]
        decrypted = jwe.decrypt_compact(token, self.enc_key, algorithms=algorithms)
        assert decrypted.protected["alg"] == "RSA-OAEP-256"
        assert decrypted.protected["enc"] == "A256GCM"
        assert decrypted.plaintext is not None
        async with http.get(self.metadata["jwks_uri"]) as response:
            provider_keys = jwt.PyJWKSet.from_dict(await response.json())
        signed = decrypted.plaintext.decode()
        header = jwt.get_unverified_header(signed)
        assert header["alg"] == "RS256"
        key = next(k for k in provider_keys.keys if k.key_id == header["kid"])
        claims: dict[str, Any] = jwt.decode(
            signed,
            key,
            algorithms=["RS256"],
            audience=self.client_id,
            issuer=self.metadata["issuer"],
            options={"require": ["exp", "iat", "sub", "nonce"], "verify_exp": False},
        )
        return claims


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime.now(UTC))


@pytest.fixture
async def demo(clock: FakeClock) -> AsyncIterator[RunningGateway]:
    config = make_config({"identification": {"demo": True}})
    async with running_gateway(config, clock=clock) as gateway:
        yield gateway


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


@pytest.fixture
async def rp(demo: RunningGateway, clock: FakeClock, http: aiohttp.ClientSession) -> RelyingParty:
    party = RelyingParty(demo.base_url, lambda: clock.now().timestamp())
    demo.app[keys.DEMO_IDP].set_client_jwks(DEMO_CLIENT_ID, InProcessJwks(party.jwks))
    await party.discover(http)
    return party


async def open_page(http: aiohttp.ClientSession, attempt: Attempt) -> FormParser:
    async with http.get(attempt.url, allow_redirects=False) as response:
        assert response.status == 200, await response.text()
        return parse_page(await response.text())


async def choose(
    http: aiohttp.ClientSession,
    attempt: Attempt,
    page: FormParser,
    *,
    action: str = "identify",
    person: int = 0,
    base_url: str,
) -> str:
    form = {**page.hidden, "person": page.radios[person]["value"], "action": action}
    async with http.post(
        urljoin(attempt.url, page.action),
        data=form,
        allow_redirects=False,
        headers={"Origin": base_url},
    ) as response:
        assert response.status == 303, await response.text()
        return response.headers["Location"]


def callback_params(rp: RelyingParty, location: str) -> dict[str, str]:
    assert location.startswith(rp.redirect_uri + "?")
    params = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    assert params["iss"] == rp.metadata["issuer"]
    return params


async def identify(
    http: aiohttp.ClientSession, rp: RelyingParty, demo: RunningGateway, **start: Any
) -> tuple[Attempt, str]:
    """Run the browser part: the attempt and the code it got."""
    attempt = rp.start(**start)
    page = await open_page(http, attempt)
    params = callback_params(rp, await choose(http, attempt, page, base_url=demo.base_url))
    assert params["state"] == attempt.state
    return attempt, params["code"]


def check_character(code: str) -> str:
    match = HETU.fullmatch(code)
    assert match
    return "0123456789ABCDEFHJKLMNPRSTUVWXY"[int(match[1] + match[2]) % 31]


# ---- the whole flow ---------------------------------------------------------------------


async def test_full_flow_as_a_standard_relying_party(
    demo: RunningGateway, rp: RelyingParty, http: aiohttp.ClientSession
) -> None:
    meta = rp.metadata
    issuer = demo.base_url + "/demo-idp"
    assert meta["issuer"] == issuer
    assert meta["authorization_endpoint"] == issuer + "/authorize"
    assert meta["token_endpoint"] == issuer + "/token"
    assert meta["jwks_uri"] == issuer + "/jwks"
    assert meta["response_types_supported"] == ["code"]
    assert meta["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert meta["request_object_signing_alg_values_supported"] == ["RS256"]
    assert meta["id_token_signing_alg_values_supported"] == ["RS256"]
    assert meta["id_token_encryption_alg_values_supported"] == ["RSA-OAEP-256"]
    assert meta["id_token_encryption_enc_values_supported"] == ["A256GCM"]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["subject_types_supported"] == ["public"]
    assert set(meta["acr_values_supported"]) == {LOA2, LOA3}
    assert {"personal_identity_code", "birthdate", "name"} <= set(meta["claims_supported"])

    attempt = rp.start()
    async with http.get(attempt.url) as response:
        assert response.status == 200
        assert response.headers["Cache-Control"] == "no-store"
        policy = response.headers["Content-Security-Policy"]
        assert f"form-action 'self' {demo.base_url}" in policy
        assert "frame-ancestors 'none'" in policy
        # A browser posts the form with "Origin: null" under no-referrer: the gateway
        # would refuse it.
        assert response.headers["Referrer-Policy"] == "same-origin"
        html = await response.text()
    page = parse_page(html)
    text = " ".join(page.text)
    assert '<html lang="en"' in html  # ui_locales=en
    assert "no-referrer" not in html
    assert "DEMO" in text
    assert "These are made-up test persons." in text
    assert 3 <= len(page.radios) <= 4
    assert all(r["name"] == "person" for r in page.radios)
    assert sorted(page.label_for) == sorted(r["id"] for r in page.radios)  # every one labelled
    assert "<legend>" in html
    assert page.buttons == {"identify": "Identify as test person", "cancel": "Cancel"}
    assert set(page.hidden) >= {"auth", "csrf"}

    location = await choose(http, attempt, page, person=1, base_url=demo.base_url)
    params = callback_params(rp, location)
    assert params["state"] == attempt.state
    assert "error" not in params

    response = await rp.exchange(http, params["code"], attempt.verifier)
    assert response.status == 200, await response.text()
    assert response.headers["Cache-Control"] == "no-store"
    body = await response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] > 0 and body["access_token"]
    assert body["id_token"].count(".") == 4  # compact JWE, not a bare JWS

    claims = await rp.open_id_token(http, body["id_token"])
    assert claims["iss"] == rp.metadata["issuer"]
    assert claims["aud"] == DEMO_CLIENT_ID
    assert claims["nonce"] == attempt.nonce
    assert claims["acr"] == LOA3
    assert claims["exp"] - claims["iat"] == 300
    assert abs(claims["iat"] - demo.app[keys.CLOCK].now().timestamp()) < 5
    assert claims["auth_time"] <= claims["iat"]
    for name in ("name", "given_name", "family_name", "birthdate", "personal_identity_code"):
        assert isinstance(claims[name], str) and claims[name], name
    assert claims["name"] == f"{claims['given_name']} {claims['family_name']}"
    code = claims["personal_identity_code"]
    assert 900 <= int(code[7:10]) <= 999  # a number reserved for testing
    assert code[-1] == check_character(code)
    born = datetime.strptime(claims["birthdate"], "%Y-%m-%d")
    assert code[:6] == born.strftime("%d%m%y")
    assert code[6] == {19: "-", 20: "A"}[born.year // 100]


async def test_the_same_person_has_the_same_subject(
    demo: RunningGateway, rp: RelyingParty, http: aiohttp.ClientSession
) -> None:
    subjects = []
    for _ in range(2):
        attempt, code = await identify(http, rp, demo)
        body = await (await rp.exchange(http, code, attempt.verifier)).json()
        subjects.append((await rp.open_id_token(http, body["id_token"]))["sub"])
    assert subjects[0] == subjects[1]


async def test_loa2_only_when_only_substantial_is_asked_for(
    demo: RunningGateway, rp: RelyingParty, http: aiohttp.ClientSession
) -> None:
    attempt, code = await identify(http, rp, demo, acr_values=LOA2)
    body = await (await rp.exchange(http, code, attempt.verifier)).json()
    assert (await rp.open_id_token(http, body["id_token"]))["acr"] == LOA2


async def test_cancel_returns_access_denied(
    demo: RunningGateway, rp: RelyingParty, http: aiohttp.ClientSession
) -> None:
    attempt = rp.start()
    page = await open_page(http, attempt)
    location = await choose(http, attempt, page, action="cancel", base_url=demo.base_url)
    params = callback_params(rp, location)
    assert params["error"] == "access_denied"
    assert params["state"] == attempt.state
    assert "code" not in params


async def test_finnish_page_by_default(
    demo: RunningGateway, rp: RelyingParty, http: aiohttp.ClientSession
) -> None:
    attempt = rp.start(drop=("ui_locales",))
    async with http.get(attempt.url) as response:
        html = await response.text()
    assert '<html lang="fi"' in html
    assert "Tunnistaudu testihenkilönä" in html
    assert "DEMO" in html
    assert "lang=en" in html  # the language link keeps the request


# ---- refusals at the authorization endpoint ---------------------------------------------


async def test_bad_request_object_signature(
    demo: RunningGateway, rp: RelyingParty, http: aiohttp.ClientSession
) -> None:
    intruder = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    # Without a registered redirect URI in the query: an error page, no redirect.
    attempt = rp.start(key=intruder)
    async with http.get(attempt.url, allow_redirects=False) as response:
        assert response.status == 400
        html = await response.text()
    assert "Identify as test person" not in html
    assert "Identification cannot continue" in html or "Tunnistautuminen ei voi" in html
    # With it (and a state) in the query: the refusal goes back to the client.
    attempt = rp.start(key=intruder, query={"redirect_uri": rp.redirect_uri, "state": "s1"})
    async with http.get(attempt.url, allow_redirects=False) as response:
        assert response.status == 303
        params = callback_params(rp, response.headers["Location"])
    assert params["error"] == "invalid_request_object"
    assert params["state"] == "s1"


async def test_request_object_for_another_audience_or_expired(
    demo: RunningGateway, rp: RelyingParty, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    for overrides in (
        {"aud": "https://broker.example.fi"},
        {"iss": "someone-else"},
        {"exp": int(clock.now().timestamp()) - 120},
    ):
        attempt = rp.start(overrides=overrides, query={"redirect_uri": rp.redirect_uri})
        async with http.get(attempt.url, allow_redirects=False) as response:
            assert response.status == 303, overrides
            params = callback_params(rp, response.headers["Location"])
            assert params["error"] == "invalid_request_object", overrides


async def test_no_request_object_is_refused(
    demo: RunningGateway, rp: RelyingParty, http: aiohttp.ClientSession
) -> None:
    params = {
        "client_id": DEMO_CLIENT_ID,
        "response_type": "code",
        "scope": "openid",
        "redirect_uri": rp.redirect_uri,
        "state": "s2",
        "nonce": "n",
        "code_challenge": "x" * 43,
        "code_challenge_method": "S256",
    }
    url = rp.metadata["authorization_endpoint"] + "?" + urlencode(params)
    async with http.get(url, allow_redirects=False) as response:
        assert response.status == 303
        back = callback_params(rp, response.headers["Location"])
    assert back["error"] == "invalid_request"
    assert back["state"] == "s2"


async def test_wrong_redirect_uri_is_never_followed(
    demo: RunningGateway, rp: RelyingParty, http: aiohttp.ClientSession
) -> None:
    for uri in ("https://attacker.example/cb", rp.redirect_uri + "/more", rp.redirect_uri + "?x"):
        attempt = rp.start(overrides={"redirect_uri": uri}, query={"redirect_uri": uri})
        async with http.get(attempt.url, allow_redirects=False) as response:
            assert response.status == 400, uri
            assert "Location" not in response.headers
            assert "Identify as test person" not in await response.text()


async def test_unknown_client(
    demo: RunningGateway, rp: RelyingParty, http: aiohttp.ClientSession
) -> None:
    rp.client_id = "nobody"
    attempt = rp.start(query={"redirect_uri": rp.redirect_uri})
    async with http.get(attempt.url, allow_redirects=False) as response:
        assert response.status == 400
        assert "Location" not in response.headers
    response = await rp.exchange(http, "whatever", "v" * 43)
    assert response.status == 401
    assert (await response.json())["error"] == "invalid_client"


@pytest.mark.parametrize(
    ("overrides", "drop", "error"),
    [
        ({}, ("code_challenge",), "invalid_request"),
        ({"code_challenge_method": "plain"}, (), "invalid_request"),
        ({}, ("code_challenge_method",), "invalid_request"),
        ({}, ("nonce",), "invalid_request"),
        ({"response_type": "token"}, (), "unsupported_response_type"),
        ({"scope": "profile"}, (), "invalid_scope"),
        ({"prompt": "none"}, (), "login_required"),
    ],
)
async def test_authorization_parameters_are_checked(
    demo: RunningGateway,
    rp: RelyingParty,
    http: aiohttp.ClientSession,
    overrides: dict[str, Any],
    drop: tuple[str, ...],
    error: str,
) -> None:
    attempt = rp.start(overrides=overrides, drop=drop)
    async with http.get(attempt.url, allow_redirects=False) as response:
        assert response.status == 303
        params = callback_params(rp, response.headers["Location"])
    assert params["error"] == error
    assert params["state"] == attempt.state


async def test_missing_state_is_refused(
    demo: RunningGateway, rp: RelyingParty, http: aiohttp.ClientSession
) -> None:
    attempt = rp.start(drop=("state",))
    async with http.get(attempt.url, allow_redirects=False) as response:
        assert response.status == 303
        params = callback_params(rp, response.headers["Location"])
    assert params["error"] == "invalid_request"
    assert "state" not in params


async def test_the_form_needs_its_csrf_token_and_its_browser(
    demo: RunningGateway, rp: RelyingParty, http: aiohttp.ClientSession
) -> None:
    attempt = rp.start()
    page = await open_page(http, attempt)
    url = urljoin(attempt.url, page.action)
    forged = {**page.hidden, "csrf": "forged", "person": page.radios[0]["value"]}
    async with http.post(url, data={**forged, "action": "identify"}) as response:
        assert response.status == 400
        assert "Location" not in response.headers
    # Another browser (without the page's cookie) with the right token: refused too.
    honest = {**page.hidden, "person": page.radios[0]["value"], "action": "identify"}
    async with (
        aiohttp.ClientSession() as other,
        other.post(url, data=honest, allow_redirects=False) as response,
    ):
        assert response.status == 400
    # The right browser still gets through, once.
    location = await choose(http, attempt, page, base_url=demo.base_url)
    assert "code" in callback_params(rp, location)
    async with http.post(url, data=honest, allow_redirects=False) as response:
        assert response.status == 400
        assert "expired or was used already" in await response.text()


# ---- refusals at the token endpoint -----------------------------------------------------


async def test_pkce_verifier_missing_or_wrong(
    demo: RunningGateway, rp: RelyingParty, http: aiohttp.ClientSession
) -> None:
    attempt, code = await identify(http, rp, demo)
    response = await rp.exchange(http, code, None)
    assert response.status == 400
    assert (await response.json())["error"] == "invalid_request"

    attempt, code = await identify(http, rp, demo)
    response = await rp.exchange(http, code, secrets.token_urlsafe(48))
    assert response.status == 400
    assert (await response.json())["error"] == "invalid_grant"
    # The code is spent by the failed try: the right verifier no longer helps.
    response = await rp.exchange(http, code, attempt.verifier)
    assert (await response.json())["error"] == "invalid_grant"


async def test_code_works_once(
    demo: RunningGateway, rp: RelyingParty, http: aiohttp.ClientSession
) -> None:
    attempt, code = await identify(http, rp, demo)
    assert (await rp.exchange(http, code, attempt.verifier)).status == 200
    response = await rp.exchange(http, code, attempt.verifier)
    assert response.status == 400
    assert (await response.json())["error"] == "invalid_grant"


async def test_code_is_bound_to_the_redirect_uri(
    demo: RunningGateway, rp: RelyingParty, http: aiohttp.ClientSession
) -> None:
    attempt, code = await identify(http, rp, demo)
    response = await rp.exchange(
        http, code, attempt.verifier, redirect_uri=rp.redirect_uri + "/other"
    )
    assert (await response.json())["error"] == "invalid_grant"


async def test_code_expires_after_60_seconds(
    demo: RunningGateway, rp: RelyingParty, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    attempt, code = await identify(http, rp, demo)
    clock.advance(61)
    response = await rp.exchange(http, code, attempt.verifier)
    assert response.status == 400
    assert (await response.json())["error"] == "invalid_grant"
    # Within the minute it works.
    attempt, code = await identify(http, rp, demo)
    clock.advance(50)
    assert (await rp.exchange(http, code, attempt.verifier)).status == 200


async def test_client_assertion_jti_works_once(
    demo: RunningGateway, rp: RelyingParty, http: aiohttp.ClientSession
) -> None:
    assertion = rp.assertion()
    attempt, code = await identify(http, rp, demo)
    assert (await rp.exchange(http, code, attempt.verifier, assertion=assertion)).status == 200
    attempt, code = await identify(http, rp, demo)
    response = await rp.exchange(http, code, attempt.verifier, assertion=assertion)
    assert response.status == 401
    assert (await response.json())["error"] == "invalid_client"
    # The code was not spent by the refused client: a fresh assertion still gets it.
    assert (await rp.exchange(http, code, attempt.verifier)).status == 200


async def test_client_assertion_audience_token_endpoint_or_issuer(
    demo: RunningGateway, rp: RelyingParty, http: aiohttp.ClientSession
) -> None:
    for audience, status in (
        (rp.metadata["issuer"], 200),
        (rp.metadata["token_endpoint"], 200),
        ("https://broker.example.fi/token", 401),
    ):
        attempt, code = await identify(http, rp, demo)
        assertion = rp.assertion(audience=audience)
        response = await rp.exchange(http, code, attempt.verifier, assertion=assertion)
        assert response.status == status, audience


async def test_client_assertion_must_be_signed_by_the_client(
    demo: RunningGateway, rp: RelyingParty, http: aiohttp.ClientSession
) -> None:
    attempt, code = await identify(http, rp, demo)
    intruder = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(rp.now())
    forged = jwt.encode(
        {
            "iss": rp.client_id,
            "sub": rp.client_id,
            "aud": rp.metadata["token_endpoint"],
            "jti": "j1",
            "exp": now + 60,
        },
        intruder,
        algorithm="RS256",
        headers={"kid": "rp-sig"},
    )
    response = await rp.exchange(http, code, attempt.verifier, assertion=forged)
    assert response.status == 401
    assert (await response.json())["error"] == "invalid_client"
    without = await http.post(
        rp.metadata["token_endpoint"],
        data={"grant_type": "authorization_code", "code": code, "code_verifier": "x" * 43},
    )
    assert without.status == 401
    assert (await without.json())["error"] == "invalid_client"


async def test_token_request_shape(
    demo: RunningGateway, rp: RelyingParty, http: aiohttp.ClientSession
) -> None:
    url = rp.metadata["token_endpoint"]
    async with http.post(url, data={"grant_type": "password"}) as response:
        assert response.status == 400
        assert (await response.json())["error"] == "unsupported_grant_type"
    async with http.post(url, json={"grant_type": "authorization_code"}) as response:
        assert response.status == 400
        assert (await response.json())["error"] == "invalid_request"
    body = "grant_type=authorization_code&code=a&code=b"
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    async with http.post(url, data=body, headers=headers) as response:
        assert (await response.json())["error"] == "invalid_request"


async def test_keys_fetched_from_the_clients_jwks_uri(
    demo: RunningGateway, rp: RelyingParty, http: aiohttp.ClientSession
) -> None:
    # The relying party's keys served by a separate little server, as a jwks_uri.
    async def jwks(request: web.Request) -> web.Response:
        return web.json_response(rp.jwks())

    keys_app = web.Application()
    keys_app.router.add_get("/jwks.json", jwks)
    runner = web.AppRunner(keys_app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        source = HttpJwks(f"http://127.0.0.1:{port}/jwks.json")
        demo.app[keys.DEMO_IDP].set_client_jwks(DEMO_CLIENT_ID, source)
        attempt, code = await identify(http, rp, demo)
        response = await rp.exchange(http, code, attempt.verifier)
        assert response.status == 200
        claims = await rp.open_id_token(http, (await response.json())["id_token"])
        assert claims["nonce"] == attempt.nonce
    finally:
        await runner.cleanup()


async def test_nothing_secret_or_personal_is_logged(
    demo: RunningGateway,
    rp: RelyingParty,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    attempt, code = await identify(http, rp, demo)
    body = await (await rp.exchange(http, code, attempt.verifier)).json()
    claims = await rp.open_id_token(http, body["id_token"])
    await rp.exchange(http, code, attempt.verifier)  # a refusal is logged
    text = caplog.text
    assert "demo identification: token request refused (invalid_grant)" in text
    for secret in (
        code,
        attempt.state,
        attempt.nonce,
        body["access_token"],
        body["id_token"][:40],
        claims["personal_identity_code"],
        claims["family_name"],
    ):
        assert secret not in text


# ---- on, off and the flag -----------------------------------------------------------------


async def test_demo_flag_in_hello_and_lines(demo: RunningGateway) -> None:
    client = await demo.resident()
    try:
        hello = await client.request("hello", protocol=1)
        assert hello["demoIdentification"] is True
    finally:
        await client.close()
    async with (
        aiohttp.ClientSession() as http,
        http.get(demo.base_url + "/api/lines") as response,
    ):
        assert (await response.json())["demoIdentification"] is True


async def test_off_by_default() -> None:
    async with running_gateway() as gateway:
        assert not gateway.config.demo_identification
        assert keys.DEMO_IDP not in gateway.app
        client = await gateway.resident()
        try:
            hello = await client.request("hello", protocol=1)
            assert hello["demoIdentification"] is False
        finally:
            await client.close()
        async with aiohttp.ClientSession() as http:
            for path in ("/.well-known/openid-configuration", "/jwks", "/authorize"):
                async with http.get(gateway.base_url + "/demo-idp" + path) as response:
                    assert response.status == 404, path
            async with http.post(gateway.base_url + "/demo-idp/token", data={}) as response:
                assert response.status == 404
            async with http.get(gateway.base_url + "/api/lines") as response:
                assert (await response.json())["demoIdentification"] is False


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "gateway.example.fi"])
async def test_refused_off_loopback(host: str) -> None:
    config = make_config({"server": {"host": host}, "identification": {"demo": True}})
    with pytest.raises(ConfigError, match="loopback"):
        await create_app(config)
