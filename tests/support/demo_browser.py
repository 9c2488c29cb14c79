"""Playing the browser at the built-in demo identification provider (its person page)."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urljoin

import aiohttp

__all__ = ["FormParser", "identify_as_test_person", "parse_page"]


class FormParser(HTMLParser):
    """The person page's form: its action, hidden fields, radio buttons and their labels."""

    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.hidden: dict[str, str] = {}
        self.radios: list[dict[str, str]] = []
        self.label_for: list[str] = []
        self.buttons: dict[str, str] = {}
        self._button: str | None = None
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.action = a["action"]
        elif tag == "input" and a.get("type") == "hidden":
            self.hidden[a["name"]] = a["value"]
        elif tag == "input" and a.get("type") == "radio":
            self.radios.append(a)
        elif tag == "label":
            self.label_for.append(a.get("for", ""))
        elif tag == "button":
            self._button = a.get("value", "")
            self.buttons[self._button] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "button":
            self._button = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._button is not None:
            self.buttons[self._button] += data.strip()


def parse_page(html: str) -> FormParser:
    parser = FormParser()
    parser.feed(html)
    return parser


async def identify_as_test_person(
    http: aiohttp.ClientSession, url: str, origin: str, person: int = 0
) -> str:
    """Open the authorization URL, pick a test person, press the button: the callback URL."""
    async with http.get(url, allow_redirects=False) as response:
        assert response.status == 200, await response.text()
        page = parse_page(await response.text())
    form = {**page.hidden, "person": page.radios[person]["value"], "action": "identify"}
    async with http.post(
        urljoin(url, page.action), data=form, allow_redirects=False, headers={"Origin": origin}
    ) as response:
        assert response.status == 303, await response.text()
        return response.headers["Location"]
