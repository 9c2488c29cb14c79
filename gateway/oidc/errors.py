"""Why an identification did not succeed: a fixed set of codes, safe to show and to log.

The codes and messages name what failed, never a value from the response, a token or the
person. docs/identification.md lists them.
"""

from __future__ import annotations

from typing import Final

__all__ = ["ERROR_MESSAGES", "IdentificationError"]

ERROR_MESSAGES: Final = {
    # The flow itself
    "flow_unknown": "The identification is unknown, already used or expired.",
    "wrong_binding": "The identification was begun for another participant.",
    "bad_response": "The identification response is malformed.",
    "cancelled": "The identification was cancelled.",
    "provider_error": "The identification provider refused the identification.",
    "issuer_mismatch": "The response comes from another identification provider.",
    # Talking to the provider
    "provider_unavailable": "The identification provider cannot be reached.",
    "token_exchange_failed": "The identification provider did not accept the code.",
    "id_token_missing": "The identification provider sent no ID token.",
    # The ID token
    "id_token_not_encrypted": "The ID token is not encrypted.",
    "id_token_undecryptable": "The ID token cannot be decrypted.",
    "id_token_malformed": "The ID token is malformed.",
    "unexpected_algorithm": "The ID token uses an algorithm that is not accepted.",
    "signature_invalid": "The ID token's signature is not valid.",
    "issuer_invalid": "The ID token was issued by another provider.",
    "audience_invalid": "The ID token is meant for another client.",
    "expired": "The ID token has expired.",
    "not_yet_valid": "The ID token is not valid yet.",
    "nonce_invalid": "The ID token belongs to another identification.",
    "acr_insufficient": "The identification's level of assurance is too low.",
    "claims_missing": "The identification lacks required information.",
    "identity_code_invalid": "The personal identity code is not valid.",
    # Anything else (a fault of the gateway's): the identification fails closed
    "internal_error": "The identification could not be completed.",
}


class IdentificationError(Exception):
    """An identification failed; ``code`` is one of :data:`ERROR_MESSAGES`.

    ``binding`` is the flow's binding once it is known (after the ``state`` was found).
    """

    def __init__(self, code: str, binding: str | None = None) -> None:
        if code not in ERROR_MESSAGES:
            raise ValueError(f"unknown identification error code {code!r}")
        super().__init__(code)
        self.code = code
        self.binding = binding

    @property
    def message(self) -> str:
        return ERROR_MESSAGES[self.code]

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def __repr__(self) -> str:  # the binding names a participant: not for logs
        return f"IdentificationError({self.code!r})"
