"""Service lines: what residents call, with names, opening hours and queue limits."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType

from rooms.errors import ConfigError
from rooms.hours import OpeningHours

__all__ = ["DEFAULT_HANDLE_MINUTES", "DEFAULT_MAX_QUEUE", "LINE_ID_RE", "ServiceLine"]

LINE_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
DEFAULT_MAX_QUEUE = 20
DEFAULT_HANDLE_MINUTES = 8
_FALLBACK_LANGS = ("fi", "en")


def _pick(texts: Mapping[str, str], lang: str) -> str | None:
    """`lang`, then its base language ("sv-FI" -> "sv"), then fi, en, then any."""
    for key in (lang, lang.split("-", 1)[0], *_FALLBACK_LANGS):
        if key in texts:
            return texts[key]
    return next(iter(texts.values()), None)


@dataclass(frozen=True)
class ServiceLine:
    """A service line residents can call."""

    id: str
    names: Mapping[str, str]
    descriptions: Mapping[str, str]
    hours: OpeningHours
    max_queue: int
    default_handle_seconds: int
    queue_when_unstaffed: bool = False  # accept callers (with a warning) while nobody is available

    def talk_seconds(self, measured: float | None) -> float:
        """The typical call length: the measured mean when there is one, else as configured."""
        return measured if measured is not None else float(self.default_handle_seconds)

    def name(self, lang: str) -> str:
        """Name in `lang`, falling back to fi, en, then any language (the id if none)."""
        return _pick(self.names, lang) or self.id

    def description(self, lang: str) -> str:
        """Description in `lang` with the same fallbacks as `name`; "" if none."""
        return _pick(self.descriptions, lang) or ""

    @classmethod
    def from_config(
        cls, line_id: str, cfg: Mapping[str, object], holidays: Iterable[date] = ()
    ) -> ServiceLine:
        """Build a line from its config table; raises ConfigError naming the field."""
        if not isinstance(line_id, str) or not LINE_ID_RE.match(line_id):
            raise ConfigError(
                f"lines.{line_id}: line id must match {LINE_ID_RE.pattern} "
                "(lowercase letters, digits, hyphens; at most 63 characters)"
            )
        where = f"lines.{line_id}"
        if not isinstance(cfg, Mapping):
            raise ConfigError(f"{where}: expected a table, got {cfg!r}")
        names = _texts(cfg, "names", where, required=True)
        descriptions = _texts(cfg, "descriptions", where, required=False)
        max_queue = cfg.get("max_queue", DEFAULT_MAX_QUEUE)
        if isinstance(max_queue, bool) or not isinstance(max_queue, int) or max_queue < 1:
            raise ConfigError(f"{where}.max_queue: expected an integer >= 1, got {max_queue!r}")
        minutes = cfg.get("default_handle_minutes", DEFAULT_HANDLE_MINUTES)
        if isinstance(minutes, bool) or not isinstance(minutes, int | float) or not minutes > 0:
            raise ConfigError(
                f"{where}.default_handle_minutes: expected a positive number, got {minutes!r}"
            )
        unstaffed = cfg.get("queue_when_unstaffed", False)
        if not isinstance(unstaffed, bool):
            raise ConfigError(f"{where}.queue_when_unstaffed: expected true or false")
        try:
            hours = OpeningHours.from_config(cfg, holidays)
        except ConfigError as exc:
            raise ConfigError(f"{where}.{exc}") from exc
        return cls(
            id=line_id,
            names=names,
            descriptions=descriptions,
            hours=hours,
            max_queue=max_queue,
            default_handle_seconds=max(1, round(minutes * 60)),
            queue_when_unstaffed=unstaffed,
        )


def _texts(cfg: Mapping[str, object], key: str, where: str, *, required: bool) -> Mapping[str, str]:
    value = cfg.get(key)
    if value is None:
        if required:
            raise ConfigError(f"{where}.{key}: required (a table of language code -> text)")
        return MappingProxyType({})
    if not isinstance(value, Mapping) or (required and not value):
        raise ConfigError(f"{where}.{key}: expected a non-empty table of language -> text")
    out: dict[str, str] = {}
    for lang, text in value.items():
        if not isinstance(lang, str) or not lang or not isinstance(text, str) or not text.strip():
            raise ConfigError(f"{where}.{key}.{lang}: expected a non-empty string, got {text!r}")
        out[lang] = text
    return MappingProxyType(out)
