"""Strong identification against a real OpenID provider configured like an FTN broker."""

from __future__ import annotations

from pathlib import Path

from gateway import keys
from gateway.oidc.identity import VerifiedIdentity
from tests.support.oidc.broker import (
    LOA3,
    PERSONS,
    OidcProvider,
    browser,
    identification_gateway,
)


async def test_full_code_flow(oidc_provider: OidcProvider, tmp_path: Path) -> None:
    identified: list[tuple[str, VerifiedIdentity]] = []
    async with identification_gateway(oidc_provider, tmp_path) as (gateway, _):

        async def on_identified(binding: str, identity: VerifiedIdentity) -> None:
            identified.append((binding, identity))

        gateway.app[keys.IDENTIFICATION_HOOKS].on_identified = on_identified
        url = await gateway.app[keys.IDENTIFICATION].begin("room-1/participant-a")
        async with browser() as http:
            callback = await oidc_provider.sign_in(http, url, "aino-demo", LOA3)
            async with http.get(callback) as response:
                assert response.status == 200
                assert str(response.url).endswith("/oidc/done?result=ok")
    person = PERSONS["aino-demo"]
    [(binding, identity)] = identified
    assert binding == "room-1/participant-a"
    assert identity.display_name == person.name
    assert identity.identity_code == person.masked_code
