"""A minimal OpenID Connect provider with made-up test persons, for trying identification out.

It speaks the profile of the Finnish Trust Network brokers, so that the gateway's relying
party uses it exactly as it uses a real broker:

- authorization code flow with PKCE (``S256`` only), ``state`` and ``nonce`` required;
- the authorization parameters in a signed request object (``request``, RS256, ``iss`` =
  client id, ``aud`` = this issuer), checked against the client's JWKS;
- client authentication at the token endpoint by ``private_key_jwt`` (RS256; ``iss`` =
  ``sub`` = client id, ``aud`` = the token endpoint or the issuer, a fresh ``jti``);
- the ID token signed (RS256, this provider's key) and then encrypted (``RSA-OAEP-256`` +
  ``A256GCM``) to the client's ``use: enc`` key;
- ``acr`` ``http://ftn.ficora.fi/2017/loa3`` (high) unless the request asked only for
  ``…/loa2`` (substantial).

No HTTP here (see :mod:`gateway.demoidp.routes`). Everything lives in memory, bounded, for
one process: the signing key is made afresh at start. Codes, tokens and person data are
never logged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import secrets
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass, replace
from typing import Any, Final, TypeVar
from urllib.parse import urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey
from jwt.algorithms import RSAAlgorithm

from gateway.demoidp.clients import DemoClient, JwksError, JwksSource
from gateway.demoidp.persons import TEST_PERSONS, TestPerson
from rooms.clock import Clock

logger = logging.getLogger(__name__)

ISSUER_PATH: Final = "/demo-idp"
DEMO_CLIENT_ID: Final = "tukilinja-demo"
CALLBACK_PATH: Final = "/oidc/callback"
ACR_SUBSTANTIAL: Final = "http://ftn.ficora.fi/2017/loa2"
ACR_HIGH: Final = "http://ftn.ficora.fi/2017/loa3"
CLIENT_ASSERTION_TYPE: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
JWE_ALGORITHMS: Final = ("RSA-OAEP-256", "A256GCM")
PERSON_CLAIMS: Final = ("name", "given_name", "family_name", "birthdate", "personal_identity_code")
LANGUAGES: Final = ("fi", "en")

AUTHORIZATION_SECONDS: Final = 600.0  # how long the person page may stay open
CODE_SECONDS: Final = 60.0
ID_TOKEN_SECONDS: Final = 300
ACCESS_TOKEN_SECONDS: Final = 300
LEEWAY_SECONDS: Final = 30
MAX_ASSERTION_SECONDS: Final = 600  # a client assertion may not live longer than this
MAX_ENTRIES: Final = 1000  # of each: open authorizations, codes, used assertion ids

CODE_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
CODE_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")


class AuthorizationError(Exception):
    """A refused authorization request.

    With ``redirect_uri`` (a registered one) the refusal goes back to the client as
    RFC 6749 §4.1.2.1 says; without, the resident sees an error page (``page``: which).
    """

    def __init__(
        self,
        error: str,
        description: str,
        *,
        redirect_uri: str | None = None,
        state: str | None = None,
        page: str = "invalid",
    ) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.redirect_uri = redirect_uri
        self.state = state
        self.page = page


class TokenError(Exception):
    """A refused token request: RFC 6749 §5.2 JSON with ``status``."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


class _Refused(Exception):
    """A client's JWT that does not pass; the message says why (never its contents)."""


@dataclass(frozen=True)
class Authorization:
    """An authorization request that passed, waiting for the resident on the person page."""

    id: str
    csrf: str
    browser: str
    client_id: str
    redirect_uri: str
    state: str
    nonce: str
    code_challenge: str
    acr: str
    lang: str | None
    expires_at: float


@dataclass(frozen=True)
class Grant:
    """What an authorization code stands for."""

    client_id: str
    redirect_uri: str
    code_challenge: str
    nonce: str
    person: TestPerson
    acr: str
    auth_time: int
    expires_at: float


E = TypeVar("E")


class DemoProvider:
    """The demo OpenID Connect provider at ``issuer`` (state in memory, per process).

    Connect a relying party by registering it (:meth:`register_client`) or, for the
    gateway's own client registered by :meth:`for_gateway`, by giving it its keys
    (:meth:`set_client_jwks`).
    """

    def __init__(
        self,
        issuer: str,
        clock: Clock,
        *,
        clients: Iterable[DemoClient] = (),
        persons: Iterable[TestPerson] = TEST_PERSONS,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self._clock = clock
        self._clients = {client.client_id: client for client in clients}
        self.persons: tuple[TestPerson, ...] = tuple(persons)
        self._persons = {person.id: person for person in self.persons}
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        self.kid = _thumbprint(public)
        self._public_jwk = {**public, "kid": self.kid, "use": "sig", "alg": "RS256"}
        self._authorizations: dict[str, Authorization] = {}
        self._codes: dict[str, Grant] = {}
        self._used_assertions: dict[tuple[str, str], float] = {}

    @classmethod
    def for_gateway(cls, base_url: str, clock: Clock) -> DemoProvider:
        """The provider at ``{base_url}/demo-idp`` with the gateway's client registered.

        The client is ``tukilinja-demo`` with the redirect URI ``{base_url}/oidc/callback``
        and no keys yet: the gateway's relying party gives them with
        :meth:`set_client_jwks`.
        """
        base = base_url.rstrip("/")
        client = DemoClient(DEMO_CLIENT_ID, (base + CALLBACK_PATH,))
        return cls(base + ISSUER_PATH, clock, clients=[client])

    # ---- registration -----------------------------------------------------------------

    def register_client(self, client: DemoClient) -> None:
        """Register ``client`` (replacing one with the same id)."""
        self._clients[client.client_id] = client

    def set_client_jwks(self, client_id: str, jwks: JwksSource) -> None:
        """Where the public keys of the registered client ``client_id`` come from."""
        self._clients[client_id] = replace(self._clients[client_id], jwks=jwks)

    def client(self, client_id: str) -> DemoClient | None:
        return self._clients.get(client_id)

    # ---- metadata ---------------------------------------------------------------------

    @property
    def authorization_endpoint(self) -> str:
        return self.issuer + "/authorize"

    @property
    def token_endpoint(self) -> str:
        return self.issuer + "/token"

    @property
    def jwks_uri(self) -> str:
        return self.issuer + "/jwks"

    def jwks(self) -> dict[str, Any]:
        """This provider's public keys: the ID token signing key."""
        return {"keys": [dict(self._public_jwk)]}

    def metadata(self) -> dict[str, Any]:
        """OpenID Provider Metadata (OpenID Connect Discovery 1.0 §3)."""
        return {
            "issuer": self.issuer,
            "authorization_endpoint": self.authorization_endpoint,
            "token_endpoint": self.token_endpoint,
            "jwks_uri": self.jwks_uri,
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "scopes_supported": ["openid", "profile", "personal_identity_code"],
            "claims_supported": [
                "iss",
                "sub",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "nonce",
                "acr",
                *PERSON_CLAIMS,
            ],
            "acr_values_supported": [ACR_SUBSTANTIAL, ACR_HIGH],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
            "request_parameter_supported": True,
            "request_uri_parameter_supported": False,
            "require_request_uri_registration": False,
            "request_object_signing_alg_values_supported": ["RS256"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "id_token_encryption_alg_values_supported": ["RSA-OAEP-256"],
            "id_token_encryption_enc_values_supported": ["A256GCM"],
            "code_challenge_methods_supported": ["S256"],
            "claims_parameter_supported": False,
            "ui_locales_supported": list(LANGUAGES),
            "authorization_response_iss_parameter_supported": True,
        }

    # ---- authorization endpoint -------------------------------------------------------

    async def authorize(self, query: Mapping[str, str], browser: str) -> Authorization:
        """Check an authorization request (the query of ``GET /authorize``).

        ``browser``: the value of the browser's binding cookie; the person page's form is
        accepted only from the same browser. Raises :class:`AuthorizationError`.
        """
        now = self._now()
        client_id = query.get("client_id")
        client = self._clients.get(client_id) if client_id else None
        if client is None:
            raise self._refuse("unauthorized_client", "The client is not registered.")
        # Until the request object is verified only a registered redirect URI is trusted.
        redirect_uri = query.get("redirect_uri")
        trusted = redirect_uri if redirect_uri in client.redirect_uris else None
        state = query.get("state") if trusted else None
        if "request_uri" in query:
            raise self._refuse(
                "request_uri_not_supported",
                "Pass the request object in the request parameter.",
                trusted,
                state,
            )
        request = query.get("request")
        if not request:
            raise self._refuse(
                "invalid_request", "A signed request object is required.", trusted, state
            )
        try:
            params, _ = await self._verify_client_jwt(client, request, audience=[self.issuer])
            self._check_times(params, now, require_exp=False)
        except _Refused as exc:
            raise self._refuse(
                "invalid_request_object", f"The request object: {exc}", trusted, state
            ) from None
        except JwksError:
            raise self._refuse("server_error", "The client's keys are not available.") from None
        redirect_uri = params.get("redirect_uri")
        if not isinstance(redirect_uri, str) or redirect_uri not in client.redirect_uris:
            raise self._refuse("invalid_request", "The redirect URI is not registered.")
        state_value = params.get("state")
        state = state_value if isinstance(state_value, str) else None

        def refuse(error: str, description: str) -> AuthorizationError:
            return self._refuse(error, description, redirect_uri, state)

        if params.get("client_id", client.client_id) != client.client_id:
            raise refuse("invalid_request_object", "The request object names another client.")
        if params.get("response_type") != "code" or query.get("response_type", "code") != "code":
            raise refuse("unsupported_response_type", "Only the code flow is supported.")
        scope = params.get("scope")
        if not isinstance(scope, str) or "openid" not in scope.split():
            raise refuse("invalid_scope", "The scope must include openid.")
        if not _short_text(state):
            raise refuse("invalid_request", "A state is required.")
        nonce = params.get("nonce")
        if not _short_text(nonce):
            raise refuse("invalid_request", "A nonce is required.")
        if params.get("code_challenge_method") != "S256":
            raise refuse("invalid_request", "PKCE with code_challenge_method S256 is required.")
        challenge = params.get("code_challenge")
        if not isinstance(challenge, str) or not CODE_CHALLENGE.fullmatch(challenge):
            raise refuse("invalid_request", "The code_challenge is not an S256 challenge.")
        if params.get("prompt") == "none":
            raise refuse("login_required", "The resident must choose a test person.")
        assert state is not None and isinstance(nonce, str)
        authorization = Authorization(
            id=secrets.token_urlsafe(16),
            csrf=secrets.token_urlsafe(32),
            browser=browser,
            client_id=client.client_id,
            redirect_uri=redirect_uri,
            state=state,
            nonce=nonce,
            code_challenge=challenge,
            acr=_acr(params.get("acr_values")),
            lang=_ui_locale(params.get("ui_locales")),
            expires_at=now + AUTHORIZATION_SECONDS,
        )
        _keep(self._authorizations, authorization.id, authorization, now, _expiry)
        return authorization

    def decide(self, auth_id: str, csrf: str, browser: str, action: str, person_id: str) -> str:
        """The person page's answer: where to send the browser (``code`` or ``error``).

        Raises :class:`AuthorizationError` for a form that does not belong to a waiting
        authorization of this browser (no redirect: the page is shown).
        """
        now = self._now()
        _purge(self._authorizations, now, _expiry)
        authorization = self._authorizations.get(auth_id)
        if authorization is None:
            raise self._refuse("invalid_request", "The identification has expired.", page="expired")
        if not (
            hmac.compare_digest(authorization.csrf.encode(), csrf.encode())
            and hmac.compare_digest(authorization.browser.encode(), browser.encode())
        ):
            raise self._refuse("invalid_request", "The form does not belong to this browser.")
        del self._authorizations[auth_id]
        back = authorization.redirect_uri
        if action == "cancel":
            return self._location(
                back,
                error="access_denied",
                error_description="The resident cancelled.",
                state=authorization.state,
            )
        person = self._persons.get(person_id)
        if action != "identify" or person is None:
            raise self._refuse(
                "invalid_request", "No test person was chosen.", back, authorization.state
            )
        code = secrets.token_urlsafe(32)
        grant = Grant(
            client_id=authorization.client_id,
            redirect_uri=authorization.redirect_uri,
            code_challenge=authorization.code_challenge,
            nonce=authorization.nonce,
            person=person,
            acr=authorization.acr,
            auth_time=int(now),
            expires_at=now + CODE_SECONDS,
        )
        _keep(self._codes, code, grant, now, _expiry)
        return self._location(back, code=code, state=authorization.state)

    def error_location(self, error: AuthorizationError) -> str | None:
        """Where a refusal goes back to the client, if it may (a registered redirect URI)."""
        if error.redirect_uri is None:
            return None
        params = {"error": error.error, "error_description": error.description}
        if error.state is not None:
            params["state"] = error.state
        return self._location(error.redirect_uri, **params)

    def _location(self, redirect_uri: str, **params: str) -> str:
        # RFC 9207: the issuer rides along so a client talking to several can tell them apart.
        query = urlencode({**params, "iss": self.issuer})
        return redirect_uri + ("&" if urlsplit(redirect_uri).query else "?") + query

    def _refuse(
        self,
        error: str,
        description: str,
        redirect_uri: str | None = None,
        state: str | None = None,
        *,
        page: str = "invalid",
    ) -> AuthorizationError:
        logger.info("demo identification: authorization refused (%s)", error)
        return AuthorizationError(
            error, description, redirect_uri=redirect_uri, state=state, page=page
        )

    # ---- token endpoint ---------------------------------------------------------------

    async def token(self, form: Mapping[str, str]) -> dict[str, Any]:
        """Exchange a code for tokens (the form of ``POST /token``); :class:`TokenError`."""
        try:
            return await self._token(form)
        except TokenError as exc:
            logger.info("demo identification: token request refused (%s)", exc.error)
            raise

    async def _token(self, form: Mapping[str, str]) -> dict[str, Any]:
        now = self._now()
        grant_type = form.get("grant_type")
        if not grant_type:
            raise TokenError("invalid_request", "grant_type is missing.")
        if grant_type != "authorization_code":
            raise TokenError("unsupported_grant_type", "Only authorization_code is supported.")
        client, jwks = await self._authenticate(form, now)
        code = form.get("code")
        redirect_uri = form.get("redirect_uri")
        verifier = form.get("code_verifier")
        if not code or not redirect_uri:
            raise TokenError("invalid_request", "code and redirect_uri are required.")
        if not verifier:
            raise TokenError("invalid_request", "code_verifier is required (PKCE).")
        encryption_key = _encryption_key(jwks)
        if encryption_key is None:
            raise TokenError(
                "invalid_client", "The client has no RSA key with use enc for the ID token.", 401
            )
        _purge(self._codes, now, _expiry)
        grant = self._codes.pop(code, None)  # used once, whatever follows
        if grant is None:
            raise TokenError("invalid_grant", "The code is unknown, expired or already used.")
        if grant.client_id != client.client_id or grant.redirect_uri != redirect_uri:
            raise TokenError("invalid_grant", "The code was issued to another client or URI.")
        if not _pkce_matches(verifier, grant.code_challenge):
            raise TokenError("invalid_grant", "The code_verifier does not match the challenge.")
        issued = int(now)
        claims = {
            "iss": self.issuer,
            "sub": grant.person.subject,
            "aud": client.client_id,
            "exp": issued + ID_TOKEN_SECONDS,
            "iat": issued,
            "auth_time": grant.auth_time,
            "nonce": grant.nonce,
            "acr": grant.acr,
            **grant.person.claims(),
        }
        signed = jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid})
        protected = {"alg": "RSA-OAEP-256", "enc": "A256GCM", "cty": "JWT"}
        if isinstance(encryption_key.get("kid"), str):
            protected["kid"] = encryption_key["kid"]
        try:
            id_token = jwe.encrypt_compact(
                protected,
                signed.encode(),
                RSAKey.import_key(dict(encryption_key)),
                algorithms=JWE_ALGORITHMS,
            )
        except (JoseError, ValueError, TypeError):
            raise TokenError(
                "invalid_client", "The client's encryption key cannot be used.", 401
            ) from None
        return {
            "access_token": secrets.token_urlsafe(32),
            "token_type": "Bearer",
            "expires_in": ACCESS_TOKEN_SECONDS,
            "id_token": id_token,
        }

    async def _authenticate(
        self, form: Mapping[str, str], now: float
    ) -> tuple[DemoClient, Mapping[str, Any]]:
        """The client, by its ``private_key_jwt`` assertion, and its key set."""
        assertion = form.get("client_assertion")
        if form.get("client_assertion_type") != CLIENT_ASSERTION_TYPE or not assertion:
            raise TokenError("invalid_client", "Authenticate with private_key_jwt.", 401)
        try:
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise TokenError("invalid_client", "The client assertion is not a JWT.", 401) from None
        client_id = unverified.get("iss")
        client = self._clients.get(client_id) if isinstance(client_id, str) else None
        if client is None or form.get("client_id", client.client_id) != client.client_id:
            raise TokenError("invalid_client", "The client is not registered.", 401)
        audience = [self.token_endpoint, self.issuer]
        try:
            claims, jwks = await self._verify_client_jwt(client, assertion, audience=audience)
            self._check_times(claims, now, require_exp=True, max_seconds=MAX_ASSERTION_SECONDS)
        except _Refused as exc:
            raise TokenError("invalid_client", f"The client assertion: {exc}", 401) from None
        except JwksError:
            raise TokenError("invalid_client", "The client's keys are unavailable.", 401) from None
        if claims.get("sub") != client.client_id:
            raise TokenError("invalid_client", "The client assertion's sub is not the client.", 401)
        jti = claims.get("jti")
        if not _short_text(jti, 256):
            raise TokenError("invalid_client", "The client assertion has no jti.", 401)
        assert isinstance(jti, str)
        _purge(self._used_assertions, now, lambda expires: expires)
        if (client.client_id, jti) in self._used_assertions:
            raise TokenError("invalid_client", "The client assertion was used already.", 401)
        expires = float(claims["exp"]) + LEEWAY_SECONDS
        _keep(self._used_assertions, (client.client_id, jti), expires, now, lambda e: e)
        return client, jwks

    # ---- the client's JWTs ------------------------------------------------------------

    async def _client_jwks(self, client: DemoClient, refresh: bool = False) -> Mapping[str, Any]:
        if client.jwks is None:
            raise JwksError("no keys registered for the client")
        return await client.jwks.get_jwks(refresh=refresh)

    async def _verify_client_jwt(
        self, client: DemoClient, token: str, *, audience: list[str]
    ) -> tuple[dict[str, Any], Mapping[str, Any]]:
        """The claims of an RS256 JWT from ``client`` (signature, ``iss``, ``aud``).

        Also returns the client's key set it was checked with.
        """
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise _Refused("not a signed JWT") from None
        if header.get("alg") != "RS256":
            raise _Refused("must be signed with RS256")
        kid = header.get("kid")
        jwks = await self._client_jwks(client)
        keys = _signature_keys(jwks, kid)
        if not keys:  # perhaps a new key: look again once
            jwks = await self._client_jwks(client, refresh=True)
            keys = _signature_keys(jwks, kid)
        if not keys:
            raise _Refused("no signing key of the client matches")
        for key in keys:
            try:
                claims: dict[str, Any] = jwt.decode(
                    token,
                    key,
                    algorithms=["RS256"],
                    audience=audience,
                    issuer=client.client_id,
                    options={
                        "require": ["iss", "aud"],
                        "verify_exp": False,  # checked against the gateway's clock
                        "verify_nbf": False,
                        "verify_iat": False,
                    },
                )
            except jwt.InvalidSignatureError:
                continue
            except jwt.InvalidAudienceError:
                raise _Refused("aud is not this provider") from None
            except jwt.InvalidIssuerError:
                raise _Refused("iss is not the client id") from None
            except jwt.PyJWTError:
                raise _Refused("not a valid JWT") from None
            return claims, jwks
        raise _Refused("the signature does not verify")

    def _check_times(
        self,
        claims: Mapping[str, Any],
        now: float,
        *,
        require_exp: bool,
        max_seconds: int | None = None,
    ) -> None:
        exp, nbf, iat = claims.get("exp"), claims.get("nbf"), claims.get("iat")
        for value in (exp, nbf, iat):
            if value is not None and not _is_number(value):
                raise _Refused("a time claim is not a number")
        if exp is None:
            if require_exp:
                raise _Refused("exp is required")
        elif exp + LEEWAY_SECONDS < now:
            raise _Refused("it has expired")
        elif max_seconds is not None and exp > now + max_seconds + LEEWAY_SECONDS:
            raise _Refused(f"it may be valid for at most {max_seconds} s")
        if nbf is not None and nbf - LEEWAY_SECONDS > now:
            raise _Refused("it is not valid yet")
        if iat is not None and iat - LEEWAY_SECONDS > now:
            raise _Refused("it was issued in the future")

    def _now(self) -> float:
        return self._clock.now().timestamp()


def _thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 JWK thumbprint of an RSA key (its key id)."""
    members = json.dumps(
        {"e": jwk["e"], "kty": "RSA", "n": jwk["n"]}, separators=(",", ":"), sort_keys=True
    )
    digest = hashlib.sha256(members.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _signature_keys(jwks: Mapping[str, Any], kid: object) -> list[jwt.PyJWK]:
    """The client's RSA keys that may verify an RS256 signature (by ``kid`` when given)."""
    keys = []
    for jwk in jwks.get("keys", []):
        if not isinstance(jwk, Mapping) or jwk.get("kty") != "RSA":
            continue
        if jwk.get("use", "sig") != "sig" or jwk.get("alg", "RS256") != "RS256":
            continue
        if kid is not None and jwk.get("kid") != kid:
            continue
        try:
            keys.append(jwt.PyJWK(dict(jwk), algorithm="RS256"))
        except jwt.PyJWTError:
            continue
    return keys


def _encryption_key(jwks: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The client's first RSA ``use: enc`` key for ``RSA-OAEP-256``."""
    for jwk in jwks.get("keys", []):
        if (
            isinstance(jwk, Mapping)
            and jwk.get("kty") == "RSA"
            and jwk.get("use") == "enc"
            and jwk.get("alg", "RSA-OAEP-256") == "RSA-OAEP-256"
        ):
            return jwk
    return None


def _pkce_matches(verifier: str, challenge: str) -> bool:
    if not CODE_VERIFIER.fullmatch(verifier):
        return False
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    computed = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return hmac.compare_digest(computed, challenge)


def _acr(value: object) -> str:
    """``…/loa2`` when only substantial was asked for, else ``…/loa3`` (high)."""
    asked = set(value.split()) if isinstance(value, str) else set()
    return ACR_SUBSTANTIAL if asked & {ACR_SUBSTANTIAL, ACR_HIGH} == {ACR_SUBSTANTIAL} else ACR_HIGH


def _ui_locale(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    for tag in value.split():
        primary = tag.split("-")[0].lower()
        if primary in LANGUAGES:
            return primary
    return None


def _short_text(value: object, limit: int = 512) -> bool:
    return isinstance(value, str) and 0 < len(value) <= limit


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _expiry(entry: Authorization | Grant) -> float:
    return entry.expires_at


K = TypeVar("K")


def _purge(entries: MutableMapping[K, E], now: float, expiry: Callable[[E], float]) -> None:
    for key in [key for key, entry in entries.items() if expiry(entry) <= now]:
        del entries[key]


def _keep(
    entries: MutableMapping[K, E], key: K, entry: E, now: float, expiry: Callable[[E], float]
) -> None:
    """Store ``entry``; past :data:`MAX_ENTRIES` the oldest goes (a demo, not a target)."""
    _purge(entries, now, expiry)
    while len(entries) >= MAX_ENTRIES:
        del entries[next(iter(entries))]
    entries[key] = entry
