"""End to end in real headless Chromium: a resident calls, a professional answers, both hear.

What is asserted is what flows: each page's RTCPeerConnection statistics show inbound audio
packets growing and non-zero received audio energy (the fake microphone beeps).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from gateway.cli import signin_link
from tests.support.gateway import RunningGateway

pytestmark = pytest.mark.e2e

INBOUND_AUDIO_JS = """
async () => {
  const pc = window.tukilinjaPc;
  if (!pc) return null;
  const stats = await pc.getStats();
  let out = null;
  stats.forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'audio') {
      out = {packets: s.packetsReceived || 0, energy: s.totalAudioEnergy || 0,
             level: s.audioLevel || 0};
    }
  });
  return out;
}
"""


async def inbound_audio(page: Page) -> dict[str, Any] | None:
    result: dict[str, Any] | None = await page.evaluate(INBOUND_AUDIO_JS)
    return result


async def wait_for_audio(page: Page, timeout: float = 20) -> dict[str, Any]:
    """Wait until inbound audio packets grow and audio energy is above zero."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    first: dict[str, Any] | None = None
    last: dict[str, Any] | None = None
    while loop.time() < deadline:
        last = await inbound_audio(page)
        if last is not None and last["packets"] > 0:
            if first is None:
                first = last
            elif last["packets"] > first["packets"] + 20 and last["energy"] > 0:
                return last
        await asyncio.sleep(0.25)
    raise AssertionError(f"no audio flowing into {page.url}: first={first} last={last}")


async def open_resident(browser: Browser, gateway: RunningGateway) -> Page:
    context = await browser.new_context()
    page = await context.new_page()
    page.on("pageerror", lambda exc: pytest.fail(f"page error: {exc}"))
    await page.goto(gateway.base_url + "/lines/demo?lang=en")
    return page


async def open_console(browser: Browser, gateway: RunningGateway) -> Page:
    context = await browser.new_context()
    page = await context.new_page()
    page.on("pageerror", lambda exc: pytest.fail(f"page error: {exc}"))
    link = signin_link(gateway.config, "Test Worker", ("demo",))
    await page.goto(link.replace("/pro/signin#", "/pro/signin?lang=en#"))
    await page.wait_for_url(re.compile(r".*/pro(\?.*)?$"))
    if "lang=en" not in page.url:
        await page.goto(gateway.base_url + "/pro?lang=en")
    return page


def button(page: Page, name: str) -> Any:
    return page.get_by_role("button", name=name, exact=True)


async def test_resident_and_professional_talk(browser: Browser, gateway: RunningGateway) -> None:
    resident = await open_resident(browser, gateway)
    console = await open_console(browser, gateway)

    await button(resident, "Call").click()
    await expect(
        resident.get_by_role("status").filter(has_text=re.compile(r"\b1\b"))
    ).to_be_visible(timeout=15000)
    answer = button(console, "Answer next caller")
    await expect(answer).to_be_enabled(timeout=15000)
    await answer.click()

    resident_audio = await wait_for_audio(resident)
    console_audio = await wait_for_audio(console)
    assert resident_audio["energy"] > 0
    assert console_audio["energy"] > 0

    await button(resident, "Hang up").click()
    await expect(button(console, "Hang up")).to_be_hidden(timeout=10000)
    await expect(button(resident, "Call")).to_be_visible(timeout=10000)
    for _ in range(50):
        if gateway.center.active_calls == 0:
            break
        await asyncio.sleep(0.1)
    assert gateway.center.active_calls == 0


async def test_second_caller_moves_from_two_to_one(
    browser: Browser, gateway: RunningGateway
) -> None:
    first = await open_resident(browser, gateway)
    second = await open_resident(browser, gateway)
    console = await open_console(browser, gateway)

    await button(first, "Call").click()
    await expect(first.get_by_role("status").filter(has_text=re.compile(r"\b1\b"))).to_be_visible(
        timeout=15000
    )
    await button(second, "Call").click()
    await expect(second.get_by_role("status").filter(has_text=re.compile(r"\b2\b"))).to_be_visible(
        timeout=15000
    )
    await button(console, "Answer next caller").click()
    await expect(second.get_by_role("status").filter(has_text=re.compile(r"\b1\b"))).to_be_visible(
        timeout=15000
    )
    await wait_for_audio(first)
    await button(console, "Hang up").click()
    await expect(button(first, "Call")).to_be_visible(timeout=10000)
    # Cancel leaves the queue.
    await button(second, "Cancel").click()
    await expect(button(second, "Call")).to_be_visible(timeout=10000)
    for _ in range(50):
        if gateway.center.queued == 0 and gateway.center.active_calls == 0:
            break
        await asyncio.sleep(0.1)
    assert gateway.center.queued == 0
