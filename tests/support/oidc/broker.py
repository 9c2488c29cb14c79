"""A real OpenID Provider for the tests: ``oidc-provider`` (npm, version 8) run by Node.js.

``tests/support/oidc/provider.mjs`` configures it like a broker of the Finnish Trust
Network. :func:`running_oidc_provider` starts it on a free loopback port, waits until its
discovery document answers, and stops its process group at the end; the session fixture
``oidc_provider`` (tests/conftest.py) holds one for the whole run.

Use from a test::

    async def test_x(oidc_provider: OidcProvider, tmp_path: Path) -> None:
        async with identification_gateway(oidc_provider, tmp_path) as (gateway, client):
            rp = gateway.app[keys.IDENTIFICATION]
            url = await rp.begin("room/participant")
            async with browser() as http:
                callback = await oidc_provider.sign_in(http, url, "aino-demo", LOA3)
                async with http.get(callback) as response: ...

:meth:`OidcProvider.register` registers a client over dynamic client registration
(RFC 7591) with the gateway's redirect URI and JWKS URL, so the provider fetches the
gateway's real JWKS (and fetches it again after :meth:`OidcProvider.forget_client_keys`).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import urljoin

import aiohttp
import pytest
from yarl import URL

from gateway.oidc.client_keys import write_new_key
from gateway.oidc.config import FTN_HIGH, FTN_SUBSTANTIAL
from gateway.oidc.routes import callback_url, jwks_url
from gateway.staff_signin import staff_callback_url, staff_jwks_url
from rooms.clock import Clock
from tests.support.gateway import RunningGateway, free_port, make_config, running_gateway

REPO: Final = Path(__file__).resolve().parents[3]
SCRIPT: Final = Path(__file__).with_name("provider.mjs")
PACKAGE: Final = REPO / "node_modules" / "oidc-provider" / "package.json"
LOA2: Final = FTN_SUBSTANTIAL
LOA3: Final = FTN_HIGH
TEST_KEY_BITS: Final = 2048  # the gateway makes 3072-bit keys; tests need no such strength


@dataclass(frozen=True)
class TestPerson:
    """A made-up person of the test provider (identity codes in the 900-999 test range)."""

    __test__ = False  # not a test class

    id: str
    given_name: str
    family_name: str
    birthdate: str
    identity_code: str

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"

    @property
    def masked_code(self) -> str:
        return f"{self.identity_code[:7]}***{self.identity_code[10]}"


PERSONS: Final = {
    p.id: p
    for p in (
        TestPerson("aino-demo", "Aino", "Demo-Asukas", "1990-01-01", "010190-904U"),
        TestPerson("eino-demo", "Eino", "Demo", "1938-05-15", "150538-9173"),
        TestPerson("noora-demo", "Noora", "Demo", "2004-03-07", "070304A926U"),
    )
}


@dataclass(frozen=True)
class RegisteredClient:
    client_id: str
    client_secret: str | None
    auth_method: str
    encrypted: bool


class OidcProvider:
    """The running test provider."""

    def __init__(self, issuer: str, registration_token: str) -> None:
        self.issuer = issuer
        self._token = registration_token

    async def register(
        self,
        base_url: str,
        *,
        auth_method: str = "private_key_jwt",
        encrypted: bool = True,
        staff: bool = False,
    ) -> RegisteredClient:
        """Register the gateway at ``base_url`` as a client (RFC 7591).

        ``private_key_jwt`` (default): the FTN profile, with the gateway's JWKS URL, signed
        request objects required and, if ``encrypted``, encrypted ID tokens.
        ``client_secret_basic``: a client secret, plain query parameters.
        ``staff``: the staff sign-in client (its own redirect URI and JWKS URL).
        """
        redirect_uri = staff_callback_url(base_url) if staff else callback_url(base_url)
        keys_url = staff_jwks_url(base_url) if staff else jwks_url(base_url)
        metadata: dict[str, Any] = {
            "client_name": "Tukilinja test gateway",
            "redirect_uris": [redirect_uri],
            "response_types": ["code"],
            "grant_types": ["authorization_code"],
            "token_endpoint_auth_method": auth_method,
            "id_token_signed_response_alg": "RS256",
        }
        if auth_method == "private_key_jwt":
            metadata.update(
                jwks_uri=keys_url,
                token_endpoint_auth_signing_alg="RS256",
                request_object_signing_alg="RS256",
                require_signed_request_object=True,
            )
        if encrypted:
            metadata.update(
                jwks_uri=keys_url,
                id_token_encrypted_response_alg="RSA-OAEP-256",
                id_token_encrypted_response_enc="A256GCM",
            )
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                self.issuer + "/reg",
                json=metadata,
                headers={"Authorization": f"Bearer {self._token}"},
            ) as response,
        ):
            body = await response.json()
            assert response.status == 201, body
        return RegisteredClient(
            client_id=body["client_id"],
            client_secret=body.get("client_secret"),
            auth_method=auth_method,
            encrypted=encrypted,
        )

    async def forget_client_keys(self, client_id: str) -> None:
        """Make the provider fetch the client's JWKS again when it next needs a key (as if
        its cache time had passed)."""
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{self.issuer}/test/clients/{client_id}/forget-keys",
                headers={"Authorization": f"Bearer {self._token}"},
            ) as response,
        ):
            assert response.status == 200, await response.text()

    async def sign_in(
        self,
        http: aiohttp.ClientSession,
        authorization_url: str,
        person: str = "aino-demo",
        acr: str = LOA3,
    ) -> str:
        """Go through the provider as the person's browser would: open the authorization
        URL, fill in the login form (person and level), follow the redirects. Returns the
        gateway's callback URL with the response (not opened, so a test can choose)."""
        url = authorization_url
        for _ in range(12):
            if not url.startswith(self.issuer):
                return url
            async with http.get(URL(url, encoded=True), allow_redirects=False) as response:
                if response.status in (302, 303):
                    url = urljoin(url, response.headers["Location"])
                    continue
                page = await response.text()
                assert response.status == 200, page
            action = re.search(r'<form method="post" action="([^"]+)"', page)
            assert action is not None, page
            async with http.post(
                urljoin(url, action.group(1)),
                data={"person": person, "acr": acr},
                allow_redirects=False,
            ) as response:
                assert response.status in (302, 303), await response.text()
                url = urljoin(url, response.headers["Location"])
        raise AssertionError("the provider kept redirecting")


@asynccontextmanager
async def browser() -> AsyncIterator[aiohttp.ClientSession]:
    """A cookie-keeping HTTP client, as a browser (cookies for 127.0.0.1 too)."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        yield http


def make_keys_dir(directory: Path, starts: datetime | None = None) -> Path:
    """A key directory with a signing and an encryption key (2048 bits: quick to make)."""
    starts = (starts or datetime.now(UTC)).replace(microsecond=0)
    for use in ("sig", "enc"):
        write_new_key(directory, use, starts, bits=TEST_KEY_BITS)
    return directory


def identification_table(
    provider: OidcProvider, client: RegisteredClient, keys_dir: Path, **overrides: Any
) -> dict[str, Any]:
    """The ``[identification]`` settings for the gateway as ``client`` of ``provider``."""
    table: dict[str, Any] = {
        "issuer": provider.issuer,
        "client_id": client.client_id,
        "provider_name": "Testivälittäjä",
        "auth_method": client.auth_method,
        "request_object": client.auth_method == "private_key_jwt",
        "id_token_encrypted": client.encrypted,
        "keys_dir": str(keys_dir),
        "leeway_seconds": 10,
    }
    table.update(overrides)
    return table


@asynccontextmanager
async def identification_gateway(
    provider: OidcProvider,
    tmp_path: Path,
    *,
    auth_method: str = "private_key_jwt",
    encrypted: bool = True,
    settings: Mapping[str, Any] | None = None,
) -> AsyncIterator[tuple[RunningGateway, RegisteredClient]]:
    """A gateway registered as a client of ``provider``, with its own key directory."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    client = await provider.register(base_url, auth_method=auth_method, encrypted=encrypted)
    keys_dir = make_keys_dir(tmp_path / "oidc-keys")
    table = identification_table(provider, client, keys_dir, **dict(settings or {}))
    config = make_config({"identification": table}, port=port)
    if client.client_secret is not None:
        assert config.identification is not None
        identification = replace(config.identification, client_secret=client.client_secret)
        config = replace(config, identification=identification)
    async with running_gateway(config) as gateway:
        yield gateway, client


STAFF_PROVIDER_NAME: Final = "Työpaikan kirjautuminen"
STAFF_GROUP: Final = "demo-counsellors"  # noora-demo's group (provider.mjs)
STAFF_SUBJECT: Final = "eino-demo"  # mapped by subject in the staff table below


@asynccontextmanager
async def staff_signin_gateway(
    provider: OidcProvider,
    tmp_path: Path,
    *,
    encrypted: bool = False,
    identification: bool = False,
    settings: Mapping[str, Any] | None = None,
    clock: Clock | None = None,
) -> AsyncIterator[tuple[RunningGateway, RegisteredClient]]:
    """A gateway with ``[staff_signin]`` as a client of ``provider`` (a workforce provider:
    by default without encrypted ID tokens): ``noora-demo`` gets the demo line by her group,
    ``eino-demo`` by his subject, ``aino-demo`` no line. ``identification``: residents'
    identification too, as another client of the same provider."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    staff_client = await provider.register(base_url, encrypted=encrypted, staff=True)
    staff_keys = make_keys_dir(tmp_path / "staff-oidc-keys")
    table = identification_table(provider, staff_client, staff_keys)
    table.update(
        provider_name=STAFF_PROVIDER_NAME,
        lines_claim="groups",
        line_groups={STAFF_GROUP: ["demo"], "unrelated-group": []},
        staff={STAFF_SUBJECT: ["demo"]},
    )
    table.update(settings or {})
    extra: dict[str, Any] = {"staff_signin": table}
    if identification:
        resident_client = await provider.register(base_url)
        resident_keys = make_keys_dir(tmp_path / "oidc-keys")
        extra["identification"] = identification_table(provider, resident_client, resident_keys)
    config = make_config(extra, port=port)
    async with running_gateway(config, clock=clock) as gateway:
        yield gateway, staff_client


@contextmanager
def running_oidc_provider(startup_seconds: float = 20.0) -> Iterator[OidcProvider]:
    """Start ``provider.mjs`` on a free port; stop it (its process group) afterwards."""
    node = shutil.which("node")
    if node is None or not PACKAGE.exists():
        pytest.fail("the test provider needs Node.js and oidc-provider: run scripts/setup --test")
    port = free_port()
    token = secrets.token_urlsafe(24)
    issuer = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as output:
        process = subprocess.Popen(
            [node, str(SCRIPT)],
            cwd=REPO,
            env={**os.environ, "OIDC_PORT": str(port), "OIDC_REGISTRATION_TOKEN": token},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            _wait_for_discovery(issuer, process, output, startup_seconds)
            yield OidcProvider(issuer, token)
        finally:
            _stop(process)


def _wait_for_discovery(
    issuer: str, process: subprocess.Popen[bytes], output: Any, seconds: float
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with urllib.request.urlopen(issuer + "/.well-known/openid-configuration", timeout=1):
                return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    output.seek(0)
    text = output.read().decode(errors="replace")
    _stop(process)
    pytest.fail(f"the test OpenID provider did not start:\n{text}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)
    except ProcessLookupError:
        pass
