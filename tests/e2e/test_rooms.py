"""End to end in real headless Chromium: calls as rooms of participants.

An interpreter joins from an invitation link; residents reload the page in the queue and in
a call and come back; a resident's signalling is cut as when a phone changes networks, and
the call survives. What is asserted is what flows (RTCPeerConnection statistics: inbound
audio packets growing with received audio energy growing), not what the pages claim.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, expect

from tests.e2e.pages import (
    assert_not_logged,
    button,
    call_and_answer,
    new_page,
    open_console,
    open_resident,
    queue_length,
    queue_position,
    status_with,
    stored_resume_keys,
    two_queued_residents,
    wait_for_audio_streams,
    watch_errors,
)
from tests.support.gateway import RunningGateway, make_config, running_gateway
from tests.support.proxy import CuttableProxy

pytestmark = pytest.mark.e2e


async def test_interpreter_joins_and_all_three_hear(
    browser: Browser, gateway: RunningGateway
) -> None:
    resident = await open_resident(browser, gateway.base_url)
    console = await open_console(browser, gateway)
    await call_and_answer(resident, console)

    await button(console, "Invite interpreter").click()
    language = console.get_by_label("Language", exact=True)
    await expect(language).to_be_focused()
    await language.select_option("ar")
    await expect(language.locator("option[value=ar]")).to_have_text("Arabic")
    await button(console, "Create link").click()
    link_el = console.get_by_test_id("invite-link")
    await expect(link_el).to_contain_text("/join#token=", timeout=10000)
    url = (await link_el.text_content() or "").strip()
    token = url.split("#token=", 1)[1]
    await expect(button(console, "Copy link")).to_be_visible()

    _, interpreter = await new_page(browser)
    await interpreter.goto(url.replace("/join#", "/join?lang=en#"))
    await expect(interpreter.get_by_text("Language: Arabic")).to_be_visible(timeout=10000)
    # The token is read from the fragment and taken out of the address bar.
    assert "token" not in interpreter.url
    join = button(interpreter, "Join")
    await expect(join).to_be_enabled(timeout=10000)
    await join.click()
    await expect(button(interpreter, "Hang up")).to_be_focused(timeout=15000)

    # All three hear the two others.
    await asyncio.gather(
        wait_for_audio_streams(resident, count=2, timeout=25),
        wait_for_audio_streams(console, count=2, timeout=25),
        wait_for_audio_streams(interpreter, count=2, timeout=25),
    )

    await expect(console.locator("#participants")).to_contain_text(
        "Interpreter (Arabic): connected"
    )
    await expect(console.locator("#participants")).to_contain_text("Caller: connected")
    await expect(resident.locator("#participants")).to_contain_text("Interpreter (Arabic)")
    await expect(resident.locator("#participants")).to_contain_text("Professional")
    await expect(resident.locator("#call-notice")).to_contain_text(
        "The interpreter (Arabic) joined the call."
    )
    await expect(interpreter.locator("#participants")).to_contain_text("Caller")
    await expect(button(console, "Invite interpreter")).to_be_hidden()

    # The professional removes the interpreter; resident and professional go on talking.
    await button(console, "Remove interpreter").click()
    await expect(status_with(interpreter, "removed you")).to_be_visible(timeout=10000)
    await expect(resident.locator("#call-notice")).to_contain_text(
        "The interpreter (Arabic) was removed from the call."
    )
    await expect(button(console, "Remove interpreter")).to_be_hidden()
    await expect(button(console, "Invite interpreter")).to_be_visible()
    await wait_for_audio_streams(resident)
    await wait_for_audio_streams(console)
    for page in (resident, console, interpreter):
        assert_not_logged(page, token)


async def test_resident_reloads_in_the_queue_and_keeps_the_place(
    browser: Browser, gateway: RunningGateway
) -> None:
    first, second = await two_queued_residents(browser, gateway)
    assert await stored_resume_keys(second) == ["tukilinja.resume.line.demo"]
    token = await second.evaluate("() => sessionStorage.getItem('tukilinja.resume.line.demo')")

    await second.reload()
    await queue_position(second, 2)
    await expect(button(second, "Cancel")).to_be_visible()
    # The token was used up and replaced; it is in no URL.
    new_token = await second.evaluate("() => sessionStorage.getItem('tukilinja.resume.line.demo')")
    assert new_token and new_token != token
    assert token not in second.url and new_token not in second.url
    assert await queue_length(gateway) == 2

    # The reloaded page still gets queue updates: the first caller leaves, it moves up.
    await button(first, "Cancel").click()
    await queue_position(second, 1)
    await button(second, "Cancel").click()
    await expect(button(second, "Call")).to_be_visible(timeout=10000)
    assert await stored_resume_keys(second) == []
    assert await queue_length(gateway) == 0
    assert_not_logged(second, token, new_token)


async def test_resident_reloads_in_a_call_and_the_call_comes_back(
    browser: Browser, gateway: RunningGateway
) -> None:
    resident = await open_resident(browser, gateway.base_url)
    console = await open_console(browser, gateway)
    await call_and_answer(resident, console)

    await resident.reload()
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.gather(
        wait_for_audio_streams(resident, timeout=10),
        wait_for_audio_streams(console, timeout=10),
    )
    assert loop.time() - started < 10
    await expect(button(resident, "Hang up")).to_be_visible()
    await expect(status_with(resident, "Connected")).to_be_visible()
    await expect(button(console, "Hang up")).to_be_visible()
    await expect(console.get_by_text("hung up")).to_have_count(0)
    assert await queue_length(gateway) == 0

    await button(resident, "Hang up").click()
    await expect(button(console, "Hang up")).to_be_hidden(timeout=10000)
    assert await stored_resume_keys(resident) == []


@pytest.fixture
async def proxied() -> AsyncIterator[tuple[RunningGateway, CuttableProxy]]:
    """A gateway, and a proxy in front of it whose origin the gateway accepts."""
    gateway_port_config = make_config()
    proxy = CuttableProxy(gateway_port_config.port)
    config = make_config(
        {"server": {"port": gateway_port_config.port, "allowed_origins": [proxy.origin]}}
    )
    async with running_gateway(config) as gw:
        await proxy.start()
        try:
            yield gw, proxy
        finally:
            await proxy.stop()


async def test_call_survives_the_residents_network_change(
    browser: Browser, proxied: tuple[RunningGateway, CuttableProxy]
) -> None:
    gateway, proxy = proxied
    resident = await open_resident(browser, proxy.origin)
    console = await open_console(browser, gateway)
    await call_and_answer(resident, console)
    pc_before = await resident.evaluate("() => { window.pcBefore = window.tukilinjaPc; return 1; }")
    assert pc_before == 1

    cut = asyncio.create_task(proxy.cut(10))
    await expect(status_with(resident, "Reconnecting")).to_be_visible(timeout=5000)
    await expect(
        console.get_by_text(re.compile("reconnecting", re.IGNORECASE)).first
    ).to_be_visible(timeout=10000)
    await expect(button(console, "Hang up")).to_be_visible()
    await expect(console.get_by_text("hung up")).to_have_count(0)
    await cut

    await expect(status_with(resident, "Connected")).to_be_visible(timeout=15000)
    await asyncio.gather(
        wait_for_audio_streams(resident, timeout=15),
        wait_for_audio_streams(console, timeout=15),
    )
    await expect(console.get_by_text("hung up")).to_have_count(0)
    await expect(console.locator("#participants")).to_contain_text("Caller: connected")
    # The peer connection survived the cut (keepMedia): it is the same object.
    assert await resident.evaluate("() => window.pcBefore === window.tukilinjaPc")
    assert await queue_length(gateway) == 0


async def test_professional_reloads_in_a_call_and_the_resident_sees_reconnecting(
    browser: Browser, gateway: RunningGateway
) -> None:
    resident = await open_resident(browser, gateway.base_url)
    console = await open_console(browser, gateway)
    await call_and_answer(resident, console)

    await console.reload()
    await asyncio.gather(
        wait_for_audio_streams(resident, timeout=15),
        wait_for_audio_streams(console, timeout=15),
    )
    await expect(button(console, "Hang up")).to_be_visible()
    # The resident was told, in the polite live region, that the professional dropped and
    # came back.
    await expect(resident.locator("#call-notice")).to_contain_text("The professional is back")
    await expect(resident.locator("#participants")).to_contain_text("Professional: connected")
    await button(console, "Hang up").click()
    await expect(button(resident, "Call")).to_be_visible(timeout=10000)


async def test_professional_rejoins_from_another_tab(
    browser: Browser, gateway: RunningGateway
) -> None:
    resident = await open_resident(browser, gateway.base_url)
    console = await open_console(browser, gateway)
    await call_and_answer(resident, console)

    # Another tab of the same staff session: no resume token there, the call is listed.
    other = await console.context.new_page()
    watch_errors(other)
    await other.goto(gateway.base_url + "/pro?lang=en")
    rejoin = button(other, "Rejoin call")
    await expect(rejoin).to_be_visible(timeout=10000)
    await rejoin.click()
    await expect(button(other, "Hang up")).to_be_visible(timeout=10000)
    # The first console lets go of the call without ending it.
    await expect(status_with(console, "in another window")).to_be_visible(timeout=10000)
    await expect(button(console, "Hang up")).to_be_hidden()
    await asyncio.gather(
        wait_for_audio_streams(resident, timeout=15),
        wait_for_audio_streams(other, timeout=15),
    )
    await expect(resident.locator("#participants")).to_contain_text("Professional: connected")
    await expect(button(resident, "Hang up")).to_be_visible()


async def test_interpreter_link_that_is_not_valid_says_so(
    browser: Browser, gateway: RunningGateway
) -> None:
    _, page = await new_page(browser)
    await page.goto(gateway.base_url + "/join?lang=en#token=not-a-real-invitation")
    await expect(status_with(page, "This link is not valid")).to_be_visible(timeout=10000)
    assert "token" not in page.url
    await expect(button(page, "Join")).to_be_hidden()
    _, bare = await new_page(browser)
    await bare.goto(gateway.base_url + "/join?lang=en")
    await expect(status_with(bare, "The link is incomplete")).to_be_visible(timeout=10000)


@pytest.fixture
async def proxied_short_grace() -> AsyncIterator[tuple[RunningGateway, CuttableProxy]]:
    base = make_config()
    proxy = CuttableProxy(base.port)
    config = make_config(
        {
            "server": {"port": base.port, "allowed_origins": [proxy.origin]},
            "calls": {"grace_seconds": 2},
        }
    )
    async with running_gateway(config) as gw:
        await proxy.start()
        try:
            yield gw, proxy
        finally:
            await proxy.stop()


async def test_resident_gone_longer_than_the_grace_period(
    browser: Browser, proxied_short_grace: tuple[RunningGateway, CuttableProxy]
) -> None:
    gateway, proxy = proxied_short_grace
    resident = await open_resident(browser, proxy.origin)
    console = await open_console(browser, gateway)
    await call_and_answer(resident, console)

    await proxy.cut(5)
    # The professional is told in plain words why the call ended; not "hung up".
    await expect(status_with(console, "connection to the resident was lost")).to_be_visible(
        timeout=10000
    )
    await expect(console.get_by_text("hung up")).to_have_count(0)
    # The resident's page comes back, finds the call over and says so.
    await expect(status_with(resident, "The call has ended")).to_be_visible(timeout=15000)
    await expect(button(resident, "Call")).to_be_visible()
    assert await stored_resume_keys(resident) == []


async def test_queued_resident_keeps_the_place_across_a_network_change(
    browser: Browser, proxied: tuple[RunningGateway, CuttableProxy]
) -> None:
    gateway, proxy = proxied
    resident = await open_resident(browser, proxy.origin)
    await button(resident, "Call").click()
    await queue_position(resident, 1)
    cut = asyncio.create_task(proxy.cut(3))
    await expect(status_with(resident, "Reconnecting")).to_be_visible(timeout=5000)
    await expect(button(resident, "Cancel")).to_be_visible()
    await cut
    await queue_position(resident, 1)
    assert await queue_length(gateway) == 1
    # Answered after coming back: the same peer connection carries the call.
    console = await open_console(browser, gateway)
    await button(console, "Answer next caller").click()
    await asyncio.gather(wait_for_audio_streams(resident), wait_for_audio_streams(console))
