"""End to end in real headless Chromium: the professional's console and the resident's call
screen tell the truth (issue 14): waiting callers with their waiting times, a title change
when a caller arrives, Available / Away, wrap-up with focus that never lands on Sign out,
the muted button's contrast on a touch screen (axe-core), who is on the line."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Locator, Page, expect

from tests.e2e.pages import (
    button,
    call_and_answer,
    open_console,
    open_resident,
    queue_position,
    status_with,
    two_queued_residents,
    watch_errors,
)
from tests.support.gateway import RunningGateway

pytestmark = pytest.mark.e2e

TITLE = "Professional console \N{EN DASH} Tukilinja"
AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"


def waiting_list(console: Page) -> Locator:
    return console.locator("#line-cards").get_by_role("list")


async def test_console_lists_waiting_callers_and_keeps_them_during_a_call(
    browser: Browser, gateway: RunningGateway
) -> None:
    console = await open_console(browser, gateway)
    await expect(button(console, "Available")).to_have_attribute("aria-pressed", "true")
    first, _second = await two_queued_residents(browser, gateway)

    items = waiting_list(console).get_by_role("listitem")
    await expect(items).to_have_count(2, timeout=10000)
    await expect(items.nth(0)).to_contain_text("Caller 1")
    await expect(items.nth(1)).to_contain_text("Caller 2")
    await expect(items.nth(0)).to_contain_text(re.compile(r"Caller 1: waiting \d+ seconds?"))
    await expect(items.nth(1)).to_contain_text(re.compile(r"Caller 2: waiting \d+ seconds?"))
    # The waiting times count on.
    before = await items.nth(0).text_content()
    await expect(items.nth(0)).not_to_have_text(before or "", timeout=5000)

    await button(console, "Answer next caller").click()
    await expect(status_with(first, "Connected")).to_be_visible(timeout=15000)
    # During the call the queue stays in view, with the one caller still waiting.
    await expect(console.locator("#call-view")).to_be_visible()
    await expect(items).to_have_count(1)
    await expect(items.nth(0)).to_contain_text("Caller 1")
    await expect(waiting_list(console)).to_be_visible()
    await expect(items.nth(0)).to_contain_text(re.compile(r"Caller 1: waiting \d+ seconds?"))


async def test_a_caller_on_an_empty_queue_changes_the_title(
    browser: Browser, gateway: RunningGateway
) -> None:
    console = await open_console(browser, gateway)
    await expect(console).to_have_title(TITLE)
    resident = await open_resident(browser, gateway.base_url)
    await button(resident, "Call").click()
    await expect(console).to_have_title(re.compile(r"Caller waiting"), timeout=10000)
    await expect(status_with(console, "A caller is waiting")).to_be_visible()
    # The caller leaves: the title and the message go with them.
    await button(resident, "Cancel").click()
    await expect(console).to_have_title(TITLE, timeout=10000)
    await expect(status_with(console, "A caller is waiting")).to_have_count(0)


async def test_keyboard_professional_answers_hangs_up_and_stays_signed_in(
    browser: Browser, gateway: RunningGateway
) -> None:
    console = await open_console(browser, gateway)
    resident = await open_resident(browser, gateway.base_url)
    await button(resident, "Call").click()
    await queue_position(resident, 1)
    answer = button(console, "Answer next caller")
    await expect(answer).to_be_enabled(timeout=10000)
    for _ in range(40):
        if await answer.evaluate("(el) => el === document.activeElement"):
            break
        await console.keyboard.press("Tab")
    await expect(answer).to_be_focused()
    await console.keyboard.press("Enter")
    hangup = button(console, "Hang up")
    await expect(hangup).to_be_focused(timeout=15000)
    await expect(status_with(resident, "Connected")).to_be_visible(timeout=15000)
    await console.keyboard.press("Enter")
    # After the call: wrap-up, focus on the line's answer button, never on Sign out.
    await expect(answer).to_be_focused(timeout=5000)
    await expect(console.get_by_text(re.compile(r"Wrap-up"))).to_be_visible()
    await console.keyboard.press("Enter")
    await console.keyboard.press("Enter")
    await expect(button(console, "Sign out")).to_be_visible()
    await expect(console.get_by_role("heading", name="You are not signed in")).to_be_hidden()
    await expect(status_with(resident, "The professional ended the call")).to_be_visible(
        timeout=10000
    )


async def test_away_console_leaves_the_resident_told_no_one_is_answering(
    browser: Browser, gateway: RunningGateway
) -> None:
    resident = await open_resident(browser, gateway.base_url)
    nobody = status_with(resident, "No one is answering right now")
    await expect(nobody).to_be_visible(timeout=10000)
    console = await open_console(browser, gateway)
    await expect(nobody).to_have_count(0, timeout=10000)
    await button(console, "Away").click()
    await expect(button(console, "Away")).to_have_attribute("aria-pressed", "true")
    await expect(nobody).to_be_visible(timeout=10000)
    await button(console, "Available").click()
    await expect(nobody).to_have_count(0, timeout=10000)
    # Queued, the caller is told when nobody can answer any more, and keeps the place.
    await button(resident, "Call").click()
    await queue_position(resident, 1)
    await button(console, "Away").click()
    await expect(status_with(resident, "You keep your place in the queue")).to_be_visible(
        timeout=10000
    )
    await queue_position(resident, 1)
    await button(console, "Available").click()
    await expect(nobody).to_have_count(0, timeout=10000)


async def test_resident_call_screen_on_a_phone(browser: Browser, gateway: RunningGateway) -> None:
    context = await browser.new_context(
        has_touch=True, is_mobile=True, viewport={"width": 390, "height": 844}, bypass_csp=True
    )
    resident = await context.new_page()
    watch_errors(resident)
    await resident.goto(gateway.base_url + "/lines/demo?lang=en")
    console = await open_console(browser, gateway)
    await call_and_answer(resident, console)

    # Who is on the line, by role; the pre-call texts are gone.
    await expect(resident.locator("#participants")).to_contain_text("Professional")
    await expect(resident.get_by_role("heading", name="Call in progress")).to_be_visible()
    await expect(resident.locator("#privacy-note")).to_be_hidden()
    await expect(resident.get_by_label("Volume")).to_be_visible()

    await button(resident, "Mute microphone").tap()
    muted = button(resident, "Unmute microphone")
    await expect(muted).to_have_attribute("aria-pressed", "true")
    await resident.add_script_tag(path=str(AXE))
    result: dict[str, Any] = await resident.evaluate(
        "async () => axe.run('#mute-button', {runOnly: ['color-contrast']})"
    )
    assert result["violations"] == [], result["violations"]
    assert result["passes"], "axe-core did not check the muted button"
    await muted.tap()
    await expect(button(resident, "Mute microphone")).to_have_attribute("aria-pressed", "false")
    await context.close()


async def serious_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical findings on the whole page (WCAG 2.1 A and AA)."""
    if not await page.evaluate("() => typeof axe !== 'undefined'"):
        await page.evaluate(AXE.read_text())  # evaluated by the tool, so the page's CSP holds
    result: dict[str, Any] = await page.evaluate(
        "async () => axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']})"
    )
    return [
        {"id": v["id"], "nodes": [(n["target"], n["failureSummary"]) for n in v["nodes"]]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


async def test_new_states_pass_axe(browser: Browser, gateway: RunningGateway) -> None:
    """No one answering, the waiting list, Away, wrap-up: no serious axe-core findings."""
    resident = await open_resident(browser, gateway.base_url)
    await expect(status_with(resident, "No one is answering right now")).to_be_visible(
        timeout=10000
    )
    assert await serious_violations(resident) == []
    console = await open_console(browser, gateway)
    await button(resident, "Call").click()
    await queue_position(resident, 1)
    await expect(waiting_list(console).get_by_role("listitem")).to_have_count(1, timeout=10000)
    assert await serious_violations(console) == []
    await button(console, "Away").click()
    await expect(status_with(resident, "You keep your place in the queue")).to_be_visible(
        timeout=10000
    )
    assert await serious_violations(console) == []
    assert await serious_violations(resident) == []
    await button(console, "Available").click()
    await button(console, "Answer next caller").click()
    await expect(status_with(resident, "Connected")).to_be_visible(timeout=15000)
    assert await serious_violations(resident) == []
    await button(console, "Hang up").click()
    await expect(console.get_by_text(re.compile(r"Wrap-up"))).to_be_visible(timeout=5000)
    assert await serious_violations(console) == []
