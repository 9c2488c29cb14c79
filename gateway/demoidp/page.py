"""The demo provider's pages: choose a test person, or an error. Text from web/i18n.

Rendered on the server (the form works without JavaScript), in the frame of the gateway's
own pages: skip link, language links, one main landmark, the DEMO banner.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Final

from gateway.demoidp.persons import TestPerson
from gateway.demoidp.provider import ACR_SUBSTANTIAL, LANGUAGES, Authorization

Catalog = Mapping[str, str]
PLACEHOLDER = re.compile(r"\{(\w+)\}")
# Every catalog key the pages use (tests check both catalogs have them).
KEYS: Final = (
    "common.brand",
    "common.skipToContent",
    "common.footer",
    "lang.switcher",
    "lang.fi",
    "lang.en",
    "date.format",
    *(f"month.{month}" for month in range(1, 13)),
    "demo.mark",
    "demo.banner",
    "demoIdp.title",
    "demoIdp.heading",
    "demoIdp.madeUp",
    "demoIdp.choose",
    "demoIdp.person",
    "demoIdp.level",
    "demoIdp.level.high",
    "demoIdp.level.substantial",
    "demoIdp.identify",
    "demoIdp.cancel",
    "demoIdp.errorTitle",
    "demoIdp.errorHeading",
    "demoIdp.invalid",
    "demoIdp.expired",
    "demoIdp.back",
)


def load_catalogs(folder: Path) -> dict[str, dict[str, str]]:
    """The translation catalogs of the pages' languages."""
    catalogs = {}
    for lang in LANGUAGES:
        data = json.loads((folder / f"{lang}.json").read_text(encoding="utf-8"))
        catalogs[lang] = {str(key): str(value) for key, value in data.items()}
    return catalogs


class Text:
    """One language's catalog, HTML-escaped on the way out."""

    def __init__(self, lang: str, catalog: Catalog, fallback: Catalog) -> None:
        self.lang = lang
        self._catalog = catalog
        self._fallback = fallback

    def raw(self, key: str, **params: object) -> str:
        text = self._catalog.get(key, self._fallback.get(key, key))
        return PLACEHOLDER.sub(
            lambda m: str(params[m.group(1)]) if m.group(1) in params else m.group(0), text
        )

    def __call__(self, key: str, **params: object) -> str:
        return escape(self.raw(key, **params))

    def date(self, person: TestPerson) -> str:
        born = person.birthdate
        return self.raw(
            "date.format",
            day=born.day,
            month=born.month,
            year=born.year,
            monthName=self.raw(f"month.{born.month}"),
        )


def _frame(t: Text, title: str, main: str, switch_links: Mapping[str, str] | None = None) -> str:
    switcher = ""
    if switch_links:
        items = []
        for code in LANGUAGES:
            current = ' aria-current="true"' if code == t.lang else ""
            items.append(
                f'<li><a class="lang-link" lang="{code}" hreflang="{code}"'
                f' href="{escape(switch_links[code])}"{current}>{t(f"lang.{code}")}</a></li>'
            )
        switcher = (
            f'<nav class="lang-switcher" data-language-switcher aria-label="{t("lang.switcher")}">'
            f'<ul class="lang-list">{"".join(items)}</ul></nav>'
        )
    return f"""<!doctype html>
<html lang="{t.lang}" dir="ltr">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta name="color-scheme" content="light">
  <title>{title}</title>
  <link rel="icon" href="/static/img/favicon.svg" type="image/svg+xml">
  <link rel="stylesheet" href="/static/css/app.css">
</head>
<body class="demo-idp">
  <a class="skip-link" href="#main">{t("common.skipToContent")}</a>
  <div id="demo-banner" class="demo-banner">
    <p><strong class="demo-mark">{t("demo.mark")}</strong> <span>{t("demo.banner")}</span></p>
  </div>
  <header class="site-header">
    <div class="site-header-inner">
      <span class="brand">{t("common.brand")}</span>
      {switcher}
    </div>
  </header>
  <main id="main" class="page" tabindex="-1">
    <p class="demo-stamp" aria-hidden="true">{t("demo.mark")}</p>
{main}
  </main>
  <footer class="site-footer">
    <p>{t("common.footer")}</p>
  </footer>
</body>
</html>
"""


def person_page(
    t: Text,
    authorization: Authorization,
    persons: Sequence[TestPerson],
    form_action: str,
    switch_links: Mapping[str, str],
) -> str:
    """The made-up test persons to choose from, and the buttons."""
    level = "substantial" if authorization.acr == ACR_SUBSTANTIAL else "high"
    options = []
    for index, person in enumerate(persons):
        checked = " checked" if index == 0 else ""
        detail = t("demoIdp.person", birthdate=t.date(person), code=person.personal_identity_code)
        options.append(
            f"""        <div class="person-option">
          <input type="radio" id="person-{escape(person.id)}" name="person"
                 value="{escape(person.id)}"{checked}>
          <label for="person-{escape(person.id)}">
            <span class="person-name">{escape(person.name)}</span>
            <span class="person-detail">{detail}</span>
          </label>
        </div>"""
        )
    identify, cancel = t("demoIdp.identify"), t("demoIdp.cancel")
    main = f"""    <h1>{t("demoIdp.heading")}</h1>
    <p class="lead demo-made-up">{t("demoIdp.madeUp")}</p>
    <p>{t("demoIdp.level", level=t.raw(f"demoIdp.level.{level}"))}</p>
    <form class="card" method="post" action="{escape(form_action)}">
      <input type="hidden" name="auth" value="{escape(authorization.id)}">
      <input type="hidden" name="csrf" value="{escape(authorization.csrf)}">
      <input type="hidden" name="lang" value="{t.lang}">
      <fieldset class="person-list">
        <legend>{t("demoIdp.choose")}</legend>
{chr(10).join(options)}
      </fieldset>
      <div class="actions">
        <button type="submit" name="action" value="identify"
                class="btn btn-primary">{identify}</button>
        <button type="submit" name="action" value="cancel"
                class="btn btn-secondary">{cancel}</button>
      </div>
    </form>"""
    return _frame(t, t("demoIdp.title"), main, switch_links)


def error_page(t: Text, kind: str) -> str:
    """``kind``: ``expired`` (the page was used or is too old) or ``invalid``."""
    message = "demoIdp.expired" if kind == "expired" else "demoIdp.invalid"
    main = f"""    <h1>{t("demoIdp.errorHeading")}</h1>
    <div class="alert" role="alert"><p>{t(message)}</p></div>
    <p><a href="/">{t("demoIdp.back")}</a></p>"""
    return _frame(t, t("demoIdp.errorTitle"), main)
