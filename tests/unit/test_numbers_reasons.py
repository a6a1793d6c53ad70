"""The words of every reason a number is refused: stored with invalid records, shown by
status and export, quoted in the one-line error of a job with no valid row. Pinned
letter for letter (make mutation found them untested)."""

from __future__ import annotations

import pytest

from runner.intake.numbers import InvalidNumber, PhoneFormat, clean_number, format_number

SCIENTIFIC_40 = "1" * 37 + "E+1"  # quoted whole: 40 characters
SCIENTIFIC_41 = "1" * 38 + "E+1"  # cut to 40 characters and an ellipsis
EXCEL = "looks like Excel scientific notation; format the column as text"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty: no phone number"),
        ("  ' ", "empty: no phone number"),
        ("+", "not_a_number: no digits"),
        ("+-()", "not_a_number: no digits"),
        ("++91", "not_a_number: '+' is allowed only at the start"),
        ("98+76543210", "not_a_number: '+' is allowed only at the start"),
        ("98765x3210", "not_a_number: unexpected character 'x'"),
        ("1" * 16, "too_long: 16 digits; at most 15 are allowed"),
        ("123456", "too_short: 6 digits; at least 7 are needed"),
        (SCIENTIFIC_40, f"scientific_notation: {SCIENTIFIC_40} {EXCEL}"),
        (SCIENTIFIC_41, f"scientific_notation: {SCIENTIFIC_41[:40]}… {EXCEL}"),
    ],
)
def test_clean_number_says_why_in_these_words(raw: str, reason: str) -> None:
    with pytest.raises(InvalidNumber) as caught:
        clean_number(raw)
    assert str(caught.value) == reason


@pytest.mark.parametrize(
    ("cleaned", "phone_format", "reason"),
    [
        ("+447911123456", PhoneFormat.NATIONAL,
         "other_country: +447911123456 has country code +44, not IN's; "
         "in national format it would lose it"),
        ("+1", PhoneFormat.E164,
         "unparseable_number: +1 cannot be read as a phone number of IN: not a phone number"),
        ("+00000000", PhoneFormat.E164,
         "unparseable_number: +00000000 cannot be read as a phone number of IN: "
         "no such country code"),
        ("+91987", PhoneFormat.E164, "unparseable_number: +91987 has a length no +91 number has"),
    ],
)  # fmt: skip
def test_format_number_says_why_in_these_words(
    cleaned: str, phone_format: PhoneFormat, reason: str
) -> None:
    with pytest.raises(InvalidNumber) as caught:
        format_number(cleaned, phone_format, "IN")
    assert str(caught.value) == reason


@pytest.mark.parametrize(("raw", "sent"), [("1234567", "1234567"), ("1" * 15, "1" * 15),
                                           ("' 98765 43210", "9876543210"),
                                           ("'\t9876543210", "9876543210")])  # fmt: skip
def test_the_bounds_are_inclusive(raw: str, sent: str) -> None:
    assert clean_number(raw) == sent
