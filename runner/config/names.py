"""Job name templates: ``{date}`` in a job's name, so one jobs.yaml serves every night."""

from __future__ import annotations

import string
from datetime import date
from typing import Final

_DATE_FIELD: Final = "date"
_DEFAULT_DATE_FORMAT: Final = "%Y-%m-%d"
_QUOTE_LIMIT: Final = 60  # characters of a template quoted in a message


def expand_date(template: str, today: date) -> str:
    """``template`` with each ``{date}`` (``YYYY-MM-DD``) or ``{date:%Y%m%d}`` filled in.

    A job's name is its identity, so a nightly batch needs a new name every night;
    this lets one jobs.yaml serve every night from cron. ``{{`` and ``}}`` are literal
    braces. Raises ValueError for unbalanced braces, any other placeholder, and a
    format with no ``%`` code (``{date:YYYYMMDD}`` would be a constant name).
    """
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError:
        raise ValueError(
            f"{_quoted(template)} has an unbalanced {{ or }} "
            "(write {{ or }} for a literal brace)"
        ) from None
    expanded = []
    for literal, field, spec, conversion in parts:
        expanded.append(literal)
        if field is not None:
            expanded.append(_date_text(template, field, spec, conversion, today))
    return "".join(expanded)


def _date_text(
    template: str, field: str, spec: str | None, conversion: str | None, today: date
) -> str:
    """What one placeholder of ``template`` stands for, or ValueError."""
    if field != _DATE_FIELD or conversion is not None:
        shown = field + (f"!{conversion}" if conversion else "")
        raise ValueError(
            f"{_quoted(template)}: unknown placeholder {{{shown}}}; only {{date}} and "
            "{date:FORMAT} (e.g. {date:%Y%m%d}) are expanded"
        )
    if spec and "%" not in spec:
        raise ValueError(
            f"{_quoted(template)}: {{date:{spec}}} has no strftime % code (e.g. {{date:%Y%m%d}})"
        )
    return today.strftime(spec or _DEFAULT_DATE_FORMAT)


def _quoted(template: str) -> str:
    """``template`` quoted for a message, cut so that the message stays one short line."""
    if len(template) <= _QUOTE_LIMIT:
        return repr(template)
    return repr(template[:_QUOTE_LIMIT]) + "…"
