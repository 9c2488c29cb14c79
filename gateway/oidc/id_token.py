"""Verifying an ID token: decrypt the JWE (joserfc), verify the JWS (PyJWT), check claims.

Each check refuses with its own :class:`IdentificationError` code. Algorithms are fixed by
configuration: the header's ``alg`` (and for a JWE ``enc``) must be exactly the configured
one, so ``none``, an HMAC made with the provider's public key, or a weaker cipher are
refused before any key is touched. Times are checked against the injected clock with the
configured leeway.
"""

from __future__ import annotations

import base64
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import jwt
from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.registry import HeaderParameter

from gateway.oidc.client_keys import ClientKeyRing
from gateway.oidc.config import IdentificationConfig
from gateway.oidc.errors import IdentificationError
from gateway.oidc.provider import ProviderKeys
from rooms.clock import Clock

__all__ = ["IdTokenVerifier"]

MAX_TOKEN_CHARS: Final = 64 * 1024
# Claims a provider may replicate into the JWE header (RFC 7519 section 5.3).
REPLICATED_HEADERS: Final = {
    "iss": HeaderParameter("Issuer", "str"),
    "aud": HeaderParameter("Audience", "str"),
    "sub": HeaderParameter("Subject", "str"),
}


class IdTokenVerifier:
    """Verifies ID tokens of one provider for this client."""

    def __init__(
        self,
        config: IdentificationConfig,
        client_keys: ClientKeyRing,
        provider_keys: ProviderKeys,
        clock: Clock,
    ) -> None:
        self._config = config
        self._client_keys = client_keys
        self._provider_keys = provider_keys
        self._clock = clock
        self._leeway = timedelta(seconds=config.leeway_seconds)
        self._max_age = timedelta(minutes=config.flow_minutes)
        self._registry = jwe.JWERegistry(
            algorithms=[config.id_token_encryption_alg, config.id_token_encryption_enc],
            header_registry=REPLICATED_HEADERS,
        )

    async def verify(self, raw: object, *, jwks_uri: str, nonce: str) -> dict[str, Any]:
        """The claims of a valid ID token for the flow with ``nonce``."""
        if not isinstance(raw, str) or not raw or len(raw) > MAX_TOKEN_CHARS:
            raise IdentificationError("id_token_malformed")
        parts = raw.count(".") + 1
        if parts == 5:
            signed = self._decrypt(raw)
        elif parts == 3:
            if self._config.id_token_encrypted:
                raise IdentificationError("id_token_not_encrypted")
            signed = raw
        else:
            raise IdentificationError("id_token_malformed")
        claims = await self._verify_signature(signed, jwks_uri)
        self._check_claims(claims, nonce)
        return claims

    def _decrypt(self, token: str) -> str:
        header = _protected_header(token)
        config = self._config
        if (header.get("alg"), header.get("enc")) != (
            config.id_token_encryption_alg,
            config.id_token_encryption_enc,
        ):
            raise IdentificationError("unexpected_algorithm")
        if "zip" in header:  # compression before encryption: refused (RFC 8725 3.6)
            raise IdentificationError("unexpected_algorithm")
        for key in self._client_keys.decryption_keys(header.get("kid")):
            try:
                plaintext = jwe.decrypt_compact(token, key.jose_key, registry=self._registry)
            except (JoseError, ValueError, TypeError):
                continue
            if plaintext.plaintext is None:
                continue
            try:
                signed = plaintext.plaintext.decode("ascii")
            except UnicodeDecodeError:
                raise IdentificationError("id_token_malformed") from None
            if signed.count(".") != 2:  # must be a signed JWT inside
                raise IdentificationError("id_token_malformed")
            return signed
        raise IdentificationError("id_token_undecryptable")

    async def _verify_signature(self, token: str, jwks_uri: str) -> dict[str, Any]:
        config = self._config
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:  # also an unsupported critical extension
            raise IdentificationError("id_token_malformed") from None
        alg = header.get("alg")
        if alg != config.id_token_signing_alg:
            raise IdentificationError("unexpected_algorithm")
        if "crit" in header:  # no extension is understood, so none may be critical
            raise IdentificationError("id_token_malformed")
        key = await self._provider_keys.key_for(jwks_uri, header.get("kid"), alg)
        if key is None:
            raise IdentificationError("signature_invalid")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=config.client_id,
                issuer=config.issuer,
                options={
                    # Times are checked below against the injected clock.
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "require": ["iss", "aud", "sub", "exp", "iat"],
                },
            )
        except jwt.InvalidSignatureError:
            raise IdentificationError("signature_invalid") from None
        except jwt.InvalidIssuerError:
            raise IdentificationError("issuer_invalid") from None
        except jwt.InvalidAudienceError:
            raise IdentificationError("audience_invalid") from None
        except jwt.MissingRequiredClaimError as exc:
            code = {"iss": "issuer_invalid", "aud": "audience_invalid"}.get(exc.claim)
            raise IdentificationError(code or "claims_missing") from None
        except jwt.InvalidAlgorithmError:
            raise IdentificationError("unexpected_algorithm") from None
        except jwt.PyJWTError:
            raise IdentificationError("id_token_malformed") from None
        return claims

    def _check_claims(self, claims: dict[str, Any], nonce: str) -> None:
        config = self._config
        if claims.get("iss") != config.issuer:  # exact, whatever the library allows
            raise IdentificationError("issuer_invalid")
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if config.client_id not in audiences:
            raise IdentificationError("audience_invalid")
        azp = claims.get("azp")
        if (len(audiences) > 1 or azp is not None) and azp != config.client_id:
            raise IdentificationError("audience_invalid")
        now = self._clock.now()
        expires = _time(claims, "exp")
        issued = _time(claims, "iat")
        if expires is None or issued is None:
            raise IdentificationError("claims_missing")
        if now > expires + self._leeway or now > issued + self._max_age + self._leeway:
            raise IdentificationError("expired")
        not_before = _time(claims, "nbf")
        if issued > now + self._leeway or (
            not_before is not None and not_before > now + self._leeway
        ):
            raise IdentificationError("not_yet_valid")
        got = claims.get("nonce")
        if not isinstance(got, str) or not hmac.compare_digest(got.encode(), nonce.encode()):
            raise IdentificationError("nonce_invalid")
        rank = config.acr_rank(claims.get("acr"))
        minimum = config.acr_rank(config.minimum_acr)
        if rank is None or minimum is None or rank < minimum:
            raise IdentificationError("acr_insufficient")
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise IdentificationError("claims_missing")


def _protected_header(token: str) -> dict[str, Any]:
    segment = token.split(".", 1)[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except ValueError:
        raise IdentificationError("id_token_malformed") from None
    if not isinstance(header, dict):
        raise IdentificationError("id_token_malformed")
    return header


def _time(claims: dict[str, Any], name: str) -> datetime | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise IdentificationError("id_token_malformed")
    try:
        return datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise IdentificationError("id_token_malformed") from None
