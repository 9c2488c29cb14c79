"""Helpers for the end-to-end tests: open the pages, read what flows from WebRTC statistics."""

from __future__ import annotations

import asyncio
import re

import pytest
from playwright.async_api import Browser, BrowserContext, Locator, Page, expect

from gateway.cli import signin_link
from tests.support.gateway import RunningGateway

# Every inbound audio stream of the page's current peer connection (window.tukilinjaPc).
INBOUND_AUDIO_STREAMS_JS = """
async () => {
  const pc = window.tukilinjaPc;
  if (!pc) return null;
  const stats = await pc.getStats();
  const out = {};
  stats.forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'audio') {
      out[s.id] = {packets: s.packetsReceived || 0, energy: s.totalAudioEnergy || 0};
    }
  });
  return out;
}
"""


async def inbound_streams(page: Page) -> dict[str, dict[str, float]] | None:
    result: dict[str, dict[str, float]] | None = await page.evaluate(INBOUND_AUDIO_STREAMS_JS)
    return result


async def wait_for_audio_streams(
    page: Page, count: int = 1, timeout: float = 20, min_packets: int = 20
) -> dict[str, dict[str, float]]:
    """Wait until ``count`` inbound audio streams each receive ``min_packets`` more packets
    than when the wait began, with received audio energy that grew (the fake microphone
    beeps), so what is measured is audio arriving now, not earlier."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    first: dict[str, dict[str, float]] = {}
    last: dict[str, dict[str, float]] | None = None
    while loop.time() < deadline:
        last = await inbound_streams(page)
        if last:
            flowing = {}
            for sid, now in last.items():
                base = first.setdefault(sid, now)
                if (
                    now["packets"] > base["packets"] + min_packets
                    and now["energy"] > base["energy"]
                    and now["energy"] > 0
                ):
                    flowing[sid] = now
            if len(flowing) >= count:
                return flowing
        else:
            # A new peer connection (after a reload) starts the count again.
            first = {}
        await asyncio.sleep(0.25)
    alert = await page.evaluate(
        "() => { const a = document.getElementById('alert');"
        " return a && !a.hidden ? a.textContent.trim() : ''; }"
    )
    raise AssertionError(
        f"fewer than {count} audio streams flowing into {page.url}: first={first} last={last}"
        + (f"; the page says: {alert}" if alert else "")
    )


# Console output of every page opened here, to check that no token or SDP is logged.
CONSOLE: dict[Page, list[str]] = {}


def watch_errors(page: Page) -> None:
    page.on("pageerror", lambda exc: pytest.fail(f"page error: {exc}"))
    messages = CONSOLE.setdefault(page, [])
    page.on("console", lambda msg: messages.append(msg.text))


def assert_not_logged(page: Page, *secrets: str) -> None:
    for text in CONSOLE.get(page, []):
        for secret in secrets:
            assert secret not in text, "a secret was written to the browser console"
        assert "a=fingerprint" not in text and "a=candidate" not in text, "SDP was logged"


async def new_page(browser: Browser) -> tuple[BrowserContext, Page]:
    context = await browser.new_context()
    page = await context.new_page()
    watch_errors(page)
    return context, page


async def open_resident(browser: Browser, base_url: str) -> Page:
    _, page = await new_page(browser)
    await page.goto(base_url + "/lines/demo?lang=en")
    return page


async def open_console(browser: Browser, gateway: RunningGateway) -> Page:
    _, page = await new_page(browser)
    link = signin_link(gateway.config, "Test Worker", ("demo",))
    await page.goto(link.replace("/pro/signin#", "/pro/signin?lang=en#"))
    await page.wait_for_url(re.compile(r".*/pro(\?.*)?$"))
    if "lang=en" not in page.url:
        await page.goto(gateway.base_url + "/pro?lang=en")
    return page


def button(page: Page, name: str) -> Locator:
    return page.get_by_role("button", name=name, exact=True)


def status_with(page: Page, pattern: str | re.Pattern[str]) -> Locator:
    return page.get_by_role("status").filter(has_text=pattern)


async def queue_position(page: Page, position: int, timeout: float = 15000) -> None:
    await expect(status_with(page, re.compile(rf"number {position}\b"))).to_be_visible(
        timeout=timeout
    )


async def two_queued_residents(browser: Browser, gateway: RunningGateway) -> tuple[Page, Page]:
    """Two resident pages that pressed Call, at positions 1 and 2 of the demo line."""
    first = await open_resident(browser, gateway.base_url)
    second = await open_resident(browser, gateway.base_url)
    await button(first, "Call").click()
    await queue_position(first, 1)
    await button(second, "Call").click()
    await queue_position(second, 2)
    return first, second


async def call_and_answer(resident: Page, console: Page) -> None:
    """The resident calls, the professional answers, audio flows both ways."""
    await button(resident, "Call").click()
    await queue_position(resident, 1)
    answer = button(console, "Answer next caller")
    await expect(answer).to_be_enabled(timeout=15000)
    await answer.click()
    await expect(status_with(resident, "Connected")).to_be_visible(timeout=15000)
    await wait_for_audio_streams(resident)
    await wait_for_audio_streams(console)


async def stored_resume_keys(page: Page) -> list[str]:
    keys: list[str] = await page.evaluate(
        "() => Object.keys(sessionStorage).filter((k) => k.startsWith('tukilinja.resume.'))"
    )
    return keys


async def queue_length(gateway: RunningGateway) -> int:
    """The demo line's queue length as the gateway reports it to a fresh resident socket."""
    client = await gateway.resident()
    try:
        watched = await client.request("line.watch", line="demo")
        length: int = watched["status"]["queueLength"]
        return length
    finally:
        await client.close()
