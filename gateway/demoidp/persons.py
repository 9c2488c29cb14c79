"""The made-up test persons of demo identification.

Their personal identity codes use individual numbers 900-999, which are never given to real
people (they are kept for testing), with a correct check character.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from typing import Final

CHECK_CHARACTERS: Final = "0123456789ABCDEFHJKLMNPRSTUVWXY"
CENTURY_SIGNS: Final = {1800: "+", 1900: "-", 2000: "A"}


def check_character(birthdate: date, individual: int) -> str:
    """The check character: DDMMYYNNN as a number, mod 31, indexes the check alphabet."""
    digits = f"{birthdate:%d%m%y}{individual:03d}"
    return CHECK_CHARACTERS[int(digits) % 31]


def identity_code(birthdate: date, individual: int) -> str:
    """A Finnish personal identity code, e.g. ``140385-902F``; testing numbers only."""
    if not 900 <= individual <= 999:
        raise ValueError("test persons use individual numbers 900-999")
    century = CENTURY_SIGNS[birthdate.year // 100 * 100]
    return f"{birthdate:%d%m%y}{century}{individual:03d}{check_character(birthdate, individual)}"


@dataclass(frozen=True)
class TestPerson:
    """A made-up person the demo provider can identify."""

    __test__ = False  # not a pytest test class

    id: str
    given_name: str
    family_name: str
    birthdate: date
    individual: int

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"

    @property
    def personal_identity_code(self) -> str:
        return identity_code(self.birthdate, self.individual)

    @property
    def subject(self) -> str:
        """The ``sub`` claim: stable for the person, across restarts too."""
        digest = hashlib.sha256(f"tukilinja-demo-idp:{self.personal_identity_code}".encode())
        return "demo-" + digest.hexdigest()[:32]

    def claims(self) -> dict[str, str]:
        return {
            "name": self.name,
            "given_name": self.given_name,
            "family_name": self.family_name,
            "birthdate": self.birthdate.isoformat(),
            "personal_identity_code": self.personal_identity_code,
        }


TEST_PERSONS: Final = (
    TestPerson("aino", "Aino", "Virtanen", date(1985, 3, 14), 902),
    TestPerson("matti", "Matti", "Korhonen", date(1952, 11, 2), 913),
    TestPerson("liisa", "Liisa", "Mäkinen", date(2001, 7, 21), 904),
    TestPerson("vaino", "Väinö", "Nieminen", date(1938, 1, 30), 921),
)
