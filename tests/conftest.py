"""Shared fixtures: a real gateway on loopback for each test that asks for one, and a real
OpenID provider (oidc-provider on Node.js) for the whole session when a test asks for it.

Every log record a test captures goes through the gateway's privacy filter, as in
production (:func:`gateway.logs.configure_logging` puts it on the root handlers): pytest's
capture handlers are the root handlers during a test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from gateway.logs import PrivacyFilter, install_privacy_filter
from tests.support.gateway import RunningGateway, make_config, running_gateway
from tests.support.oidc.broker import OidcProvider, running_oidc_provider


@pytest.fixture(autouse=True)
def _privacy_filtered_capture(
    request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> Iterator[None]:
    handlers = [caplog.handler]
    plugin = request.config.pluginmanager.get_plugin("logging-plugin")
    report = getattr(plugin, "report_handler", None)
    if report is not None:
        handlers.append(report)
    for handler in handlers:
        install_privacy_filter(handler)
    yield
    for handler in handlers:
        for item in [f for f in handler.filters if isinstance(f, PrivacyFilter)]:
            handler.removeFilter(item)


@pytest.fixture
async def gateway() -> AsyncIterator[RunningGateway]:
    async with running_gateway() as gw:
        yield gw


@pytest.fixture
async def demo_gateway() -> AsyncIterator[RunningGateway]:
    """A gateway with its built-in demo identification provider switched on."""
    async with running_gateway(make_config({"identification": {"demo": True}})) as gw:
        yield gw


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[OidcProvider]:
    """The test OpenID provider, configured like an FTN broker (tests/support/oidc)."""
    with running_oidc_provider() as provider:
        yield provider
