"""End to end in real headless Chromium: strong identification inside a call, and video
only with the resident's consent (docs/protocol.md, `identify.*`, `video.*`).

Two kinds of test:

- The whole step-up against the gateway: Request identification, Identify in a popup at
  the built-in demo provider, the console showing the masked identity code, Request video,
  Allow video or Decline, Stop video. What is asserted is what flows (inbound video frames
  decoded, inbound audio packets that never stop), not what the pages claim. They use the
  gateway's identification (its built-in demo provider) and video.
- The pages alone, against the real gateway for the call itself but with the step-up
  events the protocol documents put on the page's signalling socket by the test (Playwright
  routes the WebSocket: everything else passes through untouched). These check what the
  pages render and announce, keyboard use and focus, axe-core, the popup and its fallback,
  camera errors, and that CallMedia.startVideo / stopVideo renegotiate with the gateway
  (the camera added, then taken off) while the call's audio goes on.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, WebSocketRoute, expect
from playwright.async_api import Error as PlaywrightError

from gateway.cli import signin_link
from tests.e2e.pages import (
    CONSOLE,
    button,
    call_and_answer,
    inbound_streams,
    open_console,
    open_resident,
    status_with,
    wait_for_audio_streams,
    watch_errors,
)
from tests.support.gateway import RunningGateway

pytestmark = pytest.mark.e2e

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
# 010190-***A: the birth date, the century sign, the individual number masked, the check
# character.
MASKED_CODE = re.compile(r"\d{6}[-+A-FYXWVU]\*\*\*[0-9A-Y]")
IDENTITY = {
    "name": "Testi Henkilö",
    "code": "010190-***A",
    "birthdate": "1990-01-01",
    "level": "high",
    "provider": "Demo",
}

# Every inbound video stream of the page's peer connection: frames decoded so far.
INBOUND_VIDEO_JS = """
async () => {
  const pc = window.tukilinjaPc;
  if (!pc) return null;
  const stats = await pc.getStats();
  const out = {};
  stats.forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'video') out[s.id] = s.framesDecoded || 0;
  });
  return out;
}
"""

# What the page's peer connection sends as video: the camera track on a sender, and how
# the transceiver of it is set.
VIDEO_SENDER_JS = """
() => {
  const pc = window.tukilinjaPc;
  if (!pc) return null;
  const video = pc.getTransceivers().filter((t) => t.sender.track && t.sender.track.kind === 'video'
    || (t.receiver.track && t.receiver.track.kind === 'video'));
  return video.map((t) => ({
    track: t.sender.track ? t.sender.track.readyState : null,
    direction: t.direction,
    current: t.currentDirection,
  }));
}
"""

PREVIEW_PLAYING_JS = """
() => {
  const v = document.getElementById('local-video');
  return Boolean(v && v.srcObject && v.readyState >= 2 && v.videoWidth > 0);
}
"""


# ---- the step-up events on the page's socket ------------------------------------------------


class SocketTap:
    """The page's signalling socket, passed through Playwright to the real gateway.

    Requests whose type is in ``replies`` are answered here instead (a result, or an error
    when the reply has ``code``) and recorded in ``sent``; ``event()`` puts a gateway
    event on the page's socket, with the call's id seen in ``call.connected``.
    """

    def __init__(self, replies: dict[str, dict[str, Any]] | None = None) -> None:
        self.replies: dict[str, dict[str, Any]] = dict(replies or {})
        self.sent: list[dict[str, Any]] = []
        self.call_id: str | None = None
        self.participant_id: str | None = None
        self._route: WebSocketRoute | None = None

    async def attach(self, page: Page) -> None:
        await page.route_web_socket(re.compile(r"/ws$"), self._handle)

    def _handle(self, ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()
        self._route = ws

        def from_page(message: str | bytes) -> None:
            msg = _parse(message)
            kind = msg.get("type") if msg else None
            if msg is not None and isinstance(kind, str) and kind in self.replies:
                self.sent.append(msg)
                reply = self.replies[kind]
                if "code" in reply:
                    error = {"code": reply["code"], "message": reply["code"]}
                    ws.send(json.dumps({"type": "error", "id": msg.get("id"), "error": error}))
                else:
                    ws.send(json.dumps({"type": "result", "id": msg.get("id"), "result": reply}))
                return
            server.send(message)

        def from_server(message: str | bytes) -> None:
            msg = _parse(message)
            if msg is not None and msg.get("type") == "call.connected":
                self.call_id = msg.get("callId") or self.call_id
                self.participant_id = msg.get("participantId") or self.participant_id
            ws.send(message)

        ws.on_message(from_page)
        server.on_message(from_server)

    def event(self, kind: str, **fields: Any) -> None:
        assert self._route is not None, "the page has no signalling socket"
        self._route.send(json.dumps({"type": kind, "callId": self.call_id, **fields}))

    def requests(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.sent if m.get("type") == kind]


def _parse(message: str | bytes) -> dict[str, Any] | None:
    try:
        msg = json.loads(message)
    except ValueError:
        return None
    return msg if isinstance(msg, dict) else None


async def tapped_page(browser: Browser, tap: SocketTap, **options: Any) -> Page:
    """A page whose socket goes through ``tap``; CSP bypassed so that axe-core can be added."""
    context = await browser.new_context(bypass_csp=True, **options)
    page = await context.new_page()
    watch_errors(page)
    await tap.attach(page)
    return page


async def tapped_resident(
    browser: Browser, gateway: RunningGateway, tap: SocketTap, init_script: str | None = None
) -> tuple[BrowserContext, Page]:
    page = await tapped_page(browser, tap)
    context = page.context
    if init_script:
        await page.add_init_script(init_script)
    await page.goto(gateway.base_url + "/lines/demo?lang=en")
    return context, page


async def tapped_console(browser: Browser, gateway: RunningGateway, tap: SocketTap) -> Page:
    page = await tapped_page(browser, tap)
    link = signin_link(gateway.config, "Test Worker", ("demo",))
    await page.goto(link.replace("/pro/signin#", "/pro/signin?lang=en#"))
    await page.wait_for_url(re.compile(r".*/pro(\?.*)?$"))
    if "lang=en" not in page.url:
        await page.goto(gateway.base_url + "/pro?lang=en")
    return page


async def eventually(check: Callable[[], Any], timeout: float = 10, what: str = "") -> None:
    """Wait until ``check()`` (a value or an awaitable) is true."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.1)


async def run_axe(page: Page, selector: str) -> None:
    if not await page.evaluate("() => typeof window.axe !== 'undefined'"):
        await page.add_script_tag(path=str(AXE))
    result: dict[str, Any] = await page.evaluate(
        """async (selector) => axe.run(selector, {runOnly: {type: 'tag',
             values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})""",
        selector,
    )
    assert result["violations"] == [], [
        (v["id"], [n["html"] for n in v["nodes"]]) for v in result["violations"]
    ]
    assert result["passes"], f"axe-core checked nothing in {selector}"


async def audio_packets(page: Page) -> float:
    streams = await inbound_streams(page) or {}
    return sum(s["packets"] for s in streams.values())


async def video_frames(page: Page) -> dict[str, int]:
    frames: dict[str, int] | None = await page.evaluate(INBOUND_VIDEO_JS)
    return frames or {}


async def total_frames(page: Page) -> int:
    return sum((await video_frames(page)).values())


async def video_senders(page: Page) -> list[dict[str, Any]]:
    senders: list[dict[str, Any]] | None = await page.evaluate(VIDEO_SENDER_JS)
    return senders or []


async def wait_for_frames(page: Page, more_than: int = 0, timeout: float = 10) -> int:
    """Wait until the page has decoded more than ``more_than`` video frames in all."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        frames = await total_frames(page)
        if frames > more_than:
            return frames
        await asyncio.sleep(0.1)
    raise AssertionError(f"no video decoded in {page.url} within {timeout} s")


async def identify_in_popup(resident: Page) -> None:
    """Identify → the demo provider's popup → Identify as test person."""
    async with resident.context.expect_page() as popup_info:
        await button(resident, "Identify").click()
    popup = await popup_info.value
    await popup.wait_for_load_state()
    radios = popup.get_by_role("radio")
    await expect(radios.first).to_be_visible(timeout=10000)
    await radios.first.check()
    try:
        await button(popup, "Identify as test person").click()
    except PlaywrightError:
        # The call page closes the provider's window once the gateway says identified.
        if not popup.is_closed():
            raise


async def identified_call(browser: Browser, gateway: RunningGateway) -> tuple[Page, Page]:
    """An anonymous call in which the resident then identifies at the demo provider."""
    resident = await open_resident(browser, gateway.base_url)
    console = await open_console(browser, gateway)
    await call_and_answer(resident, console)
    # Anonymous and audio only: no identity, no video.
    await expect(console.get_by_text("Identified", exact=True)).to_be_hidden()
    assert await video_frames(resident) == {}
    assert await video_frames(console) == {}

    await button(console, "Request identification").click()
    await expect(console.locator("#identify-state")).to_have_text(
        "Waiting for the resident to identify…"
    )
    await expect(resident.locator("#identify-text")).to_have_text(
        "The professional asks you to identify yourself strongly.", timeout=10000
    )
    page_url = resident.url
    await identify_in_popup(resident)
    await expect(console.get_by_text("Identified", exact=True)).to_be_visible(timeout=15000)
    await expect(console.locator("#identity")).to_contain_text(MASKED_CODE)
    await expect(resident.locator("#identify-text")).to_have_text(
        re.compile(r"You are identified \((high|substantial) level, by .+\)\.")
    )
    # The call page never left the call.
    assert resident.url == page_url
    return resident, console


# ---- the whole step-up against the gateway ---------------------------------------------------


async def test_identified_resident_allows_video_and_stops_it(
    browser: Browser, demo_gateway: RunningGateway
) -> None:
    gateway = demo_gateway
    resident, console = await identified_call(browser, gateway)
    audio_before = (await audio_packets(resident), await audio_packets(console))

    await console.get_by_label("Purpose of video").select_option("see_document")
    await button(console, "Request video").click()
    await expect(console.locator("#video-state")).to_have_text("Waiting for the resident's answer…")
    dialog = resident.get_by_role("dialog", name="Video request")
    await expect(dialog).to_be_visible(timeout=10000)
    await expect(dialog).to_contain_text("show a document")
    await expect(dialog).to_contain_text("Nothing is recorded")

    loop = asyncio.get_running_loop()
    allowed_at = loop.time()
    await button(resident, "Allow video").click()
    # The first picture within 2 s of consent, both ways (loopback).
    await asyncio.gather(
        wait_for_frames(console, timeout=allowed_at + 2 - loop.time()),
        wait_for_frames(resident, timeout=allowed_at + 2 - loop.time()),
    )
    audio_on = (await audio_packets(resident), await audio_packets(console))
    assert audio_on[0] > audio_before[0] and audio_on[1] > audio_before[1]
    # And it goes on.
    first = (await total_frames(console), await total_frames(resident))
    await asyncio.gather(
        wait_for_frames(console, more_than=first[0] + 15),
        wait_for_frames(resident, more_than=first[1] + 15),
    )
    await expect(button(console, "Stop video")).to_be_visible()

    # The resident withdraws consent: within 2 s no more pictures reach the console.
    stopped_at = loop.time()
    await button(resident, "Stop video").click()
    await expect(console.locator("#video-state")).to_have_text(
        "The resident stopped the video.", timeout=2000
    )
    await asyncio.sleep(max(0.0, stopped_at + 2 - loop.time()))
    frozen = await total_frames(console)
    await asyncio.sleep(1.5)
    assert await total_frames(console) == frozen, "video kept coming after it was stopped"
    await expect(resident.locator("#call-notice")).to_have_text(
        "You stopped the video. The call continues with audio only."
    )
    await expect(resident.locator("#video-box")).to_be_hidden()

    # The audio never stopped.
    assert await audio_packets(resident) > audio_on[0]
    assert await audio_packets(console) > audio_on[1]
    await wait_for_audio_streams(resident)
    await wait_for_audio_streams(console)


async def test_declined_video_sends_no_picture(
    browser: Browser, demo_gateway: RunningGateway
) -> None:
    gateway = demo_gateway
    resident, console = await identified_call(browser, gateway)
    await console.get_by_label("Purpose of video").select_option("assess_situation")
    await button(console, "Request video").click()
    await expect(resident.get_by_role("dialog", name="Video request")).to_be_visible(timeout=10000)
    await button(resident, "Decline").click()
    await expect(console.locator("#video-state")).to_have_text(
        "The resident declined the video.", timeout=5000
    )
    await expect(resident.locator("#call-notice")).to_have_text(
        "You declined the video. The call continues with audio only."
    )
    await asyncio.sleep(3)
    assert await total_frames(console) == 0
    assert await total_frames(resident) == 0
    assert await video_senders(resident) == [] or all(
        s["track"] is None for s in await video_senders(resident)
    )
    await wait_for_audio_streams(resident)
    await wait_for_audio_streams(console)


async def test_professional_stops_the_video(browser: Browser, demo_gateway: RunningGateway) -> None:
    gateway = demo_gateway
    resident, console = await identified_call(browser, gateway)
    await button(console, "Request video").click()
    await button(resident, "Allow video").click()
    await wait_for_frames(resident, timeout=5)
    await wait_for_frames(console, timeout=5)
    loop = asyncio.get_running_loop()
    stopped_at = loop.time()
    await button(console, "Stop video").click()
    await expect(resident.locator("#call-notice")).to_have_text(
        "The professional stopped the video. The call continues with audio only.", timeout=2000
    )
    await asyncio.sleep(max(0.0, stopped_at + 2 - loop.time()))
    frozen = await total_frames(resident)
    await asyncio.sleep(1.5)
    assert await total_frames(resident) == frozen
    await wait_for_audio_streams(resident)
    await wait_for_audio_streams(console)
    # When the call ends, nothing of the identity is left on the console.
    await button(console, "Hang up").click()
    await expect(console.get_by_text("Identified", exact=True)).to_be_hidden()
    body = await console.locator("body").inner_text()
    assert MASKED_CODE.search(body) is None


# ---- the pages alone (no identification at the gateway yet) ---------------------------------


async def test_audio_only_by_default_and_identification_unavailable(
    browser: Browser, gateway: RunningGateway
) -> None:
    tap = SocketTap({"identify.request": {"code": "identification_unavailable"}})
    resident = await open_resident(browser, gateway.base_url)
    console = await tapped_console(browser, gateway, tap)
    await call_and_answer(resident, console)

    # Audio only: no camera asked for, no video section, nothing of identification on the
    # resident's page until the professional asks.
    assert await video_senders(resident) == []
    assert await video_senders(console) == []
    await expect(resident.locator("#identify-box")).to_be_hidden()
    await expect(resident.locator("#video-box")).to_be_hidden()
    await expect(console.get_by_text(re.compile(r"The resident is anonymous"))).to_be_visible()
    await expect(button(console, "Request video")).to_be_hidden()

    await button(console, "Request identification").click()
    alert = console.get_by_role("alert")
    await expect(alert).to_contain_text("Strong identification is not available on this service")
    await expect(console.locator("#identify-state")).to_have_text(
        "Strong identification is not available on this service."
    )
    assert len(tap.requests("identify.request")) == 1
    await wait_for_audio_streams(console)


async def test_resident_identifies_in_a_popup_and_answers_the_video_question(
    browser: Browser, gateway: RunningGateway
) -> None:
    tap = SocketTap(
        {
            "identify.start": {"url": gateway.base_url + "/?provider=demo"},
            "video.consent": {},
            "video.stop": {},
        }
    )
    _, resident = await tapped_resident(browser, gateway, tap)
    console = await open_console(browser, gateway)
    await call_and_answer(resident, console)
    assert tap.participant_id

    # The request is announced, focus stays where it was.
    hangup = button(resident, "Hang up")
    await hangup.focus()
    tap.event("identify.requested", by="professional", provider="Demo")
    notice = resident.locator("#call-notice")
    await expect(notice).to_have_text("The professional asks you to identify yourself strongly.")
    box = resident.get_by_role("region", name="Strong identification")
    await expect(box).to_be_visible()
    await expect(box).to_contain_text("The call continues while you do it")
    await expect(box).to_contain_text("at Demo")
    await expect(hangup).to_be_focused()
    await run_axe(resident, "#identify-box")

    # Identify opens the provider in a popup; the call page stays in the call.
    page_url = resident.url
    async with resident.context.expect_page() as popup_info:
        await button(resident, "Identify").click()
    popup = await popup_info.value
    await popup.wait_for_load_state()
    assert popup.url.startswith(gateway.base_url + "/?provider=demo")
    assert await popup.evaluate("() => window.opener") is None
    assert resident.url == page_url
    await expect(box).to_contain_text("opened in a new window")
    await wait_for_audio_streams(resident)

    tap.event(
        "participant.identified",
        participantId=tap.participant_id,
        level="high",
        provider="Demo",
    )
    await expect(box).to_contain_text("You are identified (high level, by Demo).")
    await expect(button(resident, "Identify")).to_be_hidden()
    await eventually(popup.is_closed, timeout=5, what="the popup closed")

    # The consent question: a dialog that takes focus, with who asks, why and what it means.
    tap.event("video.state", state="requested", purpose="see_document", by="professional")
    dialog = resident.get_by_role("dialog", name="Video request")
    await expect(dialog).to_be_visible()
    await expect(dialog).to_be_focused()
    await expect(dialog).to_contain_text("The professional asks to use video in this call.")
    await expect(dialog).to_contain_text("show a document or an object")
    await expect(dialog).to_contain_text("Nothing is recorded")
    await expect(dialog).to_contain_text("stop the video at any time")
    await expect(button(resident, "Hang up")).to_be_enabled()  # the call goes on meanwhile
    await run_axe(resident, "#video-dialog")

    # Keyboard: Tab to Allow video and press Enter.
    await resident.keyboard.press("Tab")
    await expect(button(resident, "Allow video")).to_be_focused()
    await resident.keyboard.press("Enter")
    await eventually(lambda: len(tap.requests("video.consent")) == 1, what="video.consent sent")
    assert tap.requests("video.consent")[0]["allow"] is True

    # Video on: the camera is added by renegotiation with the gateway, the preview plays,
    # focus goes to Stop video; the audio goes on.
    tap.event("video.state", state="on", purpose="see_document", by="resident", reason="allowed")
    await expect(dialog).to_be_hidden()
    stop = button(resident, "Stop video")
    await expect(stop).to_be_visible()
    await expect(stop).to_be_focused()
    await expect(resident.locator("#video-state")).to_have_text(
        "Video is on. The people in this call see your camera. Nothing is recorded."
    )
    await eventually(
        lambda: resident.evaluate(PREVIEW_PLAYING_JS), what="the camera's preview plays"
    )
    senders = await video_senders(resident)
    assert [s["track"] for s in senders] == ["live"], senders
    await eventually(
        lambda: resident.evaluate(
            "() => window.tukilinjaPc.signalingState === 'stable'"
            " && window.tukilinjaPc.getTransceivers().some((t) => t.sender.track"
            " && t.sender.track.kind === 'video' && t.currentDirection !== null)"
        ),
        what="the gateway answered the offer with the camera",
    )
    await expect(resident.get_by_role("alert")).to_be_hidden()
    await run_axe(resident, "#video-box")
    await wait_for_audio_streams(resident)
    await wait_for_audio_streams(console)

    # Stop video: the camera goes off at once, the sender carries nothing, renegotiated.
    await resident.keyboard.press("Enter")
    await eventually(lambda: len(tap.requests("video.stop")) == 1, what="video.stop sent")
    await eventually(
        lambda: resident.evaluate(
            "() => window.tukilinjaPc.signalingState === 'stable'"
            " && window.tukilinjaPc.getTransceivers()"
            ".filter((t) => t.receiver.track.kind === 'video')"
            ".every((t) => t.sender.track === null && t.direction === 'recvonly')"
        ),
        what="the camera taken off the peer connection",
    )
    assert not await resident.evaluate(PREVIEW_PLAYING_JS)
    tap.event("video.state", state="off", by="resident", reason="withdrawn")
    await expect(resident.locator("#video-box")).to_be_hidden()
    await expect(notice).to_have_text("You stopped the video. The call continues with audio only.")
    # Focus did not fall to the page: it went back to the call.
    await expect(resident.locator("#call-heading")).to_be_focused()
    await wait_for_audio_streams(resident)
    await wait_for_audio_streams(console)
    await expect(resident.get_by_role("alert")).to_be_hidden()

    # Asked again, the video can be turned on again (the transceiver is reused).
    tap.event("video.state", state="requested", purpose="sign_language", by="professional")
    await expect(dialog).to_contain_text("sign language")
    tap.event("video.state", state="on", purpose="sign_language", by="resident", reason="allowed")
    await eventually(lambda: resident.evaluate(PREVIEW_PLAYING_JS), what="the preview plays again")
    senders = await video_senders(resident)
    assert [s["track"] for s in senders] == ["live"], senders
    # The professional stops it: said in words, the camera off.
    tap.event("video.state", state="off", by="professional", reason="stopped")
    await expect(notice).to_have_text(
        "The professional stopped the video. The call continues with audio only."
    )
    await eventually(
        lambda: resident.evaluate(
            "() => !window.tukilinjaPc.getTransceivers().some((t) => t.sender.track)"
            " || window.tukilinjaPc.getTransceivers().every((t) => !t.sender.track"
            " || t.sender.track.kind === 'audio')"
        ),
        what="the camera off after the professional stopped the video",
    )
    await wait_for_audio_streams(resident)


async def test_blocked_popup_gives_a_link_and_a_denied_camera_stops_the_video(
    browser: Browser, gateway: RunningGateway
) -> None:
    tap = SocketTap(
        {
            "identify.start": {"url": gateway.base_url + "/?provider=demo"},
            "video.stop": {},
        }
    )
    blocked = """
      window.open = () => null;
      const real = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
      navigator.mediaDevices.getUserMedia = (constraints) => (constraints && constraints.video
        ? Promise.reject(new DOMException('denied', 'NotAllowedError')) : real(constraints));
    """
    _, resident = await tapped_resident(browser, gateway, tap, init_script=blocked)
    console = await open_console(browser, gateway)
    await call_and_answer(resident, console)

    tap.event("identify.requested", by="professional", provider="Demo")
    await button(resident, "Identify").click()
    await expect(resident.locator("#identify-box")).to_contain_text(
        "Your browser did not open a new window"
    )
    link = resident.get_by_role("link", name="Open the identification service (new tab)")
    await expect(link).to_have_attribute("href", gateway.base_url + "/?provider=demo")
    await expect(link).to_have_attribute("target", "_blank")
    await expect(link).to_have_attribute("rel", re.compile(r"\bnoopener\b"))
    # Identify stays: a new flow can be started.
    await expect(button(resident, "Identify")).to_be_enabled()

    tap.event("identify.failed", code="level_too_low")
    await expect(resident.locator("#identify-box")).to_contain_text("not strong enough")
    await expect(link).to_be_hidden()

    tap.event("video.state", state="requested", purpose="other", by="professional")
    tap.event("video.state", state="on", purpose="other", by="resident", reason="allowed")
    alert = resident.get_by_role("alert")
    await expect(alert).to_contain_text("The page was not allowed to use your camera")
    await expect(alert).to_contain_text("Site settings")
    await eventually(lambda: len(tap.requests("video.stop")) == 1, what="video.stop sent")
    assert await video_senders(resident) == []
    await wait_for_audio_streams(resident)


async def test_console_shows_the_identity_requests_video_and_forgets_it_after_the_call(
    browser: Browser, gateway: RunningGateway
) -> None:
    tap = SocketTap({"identify.request": {}, "video.request": {}, "video.stop": {}})
    resident = await open_resident(browser, gateway.base_url)
    console = await tapped_console(browser, gateway, tap)
    await call_and_answer(resident, console)

    request = button(console, "Request identification")
    await request.click()
    await expect(console.get_by_text("Waiting for the resident to identify…")).to_be_visible()
    tap.event("identify.failed", code="cancelled")
    await expect(console.locator("#identify-state")).to_have_text(
        "The resident cancelled the identification. You can request it again."
    )
    await request.click()
    assert len(tap.requests("identify.request")) == 2

    tap.event(
        "participant.identified",
        participantId="p-resident",
        level="high",
        provider="Demo",
        identity=IDENTITY,
    )
    await expect(console.get_by_text("Identified", exact=True)).to_be_visible()
    identity = console.locator("#identity")
    await expect(identity).to_contain_text(MASKED_CODE)
    await expect(identity).to_contain_text("Testi Henkilö")
    await expect(identity).to_contain_text("1 January 1990")
    await expect(identity).to_contain_text("Level of assurance")
    await expect(identity).to_contain_text("high")
    await expect(identity).to_contain_text("Demo")
    await expect(request).to_be_hidden()
    await expect(console.locator("#participants li")).to_have_count(1)  # only the caller
    # Focus was on Request identification: it goes to what replaced it, not to <body>.
    await expect(button(console, "Request video")).to_be_focused()
    await expect(console.locator("#call-notice")).to_have_text(
        "The resident identified strongly (high level)."
    )
    await run_axe(console, "#call-view")

    # Request video, by keyboard: the purpose, then the button.
    purpose = console.get_by_label("Purpose of video")
    await purpose.focus()
    await purpose.select_option("sign_language")
    await console.keyboard.press("Tab")
    await expect(button(console, "Request video")).to_be_focused()
    await console.keyboard.press("Enter")
    await eventually(lambda: len(tap.requests("video.request")) == 1, what="video.request sent")
    assert tap.requests("video.request")[0]["purpose"] == "sign_language"
    tap.event("video.state", state="requested", purpose="sign_language", by="professional")
    await expect(console.locator("#video-state")).to_have_text("Waiting for the resident's answer…")
    await expect(button(console, "Cancel video request")).to_be_focused()

    tap.event("video.state", state="on", purpose="sign_language", by="resident", reason="allowed")
    stop = button(console, "Stop video")
    await expect(stop).to_be_focused()
    await expect(console.locator("#video-state")).to_have_text(
        "Video is on (Sign language). Nothing is recorded."
    )
    await eventually(lambda: console.evaluate(PREVIEW_PLAYING_JS), what="the console's preview")
    await expect(console.locator("#remote-video-waiting")).to_have_text("Waiting for the picture…")
    await run_axe(console, "#call-view")
    await wait_for_audio_streams(console)
    await wait_for_audio_streams(resident)

    tap.event("video.state", state="off", by="resident", reason="withdrawn")
    await expect(console.locator("#video-state")).to_have_text("The resident stopped the video.")
    await expect(console.locator("#video-box")).to_be_hidden()
    await expect(button(console, "Request video")).to_be_focused()
    await eventually(
        lambda: console.evaluate(
            "() => window.tukilinjaPc.getTransceivers().every((t) => !t.sender.track"
            " || t.sender.track.kind === 'audio')"
        ),
        what="the console's camera off",
    )
    tap.event("video.state", state="requested", purpose="other", by="professional")
    tap.event("video.state", state="off", by="resident", reason="declined")
    await expect(console.locator("#video-state")).to_have_text("The resident declined the video.")

    # The call ends: the identity is gone from the page, and it was never stored or logged.
    await button(console, "Hang up").click()
    await expect(console.locator("#call-view")).to_be_hidden()
    html = await console.content()
    assert "Testi Henkilö" not in html and "010190" not in html
    stored: str = await console.evaluate(
        "() => JSON.stringify([Object.entries(sessionStorage), Object.entries(localStorage)])"
    )
    assert "Testi" not in stored and "010190" not in stored
    for text in CONSOLE.get(console, []):
        assert "Testi" not in text and "010190" not in text

    # A new call starts anonymous.
    other = await open_resident(browser, gateway.base_url)
    await button(console, "Ready now").click()
    await call_and_answer(other, console)
    await expect(button(console, "Request identification")).to_be_visible()
    await expect(console.get_by_text("Identified", exact=True)).to_be_hidden()
    await expect(console.locator("#identity")).to_be_hidden()
    await expect(status_with(other, "Connected")).to_be_visible()


async def test_video_area_on_a_phone(browser: Browser, gateway: RunningGateway) -> None:
    tap = SocketTap({"video.consent": {}})
    resident = await tapped_page(
        browser, tap, has_touch=True, is_mobile=True, viewport={"width": 390, "height": 844}
    )
    await resident.goto(gateway.base_url + "/lines/demo?lang=en")
    console = await open_console(browser, gateway)
    await call_and_answer(resident, console)
    tap.event("participant.identified", participantId=tap.participant_id, level="substantial")
    tap.event("video.state", state="requested", purpose="assess_situation", by="professional")
    await button(resident, "Allow video").tap()
    tap.event(
        "video.state", state="on", purpose="assess_situation", by="resident", reason="allowed"
    )
    await eventually(lambda: resident.evaluate(PREVIEW_PLAYING_JS), what="the preview on a phone")
    # Stacked, full width, nothing wider than the screen; the own picture mirrored.
    width = await resident.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390
    tiles = await resident.locator(".video-tile").evaluate_all(
        "(els) => els.map((el) => el.getBoundingClientRect().toJSON())"
    )
    assert len(tiles) == 2 and tiles[1]["top"] >= tiles[0]["bottom"]
    transform = await resident.locator("#local-video").evaluate(
        "(el) => getComputedStyle(el).transform"
    )
    assert transform.startswith("matrix(-1")
    await run_axe(resident, "#video-box")


async def test_interpreter_sees_the_video_state_and_can_stop_it(
    browser: Browser, gateway: RunningGateway
) -> None:
    tap = SocketTap({"video.stop": {}})
    resident = await open_resident(browser, gateway.base_url)
    console = await open_console(browser, gateway)
    await call_and_answer(resident, console)
    await button(console, "Invite interpreter").click()
    await button(console, "Create link").click()
    link_el = console.get_by_test_id("invite-link")
    await expect(link_el).to_contain_text("/join#token=", timeout=10000)
    url = (await link_el.text_content() or "").strip()

    interpreter = await tapped_page(browser, tap)
    await interpreter.goto(url.replace("/join#", "/join?lang=en#"))
    join = button(interpreter, "Join")
    await expect(join).to_be_enabled(timeout=10000)
    await join.click()
    await expect(button(interpreter, "Hang up")).to_be_visible(timeout=15000)
    await expect(interpreter.locator("#video-state")).to_be_hidden()

    tap.event("video.state", state="requested", purpose="sign_language", by="professional")
    state_text = interpreter.locator("#video-state")
    await expect(state_text).to_have_text(
        "The professional asked the caller to use video. Waiting for the caller's answer."
    )
    await expect(interpreter.locator("#video-box")).to_be_hidden()
    tap.event("video.state", state="on", purpose="sign_language", by="resident", reason="allowed")
    await expect(state_text).to_contain_text("Video is on (Sign language)")
    await expect(state_text).to_contain_text("your own camera is not used")
    stop = button(interpreter, "Stop video")
    await expect(stop).to_be_visible()
    await run_axe(interpreter, "#video-box")
    # Receive-only: no camera was asked for.
    assert all(s["track"] is None for s in await video_senders(interpreter))

    await stop.focus()
    await interpreter.keyboard.press("Enter")
    await eventually(lambda: len(tap.requests("video.stop")) == 1, what="video.stop sent")
    tap.event("video.state", state="off", by="interpreter", reason="stopped")
    await expect(state_text).to_have_text("The video was stopped.")
    await expect(interpreter.locator("#video-box")).to_be_hidden()
    await expect(button(interpreter, "Mute microphone")).to_be_focused()
    await wait_for_audio_streams(interpreter, count=2, timeout=25)
