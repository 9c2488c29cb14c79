"""HTTP to the identification provider: JSON in, bounded in size and time, nothing logged."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final, Protocol

import aiohttp

from gateway.oidc.errors import IdentificationError

__all__ = ["AiohttpTransport", "ProviderTransport"]

MAX_RESPONSE_BYTES: Final = 256 * 1024


class ProviderTransport(Protocol):
    """What the relying party needs of HTTP (a fake provider implements it in tests)."""

    async def get_json(self, url: str) -> Any:
        """The JSON document at ``url``; :class:`IdentificationError` ``provider_unavailable``
        unless it answers 200 with JSON."""
        ...

    async def post_form(
        self, url: str, form: Mapping[str, str], headers: Mapping[str, str]
    ) -> tuple[int, Any]:
        """POST ``form`` (urlencoded); the status and the JSON body (None if not JSON).
        ``provider_unavailable`` when there is no answer at all."""
        ...


class AiohttpTransport:
    """:class:`ProviderTransport` over an aiohttp ClientSession (redirects not followed)."""

    def __init__(self, session: aiohttp.ClientSession, timeout_seconds: float) -> None:
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)

    async def get_json(self, url: str) -> Any:
        status, body = await self._request("GET", url, None, {"Accept": "application/json"})
        if status != 200 or body is None:
            raise IdentificationError("provider_unavailable")
        return body

    async def post_form(
        self, url: str, form: Mapping[str, str], headers: Mapping[str, str]
    ) -> tuple[int, Any]:
        return await self._request(
            "POST", url, dict(form), {"Accept": "application/json", **headers}
        )

    async def _request(
        self, method: str, url: str, form: dict[str, str] | None, headers: Mapping[str, str]
    ) -> tuple[int, Any]:
        try:
            async with self._session.request(
                method,
                url,
                data=form,
                headers=dict(headers),
                timeout=self._timeout,
                allow_redirects=False,
            ) as response:
                raw = await response.content.read(MAX_RESPONSE_BYTES + 1)
                status = response.status
        except (aiohttp.ClientError, TimeoutError, ValueError):
            # Never the exception text: it may carry the URL with its query.
            raise IdentificationError("provider_unavailable") from None
        if len(raw) > MAX_RESPONSE_BYTES:
            raise IdentificationError("provider_unavailable")
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, None
