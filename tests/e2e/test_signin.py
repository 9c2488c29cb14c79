"""End to end in real headless Chromium: the sign-in page says why a link cannot be used
(made for another address, expired, used) in the page's language, and never shows the token."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import Browser, expect

from gateway.cli import signin_link
from tests.e2e.pages import assert_not_logged, new_page
from tests.support.gateway import RunningGateway

pytestmark = pytest.mark.e2e


def on_this_server(link: str, gateway: RunningGateway, lang: str) -> str:
    """The link's token on this server's sign-in page (a link is opened where it points)."""
    token = link.split("#", 1)[1]
    return f"{gateway.base_url}/pro/signin?lang={lang}#{token}"


@pytest.mark.parametrize(
    ("lang", "text"),
    [
        (
            "en",
            "This sign-in link was made for {made_for}, not for this server ({server}).",
        ),
        (
            "fi",
            "Tämä kirjautumislinkki on tehty osoitteelle {made_for}, ei tälle palvelimelle"
            " ({server}).",
        ),
    ],
)
async def test_a_link_for_another_address_says_so(
    browser: Browser, gateway: RunningGateway, lang: str, text: str
) -> None:
    other = replace(gateway.config, port=gateway.config.port + 1)
    link = signin_link(other, "Maija", ("demo",))
    _, page = await new_page(browser)
    await page.goto(on_this_server(link, gateway, lang))
    alert = page.get_by_role("alert")
    await expect(alert).to_contain_text(
        text.format(made_for=other.base_url, server=gateway.base_url)
    )
    await expect(alert).to_contain_text(f"staff-token --base-url {gateway.base_url}")
    token = link.split("#token=", 1)[1]
    assert token not in await page.content()
    assert "#" not in page.url
    assert_not_logged(page, token)


async def test_expired_and_used_links_keep_their_own_messages(
    browser: Browser, gateway: RunningGateway
) -> None:
    expired = signin_link(
        gateway.config, "Maija", ("demo",), now=datetime.now(UTC) - timedelta(hours=1)
    )
    _, page = await new_page(browser)
    await page.goto(on_this_server(expired, gateway, "en"))
    await expect(page.get_by_role("alert")).to_have_text(
        "This sign-in link has expired. Ask for a new link."
    )

    link = signin_link(gateway.config, "Maija", ("demo",))
    context, page = await new_page(browser)
    await page.goto(on_this_server(link, gateway, "en"))
    await page.wait_for_url(re.compile(r".*/pro(\?.*)?$"))
    await context.close()
    _, again = await new_page(browser)
    await again.goto(on_this_server(link, gateway, "en"))
    await expect(again.get_by_role("alert")).to_contain_text("already been used")
