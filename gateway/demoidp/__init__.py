"""Demo identification: a built-in OpenID Connect provider with made-up test persons.

Only for trying the gateway out (``[identification] demo = true`` or
``TUKILINJA_DEMO_IDENTIFICATION=true``, refused unless the gateway listens on loopback).
See docs/demo-identification.md. The HTTP endpoints are in :mod:`gateway.demoidp.routes`.
"""

from gateway.demoidp.clients import DemoClient, HttpJwks, InProcessJwks, JwksError, JwksSource
from gateway.demoidp.persons import TEST_PERSONS, TestPerson, identity_code
from gateway.demoidp.provider import (
    ACR_HIGH,
    ACR_SUBSTANTIAL,
    CALLBACK_PATH,
    DEMO_CLIENT_ID,
    ISSUER_PATH,
    AuthorizationError,
    DemoProvider,
    TokenError,
)

__all__ = [
    "ACR_HIGH",
    "ACR_SUBSTANTIAL",
    "CALLBACK_PATH",
    "DEMO_CLIENT_ID",
    "ISSUER_PATH",
    "TEST_PERSONS",
    "AuthorizationError",
    "DemoClient",
    "DemoProvider",
    "HttpJwks",
    "InProcessJwks",
    "JwksError",
    "JwksSource",
    "TestPerson",
    "TokenError",
    "identity_code",
]
