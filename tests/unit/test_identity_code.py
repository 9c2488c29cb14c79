"""The Finnish personal identity code: validation (shape, century sign, date, check
character) and the masked form the professional sees."""

from __future__ import annotations

from datetime import date

import pytest

from gateway.oidc.identity_code import (
    identity_code_birthdate,
    is_valid_identity_code,
    mask_identity_code,
)

# Test codes (individual numbers 900-999), one per century sign, with their check characters.
VALID = {
    "010190-904U": date(1990, 1, 1),
    "150538-9173": date(1938, 5, 15),
    "070304A926U": date(2004, 3, 7),
    "010190Y904U": date(1990, 1, 1),
    "010190X904U": date(1990, 1, 1),
    "010190W904U": date(1990, 1, 1),
    "010190V904U": date(1990, 1, 1),
    "010190U904U": date(1990, 1, 1),
    "070304B926U": date(2004, 3, 7),
    "070304C926U": date(2004, 3, 7),
    "070304D926U": date(2004, 3, 7),
    "070304E926U": date(2004, 3, 7),
    "070304F926U": date(2004, 3, 7),
    "010190+904U": date(1890, 1, 1),
    "290200A901C": date(2000, 2, 29),
}


@pytest.mark.parametrize(("code", "born"), sorted(VALID.items()))
def test_valid_codes(code: str, born: date) -> None:
    assert is_valid_identity_code(code)
    assert identity_code_birthdate(code) == born


@pytest.mark.parametrize(
    "code",
    [
        "010190-904V",  # wrong check character
        "010190-905U",  # another individual number, same check character
        "010190G904U",  # not a century sign
        "010190Z904U",
        "010190a904U",  # lower case sign
        "010190-904u",  # lower case check character
        "320190-904U",  # no such day
        "290201A901M",  # 2001 was not a leap year
        "011390-904U",  # no such month
        "010190-000U",  # individual numbers 000 and 001 are never given
        "010190-001U",
        "010190-904",  # too short
        "010190-904UU",  # too long
        " 010190-904U",
        "010190 904U",
        "",
        "010190-9O4U",  # letter O for a zero
    ],
)
def test_invalid_codes(code: str) -> None:
    assert not is_valid_identity_code(code)
    with pytest.raises(ValueError):
        mask_identity_code(code)
    with pytest.raises(ValueError):
        identity_code_birthdate(code)


@pytest.mark.parametrize(
    ("code", "masked"),
    [
        ("010190-904U", "010190-***U"),
        ("070304A926U", "070304A***U"),
        ("010190+904U", "010190+***U"),
        ("150538-9173", "150538-***3"),
    ],
)
def test_masking_hides_the_individual_number(code: str, masked: str) -> None:
    assert mask_identity_code(code) == masked
    assert code[7:10] not in mask_identity_code(code)[7:10]
