"""The OpenID Connect relying party: begin a flow for a binding, complete it from the callback.

One flow, as the Finnish Trust Network profile has it:

1. :meth:`RelyingParty.begin` makes ``state`` (random) and derives ``nonce`` and the PKCE
   ``code_verifier`` from it with a server secret (HMAC), so the store keeps only a digest
   of the state, the binding and an expiry. The authorization URL carries a signed request
   object (``private_key_jwt`` set-ups) with ``code_challenge`` (S256), ``acr_values`` and
   the claims asked for.
2. :meth:`RelyingParty.complete` takes the callback's query: the flow is taken from the
   store (once: a replay finds nothing), the ``iss`` parameter checked, the code exchanged
   at the token endpoint with a client assertion (``kid`` header, fresh ``jti``) or HTTP
   Basic, and the ID token decrypted, verified and mapped to a :class:`VerifiedIdentity`.

Nothing of the identity, the code or the tokens is logged or stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Final
from urllib.parse import quote, urlencode

import jwt

from gateway.oidc.client_keys import ClientKeyRing
from gateway.oidc.config import IdentificationConfig
from gateway.oidc.errors import IdentificationError
from gateway.oidc.id_token import IdTokenVerifier
from gateway.oidc.identity import VerifiedIdentity, map_identity
from gateway.oidc.provider import ProviderKeys, ProviderMetadata, ProviderMetadataCache
from gateway.oidc.transport import ProviderTransport
from rooms.clock import Clock
from rooms.identification import IdentificationFlowStore, PendingFlow

__all__ = ["Identified", "RelyingParty"]

logger = logging.getLogger(__name__)

MAX_BINDING_CHARS: Final = 512
MAX_CODE_CHARS: Final = 4096
STATE_CHARS: Final = frozenset(string.ascii_letters + string.digits + "-_")
UI_LOCALES: Final = re.compile(
    r"[A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8})*(?: [A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8})*){0,4}"
)
REQUEST_OBJECT_LIFETIME: Final = timedelta(minutes=5)
CLIENT_ASSERTION_LIFETIME: Final = timedelta(seconds=60)
ASSERTION_TYPE: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass(frozen=True, repr=False)
class Identified:
    """A completed flow: the binding it was begun for, and who was identified.

    ``claims``: the verified ID token's claims named in the relying party's
    ``extra_claims`` (e.g. the groups that decide a professional's lines), nothing else.
    """

    binding: str
    identity: VerifiedIdentity
    claims: Mapping[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"Identified({self.identity!r})"


class RelyingParty:
    """The gateway as a client of one identification provider."""

    def __init__(
        self,
        config: IdentificationConfig,
        *,
        redirect_uri: str,
        client_keys: ClientKeyRing,
        flows: IdentificationFlowStore,
        transport: ProviderTransport,
        clock: Clock,
        flow_secret: bytes,
        flow_namespace: str = "",
        extra_claims: tuple[str, ...] = (),
    ) -> None:
        """``flow_namespace`` keeps this relying party's flows apart from another's in the
        same flow store (a ``state`` of one is unknown to the other); ``extra_claims`` are
        asked for with the identity and handed back in :attr:`Identified.claims`."""
        config.check_secret()
        if len(flow_secret) < 32:
            raise ValueError("flow_secret must be at least 32 bytes")
        self.config = config
        self.redirect_uri = redirect_uri
        self.client_keys = client_keys
        self._flows = flows
        self._transport = transport
        self._clock = clock
        self._flow_secret = flow_secret
        self._namespace = flow_namespace
        self._extra_claims = extra_claims
        self.metadata = ProviderMetadataCache(config, transport, clock)
        self.provider_keys = ProviderKeys(
            transport, clock, refetch_seconds=config.jwks_refetch_seconds
        )
        self._verifier = IdTokenVerifier(config, client_keys, self.provider_keys, clock)

    async def begin(self, binding: str, *, ui_locales: str | None = None) -> str:
        """Start a flow for ``binding``; the authorization URL to open in the browser.

        ``binding`` is opaque (the call layer's participant and room); the completed flow
        hands it back. ``ui_locales``: the person's language(s), e.g. ``"fi"`` or ``"sv en"``
        (BCP 47 tags; anything else is left out). Raises ``provider_unavailable`` when
        discovery fails.
        """
        if not isinstance(binding, str) or not 0 < len(binding) <= MAX_BINDING_CHARS:
            raise ValueError("binding must be a non-empty string of at most 512 characters")
        metadata = await self.metadata.get()
        config = self.config
        now = self._clock.now()
        state = secrets.token_urlsafe(32)
        await self._flows.put(
            self._digest(state),
            PendingFlow(binding=binding, expires_at=now + timedelta(minutes=config.flow_minutes)),
        )
        params: dict[str, Any] = {
            "response_type": "code",
            "client_id": config.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": " ".join(config.scopes),
            "state": state,
            "nonce": self._derive("nonce", state),
            "code_challenge": _challenge(self._derive("pkce", state)),
            "code_challenge_method": "S256",
            "acr_values": " ".join(config.requested_acr_values()),
        }
        if config.request_claims:
            # Voluntary claims, acr too: the level is asked for with acr_values, and checked
            # here (an essential acr would leave it to the provider alone).
            asked = dict.fromkeys(("acr", *config.claims.all_names(), *self._extra_claims))
            params["claims"] = {"id_token": asked}
        if ui_locales and UI_LOCALES.fullmatch(ui_locales):
            params["ui_locales"] = ui_locales
        if config.request_object:
            query = {
                "client_id": config.client_id,
                "response_type": "code",
                "scope": params["scope"],
                "request": self._request_object(params, metadata),
            }
        else:
            query = {k: json.dumps(v) if isinstance(v, dict) else v for k, v in params.items()}
        separator = "&" if "?" in metadata.authorization_endpoint else "?"
        return metadata.authorization_endpoint + separator + urlencode(query, quote_via=quote)

    async def complete(
        self, params: Mapping[str, str], *, binding: str | None = None
    ) -> Identified:
        """Finish the flow an authorization response (the callback's query) belongs to.

        ``binding``: when given, the flow must have been begun for it (``wrong_binding``
        otherwise; the flow is used up either way). Raises :class:`IdentificationError`;
        its ``binding`` is set once the flow is known.
        """
        state = params.get("state")
        if not isinstance(state, str) or not 16 <= len(state) <= 128 or set(state) - STATE_CHARS:
            raise IdentificationError("flow_unknown")
        flow = await self._flows.take(self._digest(state), self._clock.now())
        if flow is None:
            logger.info("an identification response for an unknown, used or expired flow")
            raise IdentificationError("flow_unknown")
        try:
            if binding is not None and not hmac.compare_digest(
                binding.encode(), flow.binding.encode()
            ):
                raise IdentificationError("wrong_binding")
            identity, claims = await self._finish(state, params)
        except IdentificationError as exc:
            logger.info("an identification failed: %s", exc.code)
            raise IdentificationError(exc.code, binding=flow.binding) from None
        except Exception as exc:  # fail closed; the text might quote the response: type only
            logger.error("an identification failed unexpectedly: %s", type(exc).__name__)
            raise IdentificationError("internal_error", binding=flow.binding) from None
        logger.info("an identification succeeded (%s)", identity.assurance)
        extra = {name: claims[name] for name in self._extra_claims if name in claims}
        return Identified(binding=flow.binding, identity=identity, claims=extra)

    def public_jwks(self) -> dict[str, list[dict[str, Any]]]:
        """The gateway's public keys, as published at ``/oidc/jwks.json``."""
        return self.client_keys.public_jwks()

    # -- the steps ---------------------------------------------------------------------------

    async def _finish(
        self, state: str, params: Mapping[str, str]
    ) -> tuple[VerifiedIdentity, dict[str, Any]]:
        metadata = await self.metadata.get()
        iss = params.get("iss")
        # RFC 9207: the response names its issuer (always, if the provider says it does).
        if (iss is not None or metadata.iss_parameter_supported) and iss != self.config.issuer:
            raise IdentificationError("issuer_mismatch")
        error = params.get("error")
        if error is not None:
            raise IdentificationError("cancelled" if error == "access_denied" else "provider_error")
        code = params.get("code")
        if not isinstance(code, str) or not 0 < len(code) <= MAX_CODE_CHARS:
            raise IdentificationError("bad_response")
        id_token = await self._exchange(code, self._derive("pkce", state), metadata)
        claims = await self._verifier.verify(
            id_token, jwks_uri=metadata.jwks_uri, nonce=self._derive("nonce", state)
        )
        return map_identity(claims, self.config, self._clock.now()), claims

    async def _exchange(self, code: str, verifier: str, metadata: ProviderMetadata) -> object:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "code_verifier": verifier,
        }
        headers: dict[str, str] = {}
        config = self.config
        if config.auth_method == "private_key_jwt":
            form["client_id"] = config.client_id
            form["client_assertion_type"] = ASSERTION_TYPE
            form["client_assertion"] = self._client_assertion(metadata)
        else:  # client_secret_basic: both parts form-encoded first (RFC 6749 2.3.1)
            user = f"{quote(config.client_id, safe='')}:{quote(config.client_secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(user.encode()).decode()
        status, body = await self._transport.post_form(metadata.token_endpoint, form, headers)
        if status != 200 or not isinstance(body, dict):
            raise IdentificationError("token_exchange_failed")
        id_token = body.get("id_token")
        if id_token is None:
            raise IdentificationError("id_token_missing")
        return id_token

    def _request_object(self, params: dict[str, Any], metadata: ProviderMetadata) -> str:
        now = self._clock.now()
        claims = {
            **params,
            "iss": self.config.client_id,
            "aud": metadata.issuer,
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": int((now + REQUEST_OBJECT_LIFETIME).timestamp()),
            "jti": secrets.token_urlsafe(24),
        }
        return self._sign(claims)

    def _client_assertion(self, metadata: ProviderMetadata) -> str:
        now = self._clock.now()
        audience = (
            metadata.token_endpoint
            if self.config.client_assertion_audience == "token_endpoint"
            else metadata.issuer
        )
        claims = {
            "iss": self.config.client_id,
            "sub": self.config.client_id,
            "aud": audience,
            "iat": int(now.timestamp()),
            "exp": int((now + CLIENT_ASSERTION_LIFETIME).timestamp()),
            "jti": secrets.token_urlsafe(24),
        }
        return self._sign(claims)

    def _sign(self, claims: dict[str, Any]) -> str:
        key = self.client_keys.signing_key()
        return jwt.encode(
            claims, key.private_key, algorithm=self.config.signing_alg, headers={"kid": key.kid}
        )

    def _digest(self, state: str) -> str:
        """The store's key for a flow: its state's digest, in this party's namespace."""
        return _digest(self._namespace + "\0" + state if self._namespace else state)

    def _derive(self, purpose: str, state: str) -> str:
        """The flow's ``nonce`` or ``code_verifier`` (43 characters), from its state."""
        mac = hmac.new(self._flow_secret, f"{purpose}\0{state}".encode(), hashlib.sha256)
        return _b64(mac.digest())


def _digest(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def _challenge(verifier: str) -> str:
    return _b64(hashlib.sha256(verifier.encode("ascii")).digest())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
