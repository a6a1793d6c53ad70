"""clean_number and mask_number: the rule of SPEC §3 and every rejection reason."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runner.numbers import (
    MAX_DIGITS,
    MIN_DIGITS,
    SEPARATORS,
    InvalidNumber,
    Reason,
    clean_number,
    mask_number,
)


@pytest.mark.parametrize(
    ("raw", "sent"),
    [
        ("9876543210", "9876543210"),
        ("  9876543210\t\n", "9876543210"),
        ("98765 43210", "9876543210"),
        ("98765-43210", "9876543210"),
        ("(080) 2345.6789", "08023456789"),
        ("98.765.432.10", "9876543210"),
        ("+91 98765-43210", "+919876543210"),
        ("(+91) 98765 43210", "+919876543210"),
        ("+1 (555) 123-4567", "+15551234567"),
        ("0091 98765 43210", "00919876543210"),  # leading zeros are kept
        ("1234567", "1234567"),  # MIN_DIGITS
        ("123456789012345", "123456789012345"),  # MAX_DIGITS
        ("+123456789012345", "+123456789012345"),  # the + is not a digit
    ],
)
def test_valid_numbers_are_sent_as_they_stand_without_separators(raw: str, sent: str) -> None:
    assert clean_number(raw) == sent


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", Reason.EMPTY),
        ("   \t ", Reason.EMPTY),
        ("9.18E+11", Reason.SCIENTIFIC_NOTATION),
        ("9,18E+11", Reason.SCIENTIFIC_NOTATION),
        (" 9.18E+11 ", Reason.SCIENTIFIC_NOTATION),
        ("1.2e10", Reason.SCIENTIFIC_NOTATION),
        ("5E7", Reason.SCIENTIFIC_NOTATION),
        ("9.18E-11", Reason.SCIENTIFIC_NOTATION),
        ("+9.18E+11", Reason.SCIENTIFIC_NOTATION),
        ("98765abc10", Reason.NOT_A_NUMBER),
        ("98765/43210", Reason.NOT_A_NUMBER),
        ("98765_43210", Reason.NOT_A_NUMBER),
        ("98765\t43210", Reason.NOT_A_NUMBER),  # only the listed separators are removed
        ("98765\u00a043210", Reason.NOT_A_NUMBER),
        ("٩٨٧٦٥٤٣٢١٠", Reason.NOT_A_NUMBER),  # Unicode digits are not ASCII digits
        ("91+9876543210", Reason.NOT_A_NUMBER),
        ("++919876543210", Reason.NOT_A_NUMBER),
        ("+", Reason.NOT_A_NUMBER),
        ("( - )", Reason.NOT_A_NUMBER),
        ("123456", Reason.TOO_SHORT),
        ("+123456", Reason.TOO_SHORT),
        ("1234567890123456", Reason.TOO_LONG),
        ("+91 98765 43210 98765", Reason.TOO_LONG),
    ],
)
def test_invalid_numbers_say_why(raw: str, reason: Reason) -> None:
    with pytest.raises(InvalidNumber) as caught:
        clean_number(raw)
    assert caught.value.reason == reason
    message = str(caught.value)
    assert message.startswith(f"{reason}: ")
    assert "\n" not in message


def test_invalid_number_is_a_value_error_with_slug_and_detail() -> None:
    with pytest.raises(ValueError, match=r"^scientific_notation: 9\.18E\+11 looks like Excel"):
        clean_number("9.18E+11")
    with pytest.raises(InvalidNumber) as caught:
        clean_number("12345")
    assert caught.value.detail == f"5 digits; at least {MIN_DIGITS} are needed"


def test_not_a_number_names_the_offending_character() -> None:
    with pytest.raises(InvalidNumber, match="unexpected character 'x'"):
        clean_number("98765x43210")


def test_length_bounds() -> None:
    assert (MIN_DIGITS, MAX_DIGITS) == (7, 15)


@given(
    digits=st.text(alphabet="0123456789", min_size=MIN_DIGITS, max_size=MAX_DIGITS),
    plus=st.booleans(),
    noise=st.lists(st.sampled_from(SEPARATORS), max_size=20),
    data=st.data(),
)
def test_separators_anywhere_leave_the_digits(
    digits: str, plus: bool, noise: list[str], data: st.DataObject
) -> None:
    chars = list(digits)
    for separator in noise:
        chars.insert(data.draw(st.integers(0, len(chars))), separator)
    raw = ("+" if plus else "") + "".join(chars)
    sent = clean_number(raw)
    assert sent == ("+" if plus else "") + digits
    assert clean_number(sent) == sent  # cleaning is idempotent


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("9876543210", "98******10"),
        ("+919876543210", "+91********10"),
        ("1234567", "12***67"),
        ("123456", "******"),
        ("+12", "+**"),
        ("", ""),
    ],
)
def test_mask_number(phone: str, masked: str) -> None:
    assert mask_number(phone) == masked
