"""Phone numbers: the rules that turn a cell of an input file into what is sent.

A number is sent as it stands in the file after trimming whitespace and removing
the separators `` -().`` and Excel's text marker (a leading ``'``); a leading ``+``
is kept and nothing else changes (no country code is added, no leading zero
removed) unless the job asks for a :class:`PhoneFormat`, which :func:`format_number`
applies to the cleaned number. A record's identity is the number as sent, so these
functions decide what counts as a duplicate.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Final

import phonenumbers

# Digits of a number as sent, a leading "+" not counted. 15 is the E.164 maximum
# (country code included); 7 is the shortest subscriber number still in use in
# some numbering plans. Outside these bounds a row is a typo or a merged cell, and
# sending it would only earn "No Record Found".
MIN_DIGITS: Final = 7
MAX_DIGITS: Final = 15

SEPARATORS: Final = " -()."
_SEPARATOR_TABLE: Final = str.maketrans("", "", SEPARATORS)
_ASCII_DIGITS: Final = frozenset("0123456789")

# What Excel writes for a number column it was not told to keep as text:
# 9.18E+11, 9,18E+11 (decimal comma locales), 1.2e10, 5E7.
_SCIENTIFIC: Final = re.compile(r"[+-]?\d+(?:[.,]\d+)?[eE][+-]?\d+")

# Characters of a rejected value quoted back in a reason, so a reason stays one short line.
_QUOTE_LIMIT: Final = 40

# Characters kept in clear at each end by mask_number.
_MASK_KEEP: Final = 2
# A shorter value is masked entirely: keeping 2 + 2 of it would reveal most of it.
_MASK_MIN_LENGTH: Final = 2 * _MASK_KEEP + 3


class Reason(StrEnum):
    """Why a value is not a number that can be sent; stored with invalid records."""

    EMPTY = "empty"
    SCIENTIFIC_NOTATION = "scientific_notation"
    NOT_A_NUMBER = "not_a_number"
    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    UNPARSEABLE_NUMBER = "unparseable_number"
    OTHER_COUNTRY = "other_country"


class PhoneFormat(StrEnum):
    """How a job's cleaned numbers are rewritten before they are sent (``phone_format``)."""

    AS_IS = "as_is"
    NATIONAL = "national"
    E164 = "e164"


class InvalidNumber(ValueError):
    """A value rejected by :func:`clean_number` or :func:`format_number`.

    ``reason`` is the machine-friendly slug (a :class:`Reason`), ``detail`` the
    human explanation; ``str()`` gives ``"<reason>: <detail>"``, one line.
    """

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def clean_number(raw: str) -> str:
    """The number as it will be sent, or :class:`InvalidNumber` saying why not.

    Excel notation is checked before cleaning because removing the ``.`` of
    ``9.18E+11`` would otherwise hide what went wrong behind "not_a_number".
    """
    # Excel's text marker: a cell typed '9876543210 (to keep it from becoming 9.88E+09)
    # is exported with its apostrophe.
    text = raw.strip().removeprefix("'").lstrip()
    if text.isascii() and text.isdigit() and MIN_DIGITS <= len(text) <= MAX_DIGITS:
        return text  # the common case, and a million times per large file: skip the rest
    if not text:
        raise InvalidNumber(Reason.EMPTY, "no phone number")
    if _SCIENTIFIC.fullmatch(text):
        raise InvalidNumber(
            Reason.SCIENTIFIC_NOTATION,
            f"{_quote(text)} looks like Excel scientific notation; format the column as text",
        )
    number = text.translate(_SEPARATOR_TABLE)
    digits = number.removeprefix("+")
    _check_characters(digits)
    _check_length(digits)
    return number


def format_number(cleaned: str, phone_format: PhoneFormat, region: str | None) -> str:
    """``cleaned`` (from :func:`clean_number`) in ``phone_format``, or :class:`InvalidNumber`.

    The campaign stores each number in one spelling, and a delete must use it: a file
    mixing ``+91 98765 43210``, ``098765 43210`` and ``9876543210`` only matches one
    of them as it stands. phonenumbers reads the number, ``region`` (ISO 3166, e.g.
    ``IN``) supplying the country when the number has no ``+``:

    - ``e164``: ``+`` country code national number, ``+919876543210``.
    - ``national``: the national significant number, digits only: ``9876543210``,
      with no trunk prefix (India's ``0``) but with a leading ``0`` that belongs to
      the number itself (Italy's ``06...``). A number of another country code than
      ``region``'s is refused (``other_country``): without its country code it
      would name someone else's number.
    - ``as_is``: ``cleaned`` unchanged, ``region`` unused.

    A number phonenumbers cannot read, or whose length no number of its country
    has, is ``unparseable_number``. ``region`` is required except for ``as_is``.
    """
    if phone_format is PhoneFormat.AS_IS:
        return cleaned
    if region is None:
        raise ValueError(f"phone_format {phone_format} needs a region")
    parsed = _parse(cleaned, region)
    if phone_format is PhoneFormat.E164:
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if parsed.country_code != phonenumbers.country_code_for_region(region):
        raise InvalidNumber(
            Reason.OTHER_COUNTRY,
            f"{cleaned} has country code +{parsed.country_code}, not {region}'s; "
            "in national format it would lose it",
        )
    return phonenumbers.national_significant_number(parsed)


def is_supported_region(region: str) -> bool:
    """True for an ISO 3166 code phonenumbers has numbering data for (``IN``, not ``in``)."""
    return region in phonenumbers.SUPPORTED_REGIONS


_ParseError = phonenumbers.NumberParseException
_PARSE_PROBLEMS: Final = {
    _ParseError.INVALID_COUNTRY_CODE: "no such country code",
    _ParseError.TOO_SHORT_AFTER_IDD: "too short after the international prefix",
    _ParseError.TOO_SHORT_NSN: "too short",
    _ParseError.TOO_LONG: "too long",
}


def _parse(cleaned: str, region: str) -> phonenumbers.PhoneNumber:
    """``cleaned`` read as a number of ``region`` (unless it starts with ``+``), if possible."""
    try:
        parsed = phonenumbers.parse(cleaned, region)
    except _ParseError as exc:
        problem = _PARSE_PROBLEMS.get(exc.error_type, "not a phone number")
        raise InvalidNumber(
            Reason.UNPARSEABLE_NUMBER,
            f"{cleaned} cannot be read as a phone number of {region}: {problem}",
        ) from None
    if not phonenumbers.is_possible_number(parsed):
        raise InvalidNumber(
            Reason.UNPARSEABLE_NUMBER,
            f"{cleaned} has a length no +{parsed.country_code} number has",
        )
    return parsed


def mask_number(phone: str) -> str:
    """``phone`` for a log line: a leading ``+``, the first and last 2 characters, stars between.

    Logs go to places the input files do not (terminals, cron mail), so numbers
    in them are masked; a value too short to mask partly is masked entirely.
    """
    sign = "+" if phone.startswith("+") else ""
    body = phone.removeprefix("+")
    if len(body) < _MASK_MIN_LENGTH:
        return sign + "*" * len(body)
    hidden = len(body) - 2 * _MASK_KEEP
    return f"{sign}{body[:_MASK_KEEP]}{'*' * hidden}{body[-_MASK_KEEP:]}"


def _check_characters(digits: str) -> None:
    """Reject anything but ASCII digits (Unicode digits included: the API wants ASCII)."""
    if not digits:
        raise InvalidNumber(Reason.NOT_A_NUMBER, "no digits")
    bad = next((char for char in digits if char not in _ASCII_DIGITS), None)
    if bad == "+":
        raise InvalidNumber(Reason.NOT_A_NUMBER, "'+' is allowed only at the start")
    if bad is not None:
        raise InvalidNumber(Reason.NOT_A_NUMBER, f"unexpected character {bad!r}")


def _check_length(digits: str) -> None:
    """Reject digit counts no real number has (bounds above)."""
    if len(digits) < MIN_DIGITS:
        raise InvalidNumber(
            Reason.TOO_SHORT, f"{len(digits)} digits; at least {MIN_DIGITS} are needed"
        )
    if len(digits) > MAX_DIGITS:
        raise InvalidNumber(
            Reason.TOO_LONG, f"{len(digits)} digits; at most {MAX_DIGITS} are allowed"
        )


def _quote(text: str) -> str:
    """``text`` cut to a length that keeps a reason on one short line."""
    if len(text) <= _QUOTE_LIMIT:
        return text
    return text[:_QUOTE_LIMIT] + "…"
