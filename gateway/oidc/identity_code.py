"""The Finnish personal identity code (henkilötunnus): validation and masking.

A code is ``DDMMYYCZZZQ``: date of birth, the century sign ``C``, the individual number
``ZZZ`` and the check character ``Q`` (``DDMMYYZZZ`` modulo 31). Century signs: ``+``
(1800s); ``-``, ``Y``, ``X``, ``W``, ``V``, ``U`` (1900s); ``A``, ``B``, ``C``, ``D``,
``E``, ``F`` (2000s). Individual numbers 900-999 are reserved for testing.

The professional sees the code masked, ``010190-***A``: the date of birth, the century
sign and the check character, not the individual number.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Final

__all__ = ["identity_code_birthdate", "is_valid_identity_code", "mask_identity_code"]

CHECK_CHARACTERS: Final = "0123456789ABCDEFHJKLMNPRSTUVWXY"
CENTURIES: Final = {
    "+": 1800,
    "-": 1900,
    "Y": 1900,
    "X": 1900,
    "W": 1900,
    "V": 1900,
    "U": 1900,
    "A": 2000,
    "B": 2000,
    "C": 2000,
    "D": 2000,
    "E": 2000,
    "F": 2000,
}
_SHAPE: Final = re.compile(r"(\d{2})(\d{2})(\d{2})([-+ABCDEFUVWXY])(\d{3})([0-9A-Y])")


def _parts(code: str) -> tuple[date, str, str, str] | None:
    """(birth date, century sign, individual number, check character) of a valid code."""
    match = _SHAPE.fullmatch(code)
    if match is None:
        return None
    day, month, year, sign, number, check = match.groups()
    if int(number) < 2:  # 000 and 001 are never given
        return None
    try:
        born = date(CENTURIES[sign] + int(year), int(month), int(day))
    except ValueError:
        return None
    if CHECK_CHARACTERS[int(day + month + year + number) % 31] != check:
        return None
    return born, sign, number, check


def is_valid_identity_code(code: str) -> bool:
    """True for a well-formed code: shape, century sign, a real date, the check character."""
    return _parts(code) is not None


def mask_identity_code(code: str) -> str:
    """``010190-123A`` → ``010190-***A``. Raises ValueError for an invalid code."""
    if _parts(code) is None:
        raise ValueError("not a valid personal identity code")
    return f"{code[:7]}***{code[10]}"


def identity_code_birthdate(code: str) -> date:
    """The date of birth a valid code states. Raises ValueError for an invalid code."""
    parts = _parts(code)
    if parts is None:
        raise ValueError("not a valid personal identity code")
    return parts[0]
