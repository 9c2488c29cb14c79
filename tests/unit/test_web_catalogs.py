"""The browser's translation catalogs: same keys in every language, every used key exists."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

WEB = Path(__file__).resolve().parents[2] / "web"
I18N = WEB / "i18n"
LANGUAGES = ("fi", "en")

# data-i18n="key" and data-i18n-<attribute>="key" in HTML, and in JS setAttribute calls.
ATTR_KEY = re.compile(r"""data-i18n(?:-[a-z-]+)?["']?\s*[=,]\s*["']([A-Za-z0-9_.]+)["']""")
# t('key') / t("key") / has('key') / errorMessage('code') literals in JS (template strings skipped).
T_KEY = re.compile(r"""\b(?:t|has)\(\s*['"]([A-Za-z0-9_.]+)['"]""")
# Any other dotted literal with a catalog prefix ('line.leftQueue' in a state object, …);
# protocol message types such as 'line.watch' are told apart via docs/protocol.md.
DOTTED = re.compile(
    r"""['"]((?:common|lang|time|date|month|weekday|wait|queue|status|error|help|index|line|call"""
    r"""|pro|signin|room|join|identified)\.[A-Za-z0-9_.]*[A-Za-z0-9_])['"]"""
)
ERROR_CODE = re.compile(r"""\bcode:\s*['"]([a-z_]+)['"]""")
COMMENT = re.compile(r"^\s*//[^\n]*|/\*.*?\*/", flags=re.MULTILINE | re.DOTALL)
# Keys whose placeholders legitimately differ (Finnish dates use numbers, English month names).
PLACEHOLDERS_MAY_DIFFER = {"date.format"}
PROTOCOL_DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


def protocol_names() -> set[str]:
    return set(re.findall(r"`([a-z_]+\.[a-z_]+)`", PROTOCOL_DOC.read_text(encoding="utf-8")))


def load(lang: str) -> dict[str, str]:
    data = json.loads((I18N / f"{lang}.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def web_sources(suffix: str) -> list[Path]:
    return sorted(p for p in WEB.rglob(f"*{suffix}") if p.is_file())


def test_catalogs_are_flat_string_maps() -> None:
    for lang in LANGUAGES:
        catalog = load(lang)
        assert catalog, lang
        for key, value in catalog.items():
            assert isinstance(value, str) and value.strip(), (lang, key)


def test_catalogs_have_identical_keys() -> None:
    fi, en = load("fi"), load("en")
    assert set(fi) - set(en) == set(), "missing from en.json"
    assert set(en) - set(fi) == set(), "missing from fi.json"


def test_placeholders_match_between_languages() -> None:
    fi, en = load("fi"), load("en")
    placeholder = re.compile(r"\{(\w+)\}")
    for key in fi:
        if key in PLACEHOLDERS_MAY_DIFFER:
            continue
        assert set(placeholder.findall(fi[key])) == set(placeholder.findall(en[key])), key


@pytest.mark.parametrize("suffix", [".html", ".js"])
def test_used_keys_exist(suffix: str) -> None:
    catalog = load("fi")
    used: set[str] = set()
    for path in web_sources(suffix):
        text = path.read_text(encoding="utf-8")
        if suffix == ".js":
            text = COMMENT.sub("", text)
        used.update(ATTR_KEY.findall(text))
        if suffix == ".js":
            used.update(T_KEY.findall(text))
            used.update(f"error.{code}" for code in ERROR_CODE.findall(text))
            used.update(k for k in DOTTED.findall(text) if k not in protocol_names())
    assert used, "no keys found: the patterns are out of date"
    missing = sorted(key for key in used if key not in catalog)
    assert missing == []


def test_every_protocol_error_code_has_a_message() -> None:
    doc = PROTOCOL_DOC.read_text(encoding="utf-8")
    section = doc.split("## Error codes", 1)[1]
    codes = re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.MULTILINE)
    assert codes
    catalog = load("en")
    assert sorted(c for c in codes if f"error.{c}" not in catalog) == []


def test_button_labels() -> None:
    en, fi = load("en"), load("fi")
    assert (en["line.call"], fi["line.call"]) == ("Call", "Soita")
    assert (en["line.cancel"], fi["line.cancel"]) == ("Cancel", "Peruuta")
    assert (en["call.hangUp"], fi["call.hangUp"]) == ("Hang up", "Lopeta puhelu")
    assert (en["pro.answerNext"], fi["pro.answerNext"]) == (
        "Answer next caller",
        "Vastaa seuraavaan",
    )
    # The end-to-end tests find these by their English names.
    assert en["pro.inviteInterpreter"] == "Invite interpreter"
    assert en["pro.removeInterpreter"] == "Remove interpreter"
    assert en["pro.language"] == "Language"
    assert en["pro.createLink"] == "Create link"
    assert en["pro.rejoin"] == "Rejoin call"
    assert en["join.join"] == "Join"


def test_identification_and_video_labels() -> None:
    # The end-to-end tests (tests/e2e/test_video_consent.py) find these by their English names.
    en, fi = load("en"), load("fi")
    assert en["pro.identify.request"] == "Request identification"
    assert en["pro.video.request"] == "Request video"
    assert en["call.video.stop"] == "Stop video"
    assert en["line.identify.button"] == "Identify"
    assert en["line.video.allow"] == "Allow video"
    assert en["line.video.decline"] == "Decline"
    assert en["pro.identify.identified"] == "Identified"
    assert en["error.identification_unavailable"] == (
        "Strong identification is not available on this service."
    )
    assert (fi["line.identify.button"], fi["line.video.allow"], fi["line.video.decline"]) == (
        "Tunnistaudu",
        "Salli video",
        "Kieltäydy",
    )


def test_reconnecting_is_said_in_both_languages() -> None:
    en, fi = load("en"), load("fi")
    for key in (
        "line.reconnectingQueued",
        "line.reconnectingCall",
        "pro.reconnecting",
        "join.reconnecting",
    ):
        assert "Reconnecting" in en[key], key
        assert "uudelleen" in fi[key], key
    assert "reconnecting" in en["room.state.reconnecting"]


def test_participant_names_built_from_prefixes_exist() -> None:
    # room.js builds these keys from a prefix and the role ('room.list.' + role, …).
    for lang in LANGUAGES:
        catalog = load(lang)
        for prefix in ("room.list", "room.who"):
            for role in ("professional", "resident", "interpreter", "interpreterLanguage", "other"):
                assert f"{prefix}.{role}" in catalog, (lang, prefix, role)


def test_pages_load_no_inline_script_or_handlers() -> None:
    for path in web_sources(".html"):
        html = path.read_text(encoding="utf-8")
        assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None, path.name
        assert re.search(r"\son[a-z]+\s*=", html) is None, path.name
        assert re.search(r"""(?:src|href)=["']https?://""", html) is None, path.name


@pytest.mark.parametrize(
    "page", ["index.html", "line.html", "pro.html", "join.html", "signin.html", "identified.html"]
)
def test_pages_share_the_accessible_frame(page: str) -> None:
    # Every page, the interpreter's join page too: viewport, skip link, language switcher,
    # one main landmark, a first-level heading, no referrer (links with tokens).
    html = (WEB / page).read_text(encoding="utf-8")
    assert 'name="viewport"' in html
    assert 'name="referrer" content="no-referrer"' in html
    assert 'class="skip-link" href="#main"' in html
    assert "data-language-switcher" in html
    assert html.count("<main ") == 1 and 'id="main"' in html
    assert re.search(r"<h1[\s>]", html)
    assert re.search(r"<title data-i18n=", html)


def test_live_regions_on_call_pages() -> None:
    for page in ("line.html", "pro.html", "join.html"):
        html = (WEB / page).read_text(encoding="utf-8")
        assert re.search(r'id="status"[^>]*role="status"', html), page
        assert re.search(r'id="call-notice"[^>]*aria-live="polite"', html), page
        assert 'id="participants"' in html, page
