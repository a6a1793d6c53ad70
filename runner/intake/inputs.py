"""Streaming readers of input files: every line becomes a Row or an InvalidRow.

Formats, by extension (case-insensitive):

- ``.csv``: a header row, then one record a line; the phone column (and the name
  column when configured) must be in the header, matched exactly after stripping
  whitespace and a BOM. Comma-separated, ``"`` quoting.
- ``.txt``: one number a line; lines starting with ``#`` are comments.
- ``.jsonl``: one JSON object a line; the number is a string or a JSON integer;
  the name key may be absent or null.

Blank lines are skipped in all three. Encodings, and the refusal of files that are
not text (an Excel workbook renamed .csv, anything with NUL bytes), are described
in :mod:`runner.intake.textlines`. Bytes that do not decode become U+FFFD, so they turn
the row invalid instead of stopping the load.

A file is read one physical line at a time (``\\n``, ``\\r\\n`` or a lone ``\\r``
ends a line) and a CSV line is parsed on its own, so a stray quote can never swallow
the rest of the file; the price is that quoted fields spanning lines are not
supported. Memory does not grow with the file: a line longer than
:data:`MAX_LINE_CHARS` becomes one ``line_too_long`` InvalidRow and is skipped
without being held.

Every physical line except the CSV header, blank lines and ``.txt`` comments yields
exactly one Row or InvalidRow, numbered with its 1-based physical line number. A
job's phone format is applied here, after cleaning, so that a number it rejects is
an InvalidRow like any other and that property still holds.
"""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from runner.core.errors import InputError
from runner.intake.numbers import InvalidNumber, clean_number
from runner.intake.textlines import (
    MAX_LINE_CHARS,
    RAW_LIMIT,
    SNIFF_BYTES,
    Line,
    open_text,
    physical_lines,
)

__all__ = [
    "MAX_LINE_CHARS",
    "RAW_LIMIT",
    "SNIFF_BYTES",
    "SUPPORTED_SUFFIXES",
    "InvalidRow",
    "PhoneRule",
    "Row",
    "read_rows",
]

SUPPORTED_SUFFIXES: Final = (".csv", ".txt", ".jsonl")


@dataclass(frozen=True, slots=True)
class Row:
    """A record to enqueue: the number as it will be sent, and the optional name."""

    line: int
    phone: str
    name: str | None
    # The phone cell as it stood in the file (cut to RAW_LIMIT), for the export to
    # reconcile with the input; not part of a row's identity.
    cell: str | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class InvalidRow:
    """A rejected line, kept so the operator can fix the file.

    ``raw`` is the rejected phone value when the line could be parsed that far,
    otherwise the line itself; cut to :data:`RAW_LIMIT` characters. ``reason`` is
    one line starting with a slug: ``"scientific_notation: ..."``.
    """

    line: int
    raw: str
    reason: str


# Parses one non-blank line; None: the line is not a record (a .txt comment).
_Parser = Callable[[int, str], Row | InvalidRow | None]
# Turns a phone cell into the number as sent; InvalidNumber rejects the row.
PhoneRule = Callable[[str], str]


@dataclass(frozen=True, slots=True)
class FileStamp:
    """What says an input changed since it was loaded: its size and modification time."""

    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: Path) -> FileStamp:
        stat = path.stat()
        return cls(stat.st_size, stat.st_mtime_ns)


def read_rows(
    path: Path,
    phone_column: str,
    name_column: str | None = None,
    formatter: PhoneRule | None = None,
) -> Iterator[Row | InvalidRow]:
    """The rows of ``path``, streamed.

    ``formatter`` rewrites each number after :func:`~runner.intake.numbers.clean_number`
    (a job's phone format, e.g. ``functools.partial(format_number, ...)``); when it
    raises InvalidNumber the row is an InvalidRow with its reason.

    Raises InputError now (not on first iteration) when the extension is unknown,
    the file cannot be opened or the CSV header lacks a column; later, only if the
    disk fails mid-file. Content never raises: bad lines become InvalidRow.
    """
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise InputError(f"{path}: unknown file type {path.suffix!r} (use .csv, .txt or .jsonl)")
    rows = _rows(path, suffix, phone_column, name_column, _phone_rule(formatter))
    first = next(rows, None)  # opens the file and reads the header
    return iter(()) if first is None else itertools.chain((first,), rows)


def _phone_rule(formatter: PhoneRule | None) -> PhoneRule:
    """Cleaning, then the formatter if there is one."""
    if formatter is None:
        return clean_number
    return lambda raw: formatter(clean_number(raw))


def _rows(
    path: Path, suffix: str, phone_column: str, name_column: str | None, to_phone: PhoneRule
) -> Iterator[Row | InvalidRow]:
    """Lines of the file through the parser of its format."""
    try:
        with open_text(path) as stream:
            lines = physical_lines(stream)
            parse = _parser(path, suffix, lines, phone_column, name_column, to_phone)
            for line in lines:
                if line.too_long:
                    yield InvalidRow(line.number, line.text, _TOO_LONG)
                elif line.text.strip() and (row := parse(line.number, line.text)) is not None:
                    yield row
    except OSError as exc:
        raise InputError(f"{path}: read failed: {exc.strerror or exc}") from None


_TOO_LONG: Final = (
    f"line_too_long: longer than {MAX_LINE_CHARS} characters; skipped (is this an input file?)"
)


def _parser(
    path: Path,
    suffix: str,
    lines: Iterator[Line],
    phone_column: str,
    name_column: str | None,
    to_phone: PhoneRule,
) -> _Parser:
    """The per-line parser of a format; for CSV, after reading the header from ``lines``."""
    if suffix == ".txt":
        return lambda number, text: _txt_line(number, text, to_phone)
    if suffix == ".jsonl":
        return lambda number, text: _jsonl_line(number, text, phone_column, name_column, to_phone)
    phone_index, name_index = _csv_header(path, lines, phone_column, name_column)
    return lambda number, text: _csv_line(number, text, phone_index, name_index, to_phone)


# ---------------------------------------------------------------- formats


def _phone_row(number: int, raw: str, name: str | None, to_phone: PhoneRule) -> Row | InvalidRow:
    """A Row for a valid number, else an InvalidRow with the cleaning's or format's reason."""
    try:
        phone = to_phone(raw)
    except InvalidNumber as exc:
        return InvalidRow(number, raw[:RAW_LIMIT], str(exc))
    return Row(number, phone, name, raw[:RAW_LIMIT])


def _name(raw: str | None) -> str | None:
    """A name as sent: stripped, and None when there is none."""
    name = (raw or "").strip()
    return name or None


def _txt_line(number: int, text: str, to_phone: PhoneRule) -> Row | InvalidRow | None:
    """One number a line; ``#`` starts a comment line."""
    stripped = text.strip()
    return None if stripped.startswith("#") else _phone_row(number, stripped, None, to_phone)


def _csv_header(
    path: Path, lines: Iterator[Line], phone_column: str, name_column: str | None
) -> tuple[int, int | None]:
    """Indexes of the phone and name columns in the header (first non-blank line)."""
    header = next((line for line in lines if line.too_long or line.text.strip()), None)
    if header is None:
        raise InputError(f"{path}: empty file (a CSV file starts with a header row)")
    if header.too_long:
        raise InputError(f"{path}:{header.number}: header line is too long")
    try:
        fields = _csv_fields(header.text)
    except csv.Error as exc:
        raise InputError(f"{path}:{header.number}: unreadable header: {exc}") from None
    columns = [field.strip().lstrip("\ufeff").strip() for field in fields]

    def index(column: str) -> int:
        if column in columns:
            return columns.index(column)
        hint = "; the file must be comma-separated" if len(columns) == 1 else ""
        listed = ", ".join(columns)
        raise InputError(f"{path}:{header.number}: no column {column!r} (columns: {listed}){hint}")

    return index(phone_column), None if name_column is None else index(name_column)


def _csv_fields(text: str) -> list[str]:
    """The fields of one CSV line; csv.Error propagates."""
    if '"' not in text:
        return text.split(",")  # what csv.reader gives without quotes, at a fraction of the cost
    return next(csv.reader([text]), [])


def _csv_line(
    number: int, text: str, phone_index: int, name_index: int | None, to_phone: PhoneRule
) -> Row | InvalidRow:
    """One CSV record; a row without the needed fields is ``missing_field``."""
    try:
        fields = _csv_fields(text)
    except csv.Error as exc:
        return InvalidRow(number, text[:RAW_LIMIT], f"bad_csv: {exc}")
    needed = 1 + max(phone_index, -1 if name_index is None else name_index)
    if len(fields) < needed:
        return InvalidRow(
            number, text[:RAW_LIMIT], f"missing_field: {len(fields)} of the {needed} fields needed"
        )
    name = None if name_index is None else _name(fields[name_index])
    return _phone_row(number, fields[phone_index], name, to_phone)


def _jsonl_line(
    number: int, text: str, phone_column: str, name_column: str | None, to_phone: PhoneRule
) -> Row | InvalidRow:
    """One JSON object; the number a string or integer, the name a string, null or absent."""
    try:
        record = json.loads(text)
    except (ValueError, RecursionError) as exc:  # RecursionError: "[[[[..." nested deep
        return InvalidRow(number, text[:RAW_LIMIT], f"bad_json: {_json_problem(exc)}")
    if not isinstance(record, dict):
        return InvalidRow(number, text[:RAW_LIMIT], "not_an_object: the line is not a JSON object")
    if phone_column not in record:
        return InvalidRow(number, text[:RAW_LIMIT], f"missing_field: no key {phone_column!r}")
    fields = {phone_column: record[phone_column]}
    if name_column is not None:
        fields[name_column] = record.get(name_column)
    for key, value in fields.items():
        if value is not None and not _is_json_text(value):
            kind = _JSON_KINDS.get(type(value), type(value).__name__)
            return InvalidRow(
                number,
                json.dumps(value)[:RAW_LIMIT],
                f"wrong_type: {key!r} is a JSON {kind}; write it as a string",
            )
    name = None if name_column is None else _name(_json_text(fields[name_column]))
    return _phone_row(number, _json_text(fields[phone_column]) or "", name, to_phone)


_JSON_KINDS: Final[dict[type, str]] = {
    float: "non-integer number",
    bool: "boolean",
    list: "array",
    dict: "object",
}


def _is_json_text(value: object) -> bool:
    """A string, or an integer that stands for its digits (bool is not one)."""
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def _json_text(value: object) -> str | None:
    """A JSON string or integer as text; None for null or absent."""
    return None if value is None else str(value)


def _json_problem(exc: Exception) -> str:
    """A short description of why a line is not JSON."""
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at column {exc.colno}"
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return str(exc)
