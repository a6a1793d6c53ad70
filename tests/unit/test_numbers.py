"""clean_number, format_number and mask_number: docs/contract.md §3, phone formats, every reason."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runner.intake.numbers import (
    MAX_DIGITS,
    MIN_DIGITS,
    SEPARATORS,
    InvalidNumber,
    PhoneFormat,
    Reason,
    clean_number,
    format_number,
    is_supported_region,
    mask_number,
)

AS_IS, NATIONAL, E164 = PhoneFormat.AS_IS, PhoneFormat.NATIONAL, PhoneFormat.E164


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
        ("'9876543210", "9876543210"),  # Excel's text marker
        (" '+91 98765 43210", "+919876543210"),
        ("' 98765-43210", "9876543210"),
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
        ("'", Reason.EMPTY),  # the text marker alone
        ("''9876543210", Reason.NOT_A_NUMBER),  # one marker is stripped, not any number of them
        ("98765'43210", Reason.NOT_A_NUMBER),  # only a leading one
        ("'9.18E+11", Reason.SCIENTIFIC_NOTATION),
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


# ---------------------------------------------------------------- phone formats

# (cleaned number, format, default region, number as sent)
FORMATTED: list[tuple[str, PhoneFormat, str | None, str]] = [
    ("09876543210", AS_IS, None, "09876543210"),  # as_is changes nothing
    ("919876543210", AS_IS, "IN", "919876543210"),  # ... and ignores a region
    ("9876543210", E164, "IN", "+919876543210"),
    ("09876543210", E164, "IN", "+919876543210"),  # trunk prefix dropped
    ("919876543210", E164, "IN", "+919876543210"),  # country code without its +
    ("00919876543210", E164, "IN", "+919876543210"),  # international prefix
    ("+919876543210", E164, "US", "+919876543210"),  # a + overrides the region
    ("+15551234567", E164, "IN", "+15551234567"),  # e164 keeps any country
    ("02079460018", E164, "GB", "+442079460018"),
    ("9876543210", NATIONAL, "IN", "9876543210"),
    ("+919876543210", NATIONAL, "IN", "9876543210"),
    ("09876543210", NATIONAL, "IN", "9876543210"),
    ("00919876543210", NATIONAL, "IN", "9876543210"),
    ("02079460018", NATIONAL, "GB", "2079460018"),  # the UK trunk 0 goes...
    ("+390612345678", NATIONAL, "IT", "0612345678"),  # ...Italy's 0 is part of the number
    ("+14165551234", NATIONAL, "US", "4165551234"),  # Canada shares +1 with the US
]


@pytest.mark.parametrize(("cleaned", "phone_format", "region", "sent"), FORMATTED)
def test_format_number(
    cleaned: str, phone_format: PhoneFormat, region: str | None, sent: str
) -> None:
    assert format_number(cleaned, phone_format, region) == sent
    assert format_number(sent, phone_format, region) == sent  # formatting is idempotent


# (cleaned number, format, default region, reason, words of the detail)
UNFORMATTABLE: list[tuple[str, PhoneFormat, str, Reason, str]] = [
    ("+999123456", E164, "IN", Reason.UNPARSEABLE_NUMBER, "no such country code"),
    ("+999123456", NATIONAL, "IN", Reason.UNPARSEABLE_NUMBER, "no such country code"),
    ("12345678901234", E164, "IN", Reason.UNPARSEABLE_NUMBER, "length no +91 number has"),
    ("+198765432", NATIONAL, "US", Reason.UNPARSEABLE_NUMBER, "length no +1 number has"),
    ("+15551234567", NATIONAL, "IN", Reason.OTHER_COUNTRY, "country code +1, not IN's"),
    ("+919876543210", NATIONAL, "GB", Reason.OTHER_COUNTRY, "country code +91, not GB's"),
]


@pytest.mark.parametrize(("cleaned", "phone_format", "region", "reason", "words"), UNFORMATTABLE)
def test_format_number_rejects(
    cleaned: str, phone_format: PhoneFormat, region: str, reason: Reason, words: str
) -> None:
    with pytest.raises(InvalidNumber) as caught:
        format_number(cleaned, phone_format, region)
    assert caught.value.reason == reason
    message = str(caught.value)
    assert message.startswith(f"{reason}: {cleaned} ")
    assert words in message
    assert "\n" not in message


def test_reason_slugs_of_formatting() -> None:
    """Stored with invalid records and shown by status: the slugs are part of the contract."""
    assert (Reason.UNPARSEABLE_NUMBER, Reason.OTHER_COUNTRY) == (
        "unparseable_number",
        "other_country",
    )


@pytest.mark.parametrize("phone_format", [NATIONAL, E164])
def test_format_without_region_is_a_programming_error(phone_format: PhoneFormat) -> None:
    """The config requires a region; reaching here without one must not look like a bad row."""
    with pytest.raises(ValueError, match="needs a region") as caught:
        format_number("9876543210", phone_format, None)
    assert not isinstance(caught.value, InvalidNumber)


@given(
    subscriber=st.from_regex(r"[6-9][0-9]{9}", fullmatch=True),
    prefix=st.sampled_from(["", "0", "91", "+91", "0091"]),
)
def test_every_spelling_of_an_indian_mobile_formats_alike(subscriber: str, prefix: str) -> None:
    """What makes two spellings in one file a single record (a duplicate) after formatting."""
    cleaned = clean_number(prefix + subscriber)
    assert format_number(cleaned, E164, "IN") == "+91" + subscriber
    assert format_number(cleaned, NATIONAL, "IN") == subscriber


@pytest.mark.parametrize(
    ("region", "supported"),
    [("IN", True), ("GB", True), ("in", False), ("ZZ", False), ("001", False), ("", False)],
)
def test_is_supported_region(region: str, supported: bool) -> None:
    assert is_supported_region(region) is supported


# ---------------------------------------------------------------- masking


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
