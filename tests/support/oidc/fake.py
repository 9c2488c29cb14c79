"""A fake OpenID provider in-process, for unit tests that need tokens a real one never makes.

The real provider (oidc-provider) is used by the integration tests; it cannot be asked for
an ID token with ``alg: none``, a wrong ``aud`` or a made-up ``kid``. This fake holds its
own RSA signing key, makes such tokens on request, and answers the relying party's HTTP
(discovery, JWKS, token endpoint) through :class:`FakeTransport`. Its token endpoint checks
what a provider checks: the client assertion (signature by the client's published key,
``kid``, fresh ``jti``, ``aud``) or the Basic secret, the redirect URI and PKCE.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import secrets
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl, unquote_plus, urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwe
from joserfc.jwk import RSAKey

from gateway.oidc.client_keys import ClientKeyRing, key_file_name
from gateway.oidc.config import FTN_HIGH, IdentificationConfig, parse_identification
from gateway.oidc.errors import IdentificationError
from gateway.oidc.id_token import IdTokenVerifier
from gateway.oidc.relying_party import RelyingParty
from rooms.clock import Clock, FakeClock
from rooms.identification import MemoryIdentificationFlowStore

ISSUER: Final = "https://broker.example.test"
CLIENT_ID: Final = "tukilinja-test-client"
TEST_PERSON: Final = {
    "sub": "fake-subject-7f3a",
    "name": "Väinö Demo-Testaaja",
    "given_name": "Väinö",
    "family_name": "Demo-Testaaja",
    "birthdate": "1990-01-01",
    "personal_identity_code": "010190-904U",
}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@functools.cache
def pooled_rsa_keys() -> tuple[rsa.RSAPrivateKey, ...]:
    """Three keys made once per test run (the fake's, the client's sig and enc keys)."""
    return tuple(new_rsa_key() for _ in range(3))


def write_pem(directory: Path, name: str, key: rsa.RSAPrivateKey) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    (directory / name).write_bytes(pem)


def public_jwk(key: rsa.RSAPrivateKey, kid: str, use: str = "sig") -> dict[str, Any]:
    jwk = RSAKey.import_key(key.public_key()).as_dict(private=False)
    return {**jwk, "kid": kid, "use": use, "alg": "RS256"}


@dataclass
class Authorization:
    """What the fake remembers of an authorization request, by the code it issued."""

    client_id: str
    redirect_uri: str
    nonce: str
    code_challenge: str
    acr: str


@dataclass
class FakeProvider:
    """Discovery, JWKS and token endpoint of a made-up broker, with a test person."""

    clock: Clock
    client_jwks: Callable[[], Mapping[str, Any]]
    client_id: str = CLIENT_ID
    client_secret: str | None = None
    issuer: str = ISSUER
    iss_parameter: bool = True
    signing_key: rsa.RSAPrivateKey = field(default_factory=lambda: pooled_rsa_keys()[0])
    kid: str = "op-key-1"
    person: dict[str, str] = field(default_factory=lambda: dict(TEST_PERSON))
    acr: str = FTN_HIGH
    encrypt: bool = True
    codes: dict[str, Authorization] = field(default_factory=dict)
    seen_jti: set[str] = field(default_factory=set)
    assertions: list[dict[str, Any]] = field(default_factory=list)
    extra_jwks: list[dict[str, Any]] = field(default_factory=list)

    # -- endpoints -----------------------------------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": self.issuer + "/auth",
            "token_endpoint": self.issuer + "/token",
            "jwks_uri": self.issuer + "/jwks",
            "authorization_response_iss_parameter_supported": self.iss_parameter,
        }

    def jwks(self) -> dict[str, Any]:
        return {"keys": [public_jwk(self.signing_key, self.kid), *self.extra_jwks]}

    def authorize(self, url: str) -> dict[str, str]:
        """The callback query the provider would send the browser back with."""
        query = dict(parse_qsl(urlsplit(url).query))
        if "request" in query:
            params = jwt.decode(query["request"], options={"verify_signature": False})
        else:
            params = dict(query)
        code = secrets.token_urlsafe(16)
        self.codes[code] = Authorization(
            client_id=params["client_id"],
            redirect_uri=params["redirect_uri"],
            nonce=params["nonce"],
            code_challenge=params["code_challenge"],
            acr=self.acr,
        )
        response = {"code": code, "state": params["state"]}
        if self.iss_parameter:
            response["iss"] = self.issuer
        return response

    def token(self, form: Mapping[str, str], headers: Mapping[str, str]) -> tuple[int, Any]:
        if not self._client_authenticated(form, headers):
            return 401, {"error": "invalid_client"}
        grant = self.codes.pop(form.get("code", ""), None)
        if grant is None or grant.redirect_uri != form.get("redirect_uri"):
            return 400, {"error": "invalid_grant"}
        verifier = form.get("code_verifier", "")
        if b64(hashlib.sha256(verifier.encode()).digest()) != grant.code_challenge:
            return 400, {"error": "invalid_grant"}
        claims = self.claims(grant.nonce, acr=grant.acr)
        id_token = self.token_for(claims)
        return 200, {"access_token": "at", "token_type": "Bearer", "id_token": id_token}

    # -- token making --------------------------------------------------------------------------

    def claims(self, nonce: object, **overrides: Any) -> dict[str, Any]:
        now = int(self.clock.now().timestamp())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.client_id,
            "iat": now,
            "exp": now + 300,
            "nonce": nonce,
            "acr": self.acr,
            **self.person,
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def sign(
        self,
        claims: Mapping[str, Any],
        *,
        key: rsa.RSAPrivateKey | None = None,
        headers: Mapping[str, Any] | None = None,
    ) -> str:
        # PyJWS, not PyJWT: it signs any payload, also claims PyJWT would refuse to make.
        return jwt.PyJWS().encode(
            json.dumps(dict(claims)).encode(),
            key or self.signing_key,
            algorithm="RS256",
            headers={"kid": self.kid, **(headers or {})},
        )

    def encrypt_to(
        self,
        token: str,
        jwk: Mapping[str, Any],
        *,
        alg: str = "RSA-OAEP-256",
        enc: str = "A256GCM",
        header: Mapping[str, Any] | None = None,
    ) -> str:
        key = RSAKey.import_key(dict(jwk))
        protected = {"alg": alg, "enc": enc, "cty": "JWT", **(header or {})}
        if "kid" in jwk and "kid" not in protected:
            protected["kid"] = jwk["kid"]
        protected = {k: v for k, v in protected.items() if v is not None}
        registry = jwe.JWERegistry(algorithms=[alg, enc], strict_check_header=False)
        return jwe.encrypt_compact(protected, token.encode(), key, registry=registry)

    def client_encryption_jwk(self) -> dict[str, Any]:
        return next(k for k in self.client_jwks()["keys"] if k["use"] == "enc")

    def token_for(self, claims: Mapping[str, Any]) -> str:
        signed = self.sign(claims)
        return self.encrypt_to(signed, self.client_encryption_jwk()) if self.encrypt else signed

    # -- client authentication -----------------------------------------------------------------

    def _client_authenticated(self, form: Mapping[str, str], headers: Mapping[str, str]) -> bool:
        if self.client_secret is not None:
            scheme, _, encoded = headers.get("Authorization", "").partition(" ")
            if scheme != "Basic":
                return False
            user, _, secret = base64.b64decode(encoded).decode().partition(":")
            # Both parts are form-encoded (RFC 6749 2.3.1), as oidc-provider decodes them.
            return (unquote_plus(user), unquote_plus(secret)) == (
                self.client_id,
                self.client_secret,
            )
        assertion = form.get("client_assertion")
        if form.get("client_assertion_type") != (
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        ) or not isinstance(assertion, str):
            return False
        header = jwt.get_unverified_header(assertion)
        keys = [k for k in self.client_jwks()["keys"] if k["use"] == "sig"]
        match = [k for k in keys if k["kid"] == header.get("kid")]
        if len(match) != 1:
            return False
        try:
            claims = jwt.decode(
                assertion,
                jwt.PyJWK(match[0]),
                algorithms=["RS256"],
                audience=[self.issuer + "/token", self.issuer],
                issuer=self.client_id,
                options={"verify_exp": False, "verify_iat": False},
            )
        except jwt.PyJWTError:
            return False
        if claims.get("sub") != self.client_id or claims.get("jti") in self.seen_jti:
            return False
        self.seen_jti.add(claims["jti"])
        self.assertions.append({"header": header, "claims": claims})
        return True


class FakeTransport:
    """The relying party's HTTP, answered by a :class:`FakeProvider`; counts requests."""

    def __init__(self, provider: FakeProvider) -> None:
        self.provider = provider
        self.gets: Counter[str] = Counter()
        self.posts: list[tuple[str, dict[str, str], dict[str, str]]] = []
        self.down = False

    async def get_json(self, url: str) -> Any:
        self.gets[url] += 1
        if self.down:
            raise IdentificationError("provider_unavailable")
        p = self.provider
        if url == p.issuer + "/.well-known/openid-configuration":
            return json.loads(json.dumps(p.metadata()))
        if url == p.issuer + "/jwks":
            return json.loads(json.dumps(p.jwks()))
        raise IdentificationError("provider_unavailable")

    async def post_form(
        self, url: str, form: Mapping[str, str], headers: Mapping[str, str]
    ) -> tuple[int, Any]:
        self.posts.append((url, dict(form), dict(headers)))
        if self.down:
            raise IdentificationError("provider_unavailable")
        if url != self.provider.issuer + "/token":
            return 404, None
        return self.provider.token(form, headers)


@dataclass
class FakeSetup:
    """A relying party wired to a :class:`FakeProvider`, with its own key directory."""

    clock: FakeClock
    config: IdentificationConfig
    ring: ClientKeyRing
    provider: FakeProvider
    transport: FakeTransport
    flows: MemoryIdentificationFlowStore
    rp: RelyingParty

    @property
    def verifier(self) -> IdTokenVerifier:
        return IdTokenVerifier(self.config, self.ring, self.rp.provider_keys, self.clock)


def fake_setup(
    keys_dir: Path, clock: FakeClock, *, ring: ClientKeyRing | None = None, **settings: Any
) -> FakeSetup:
    """The RP as ``client_id`` of the fake broker; ``settings`` override [identification].

    ``ring``: reuse the client keys of an earlier set-up (loading an RSA key is slow).
    """
    table: dict[str, Any] = {
        "issuer": ISSUER,
        "client_id": CLIENT_ID,
        "provider_name": "Fake broker",
        "keys_dir": str(keys_dir),
        **settings,
    }
    config = parse_identification(table)
    assert config is not None
    secret = None
    if config.auth_method == "client_secret_basic":
        secret = "s3cret/with:odd chars"
        config = replace(config, client_secret=secret)
    if ring is None:
        if not any(keys_dir.glob("*.pem")):
            starts = clock.now() - timedelta(hours=1)
            for use, key in zip(("sig", "enc"), pooled_rsa_keys()[1:], strict=True):
                write_pem(keys_dir, key_file_name(use, starts), key)
        ring = ClientKeyRing(
            keys_dir,
            clock,
            signing_alg=config.signing_alg,
            encryption_alg=config.id_token_encryption_alg,
            grace=timedelta(hours=config.key_grace_hours),
            new_key_bits=2048,
        )
        ring.load()
    provider = FakeProvider(
        clock=clock,
        client_jwks=ring.public_jwks,
        client_secret=secret,
        encrypt=config.id_token_encrypted,
    )
    transport = FakeTransport(provider)
    flows = MemoryIdentificationFlowStore()
    rp = RelyingParty(
        config,
        redirect_uri="https://tukilinja.example.test/oidc/callback",
        client_keys=ring,
        flows=flows,
        transport=transport,
        clock=clock,
        flow_secret=b"f" * 32,
    )
    return FakeSetup(clock, config, ring, provider, transport, flows, rp)
