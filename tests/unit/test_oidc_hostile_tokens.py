"""Hostile ID tokens, each refused with its own error code.

A real provider cannot be made to issue these, so this is the unit level: the tokens are
crafted here (PyJWT, joserfc, or by hand) with the keys of a fake provider made in the
test, and given to the relying party's verification (:class:`IdTokenVerifier`) as the
token endpoint's answer would be. Each case first shows the untouched token passing, so a
refusal is the hostile part's doing.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from jwt.algorithms import RSAAlgorithm

from gateway.oidc.config import FTN_HIGH, FTN_SUBSTANTIAL
from gateway.oidc.errors import IdentificationError
from rooms.clock import FakeClock
from tests.support.oidc.fake import ISSUER, FakeSetup, b64, fake_setup, new_rsa_key, public_jwk

T0 = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
NONCE = "nonce-of-this-flow"
JWKS_URI = ISSUER + "/jwks"


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> FakeSetup:
    """The client keys, loaded once for the module (loading an RSA key takes a while)."""
    return fake_setup(tmp_path_factory.mktemp("keys"), FakeClock(T0))


@pytest.fixture
def clock(shared: FakeSetup) -> FakeClock:
    shared.clock.set(T0)
    return shared.clock


@pytest.fixture
def fake(shared: FakeSetup, clock: FakeClock) -> FakeSetup:
    return setup_like(shared)


def setup_like(shared: FakeSetup, **settings: Any) -> FakeSetup:
    """A fresh provider, JWKS cache and relying party on the shared keys and clock."""
    return fake_setup(shared.ring.directory, shared.clock, ring=shared.ring, **settings)


async def verify(fake: FakeSetup, token: str) -> dict[str, Any]:
    return await fake.verifier.verify(token, jwks_uri=JWKS_URI, nonce=NONCE)


async def refused(fake: FakeSetup, token: str) -> str:
    with pytest.raises(IdentificationError) as caught:
        await verify(fake, token)
    return caught.value.code


def encrypted(fake: FakeSetup, signed: str) -> str:
    return fake.provider.encrypt_to(signed, fake.provider.client_encryption_jwk())


def by_hand(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    head = b64(json.dumps(header).encode())
    body = b64(json.dumps(claims).encode())
    return f"{head}.{body}.{b64(signature)}"


async def test_a_good_token_passes(fake: FakeSetup) -> None:
    claims = await verify(fake, fake.provider.token_for(fake.provider.claims(NONCE)))
    assert claims["sub"] == fake.provider.person["sub"]
    assert claims["acr"] == FTN_HIGH


async def test_alg_none(fake: FakeSetup) -> None:
    token = by_hand({"alg": "none", "typ": "JWT"}, fake.provider.claims(NONCE))
    assert await refused(fake, encrypted(fake, token)) == "unexpected_algorithm"


async def test_hs256_signed_with_the_providers_public_key(fake: FakeSetup) -> None:
    # The classic confusion: the verifier's RSA public key used as an HMAC secret.
    public_pem = fake.provider.signing_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": fake.provider.kid}
    unsigned = by_hand(header, fake.provider.claims(NONCE)).rsplit(".", 1)[0]
    mac = hmac.new(public_pem, unsigned.encode(), hashlib.sha256).digest()
    token = f"{unsigned}.{b64(mac)}"
    assert await refused(fake, encrypted(fake, token)) == "unexpected_algorithm"


async def test_a_jws_where_a_jwe_is_required(fake: FakeSetup) -> None:
    signed = fake.provider.sign(fake.provider.claims(NONCE))
    assert await refused(fake, signed) == "id_token_not_encrypted"


async def test_a_jws_is_accepted_when_encryption_is_not_required(
    shared: FakeSetup, clock: FakeClock
) -> None:
    fake = setup_like(shared, id_token_encrypted=False)
    signed = fake.provider.sign(fake.provider.claims(NONCE))
    assert (await verify(fake, signed))["sub"] == fake.provider.person["sub"]


@pytest.mark.parametrize("kid", ["ours", "another", None])
async def test_a_jwe_encrypted_to_another_key(fake: FakeSetup, kid: str | None) -> None:
    ours = fake.provider.client_encryption_jwk()
    other = public_jwk(new_rsa_key(), "someone-else", use="enc")
    if kid == "ours":
        other["kid"] = ours["kid"]
    elif kid is None:
        del other["kid"]
    signed = fake.provider.sign(fake.provider.claims(NONCE))
    token = fake.provider.encrypt_to(signed, other)
    assert await refused(fake, token) == "id_token_undecryptable"


@pytest.mark.parametrize(
    ("alg", "enc"), [("RSA-OAEP", "A256GCM"), ("RSA-OAEP-256", "A128GCM"), ("RSA1_5", "A256GCM")]
)
async def test_other_encryption_algorithms(fake: FakeSetup, alg: str, enc: str) -> None:
    signed = fake.provider.sign(fake.provider.claims(NONCE))
    jwk = fake.provider.client_encryption_jwk()
    if alg == "RSA1_5":  # joserfc will not make one: a header that claims it is enough
        token = encrypted(fake, signed)
        header = b64(json.dumps({"alg": alg, "enc": enc, "kid": jwk["kid"]}).encode())
        token = header + token[token.index(".") :]
    else:
        token = fake.provider.encrypt_to(signed, jwk, alg=alg, enc=enc)
    assert await refused(fake, token) == "unexpected_algorithm"


async def test_compressed_plaintext_is_refused(fake: FakeSetup) -> None:
    signed = fake.provider.sign(fake.provider.claims(NONCE))
    token = encrypted(fake, signed)
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    header["zip"] = "DEF"
    token = b64(json.dumps(header).encode()) + token[token.index(".") :]
    assert await refused(fake, token) == "unexpected_algorithm"


async def test_a_signature_by_another_key_under_the_providers_kid(fake: FakeSetup) -> None:
    signed = fake.provider.sign(fake.provider.claims(NONCE), key=new_rsa_key())
    assert await refused(fake, encrypted(fake, signed)) == "signature_invalid"


async def test_a_tampered_payload(fake: FakeSetup) -> None:
    head, _, signature = fake.provider.sign(fake.provider.claims(NONCE)).split(".")
    other = b64(json.dumps(fake.provider.claims(NONCE, name="Someone Else")).encode())
    assert await refused(fake, encrypted(fake, f"{head}.{other}.{signature}")) == (
        "signature_invalid"
    )


@pytest.mark.parametrize(
    "iss",
    [
        ISSUER + ".evil.example",
        ISSUER + "/",
        ISSUER + "x",
        "https://evil.example/" + ISSUER,
        "x" + ISSUER,
        ISSUER.upper(),
        [ISSUER],
        None,
    ],
)
async def test_iss_with_a_prefix_or_suffix(fake: FakeSetup, iss: object) -> None:
    token = fake.provider.token_for(fake.provider.claims(NONCE, iss=iss))
    assert await refused(fake, token) == "issuer_invalid"


@pytest.mark.parametrize(
    ("aud", "azp"),
    [
        ("another-client", None),
        ("tukilinja-test-client-2", None),
        (["another-client"], None),
        (["tukilinja-test-client", "another-client"], None),  # several, no azp
        (["tukilinja-test-client", "another-client"], "another-client"),
        ("tukilinja-test-client", "another-client"),
        (None, None),
    ],
)
async def test_wrong_aud(fake: FakeSetup, aud: object, azp: str | None) -> None:
    token = fake.provider.token_for(fake.provider.claims(NONCE, aud=aud, azp=azp))
    assert await refused(fake, token) == "audience_invalid"


async def test_several_audiences_with_our_azp_pass(fake: FakeSetup) -> None:
    claims = fake.provider.claims(
        NONCE, aud=["tukilinja-test-client", "other"], azp="tukilinja-test-client"
    )
    assert (await verify(fake, fake.provider.token_for(claims)))["azp"] == "tukilinja-test-client"


async def test_expired(fake: FakeSetup, clock: FakeClock) -> None:
    token = fake.provider.token_for(fake.provider.claims(NONCE))
    clock.advance(300 + 30)  # exp, plus the 30 s leeway: still good
    assert (await verify(fake, token))["nonce"] == NONCE
    clock.advance(1)
    assert await refused(fake, token) == "expired"


async def test_issued_too_long_ago(fake: FakeSetup, clock: FakeClock) -> None:
    now = int(clock.now().timestamp())
    token = fake.provider.token_for(fake.provider.claims(NONCE, iat=now - 11 * 60, exp=now + 3600))
    assert await refused(fake, token) == "expired"


@pytest.mark.parametrize("claim", ["nbf", "iat"])
async def test_nbf_or_iat_in_the_future(fake: FakeSetup, clock: FakeClock, claim: str) -> None:
    now = int(clock.now().timestamp())
    within = fake.provider.token_for(fake.provider.claims(NONCE, **{claim: now + 30}))
    assert (await verify(fake, within))["nonce"] == NONCE
    beyond = fake.provider.token_for(fake.provider.claims(NONCE, **{claim: now + 31}))
    assert await refused(fake, beyond) == "not_yet_valid"


@pytest.mark.parametrize("claim", ["exp", "iat", "sub"])
async def test_required_claims_missing(fake: FakeSetup, claim: str) -> None:
    token = fake.provider.token_for(fake.provider.claims(NONCE, **{claim: None}))
    assert await refused(fake, token) == "claims_missing"


@pytest.mark.parametrize("nonce", ["another-flow", "", None, 12, NONCE + "x"])
async def test_wrong_nonce(fake: FakeSetup, nonce: object) -> None:
    token = fake.provider.token_for(fake.provider.claims(nonce))
    assert await refused(fake, token) == "nonce_invalid"


async def test_acr_below_the_required_level(shared: FakeSetup, clock: FakeClock) -> None:
    fake = setup_like(shared, minimum_acr=FTN_HIGH)
    high = fake.provider.token_for(fake.provider.claims(NONCE, acr=FTN_HIGH))
    assert (await verify(fake, high))["acr"] == FTN_HIGH
    for acr in (FTN_SUBSTANTIAL, "http://ftn.ficora.fi/2017/loa4", "loa3", None, [FTN_HIGH]):
        token = fake.provider.token_for(fake.provider.claims(NONCE, acr=acr))
        assert await refused(fake, token) == "acr_insufficient", acr


async def test_substantial_passes_when_it_is_the_minimum(fake: FakeSetup) -> None:
    token = fake.provider.token_for(fake.provider.claims(NONCE, acr=FTN_SUBSTANTIAL))
    assert (await verify(fake, token))["acr"] == FTN_SUBSTANTIAL


async def test_critical_header_is_refused(fake: FakeSetup) -> None:
    header = {"alg": "RS256", "kid": fake.provider.kid, "crit": ["x-ext"], "x-ext": 1}
    unsigned = by_hand(header, fake.provider.claims(NONCE)).rsplit(".", 1)[0]
    rsa = RSAAlgorithm(RSAAlgorithm.SHA256)
    signature = rsa.sign(unsigned.encode(), fake.provider.signing_key)
    token = f"{unsigned}.{b64(signature)}"
    assert await refused(fake, encrypted(fake, token)) == "id_token_malformed"


@pytest.mark.parametrize(
    "token", ["", "abc", "a.b", "a.b.c.d", "a.b.c.d.e.f", "x" * 70_000, "a.b.c.d.e"]
)
async def test_malformed(fake: FakeSetup, token: str) -> None:
    assert await refused(fake, token) in ("id_token_malformed", "id_token_undecryptable")


async def test_a_storm_of_unknown_kids_fetches_the_jwks_once_per_window(
    fake: FakeSetup, clock: FakeClock
) -> None:
    good = fake.provider.token_for(fake.provider.claims(NONCE))
    await verify(fake, good)

    def jwks_gets() -> int:
        return fake.transport.gets[JWKS_URI]

    assert jwks_gets() == 1

    def unknown(i: int) -> str:
        signed = fake.provider.sign(fake.provider.claims(NONCE), headers={"kid": f"made-up-{i}"})
        return encrypted(fake, signed)

    storm = [unknown(i) for i in range(40)]
    codes = await asyncio.gather(*(refused(fake, token) for token in storm[:20]))
    assert set(codes) == {"signature_invalid"}
    assert jwks_gets() == 1  # the first fetch is still within the window: no refetch at all
    clock.advance(60)
    codes = await asyncio.gather(*(refused(fake, token) for token in storm[20:]))
    assert set(codes) == {"signature_invalid"}
    assert jwks_gets() == 2  # one refetch for the whole storm
    clock.advance(59)
    assert await refused(fake, unknown(99)) == "signature_invalid"
    assert jwks_gets() == 2
    assert (await verify(fake, good))["nonce"] == NONCE  # known keys need no fetch
    assert jwks_gets() == 2


async def test_a_rotated_provider_key_is_fetched_once_the_window_allows(
    fake: FakeSetup, clock: FakeClock
) -> None:
    await verify(fake, fake.provider.token_for(fake.provider.claims(NONCE)))
    clock.advance(61)
    fake.provider.signing_key, fake.provider.kid = new_rsa_key(), "op-key-2"
    token = fake.provider.token_for(fake.provider.claims(NONCE))
    assert (await verify(fake, token))["nonce"] == NONCE
    assert fake.transport.gets[JWKS_URI] == 2
