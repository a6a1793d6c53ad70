"""``runner export``: the records, or the audit trail of every request, as CSV or JSONL.

Two questions are answered here. "What became of each row of my files?" is one
row per record (:func:`export_records`). "Was this number deleted, when, and what
did the API answer?" is one row per HTTP request (:func:`export_requests`).

The database is opened read-only (runner.db.connection.open_reader): an export
never creates, migrates, writes or locks it, so it runs safely beside a week-long
``runner run`` (WAL lets a reader see every committed result without blocking the
writer), and works for a user who may read the database but not write it. Rows are streamed
from an SQLite cursor straight to the output, so memory does not grow with the
database. A file is written under a temporary name and renamed at the end, so a
failed or interrupted export never leaves a truncated file that looks complete.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Final

from runner.db.connection import explained
from runner.db.reader import EXPORT_COLUMNS, DbReader, Rows
from runner.errors import ExportError
from runner.numbers import MIN_DIGITS, SEPARATORS
from runner.states import RECORD_STATES as STATES

FORMATS: Final = ("csv", "jsonl")

# One row per record (runner.db.reader.EXPORT_COLUMNS).
RECORD_COLUMNS: Final = EXPORT_COLUMNS
# One row per HTTP request, oldest first; record_state is the record's state now.
REQUEST_COLUMNS: Final = (
    "job",
    "campaign",
    "account",
    "phone",
    "record_state",
    "started_at",
    "finished_at",
    "http_status",
    "outcome",
    "message",
    "body",
    "deleted_count",  # N of an "N Records Deleted Successfully" answer, else empty
)

_STRIP_SEPARATORS: Final = str.maketrans("", "", SEPARATORS)


@dataclass(frozen=True, slots=True)
class Filters:
    """Which rows to export; an empty tuple means "any". Values within one filter are ORed.

    ``phones`` hold the significant digits of each number looked for (see
    :func:`phone_digits`); the query matches them on the last digits.
    """

    jobs: tuple[str, ...] = ()
    states: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    campaigns: tuple[str, ...] = ()

    @classmethod
    def of(
        cls,
        jobs: Iterable[str] = (),
        states: Iterable[str] = (),
        phones: Iterable[str] = (),
        campaigns: Iterable[str] = (),
    ) -> Filters:
        """Filters from what the operator typed: states checked, numbers reduced to digits."""
        unknown = sorted(set(states) - set(STATES))
        if unknown:
            raise ExportError(f"unknown state {', '.join(unknown)}; states: {', '.join(STATES)}")
        digits = tuple(phone_digits(p) for p in phones)
        return cls(tuple(jobs), tuple(states), digits, tuple(campaigns))


def phone_digits(text: str) -> str:
    """The significant digits of a number typed by an operator, for a lookup.

    A job may send its numbers as they stand or rewritten (``phone_format``: E.164,
    national), and the operator asking "was 098765 43210 deleted?" should not have
    to know which: separators, a ``+`` and leading zeros are dropped here, and the
    query matches when one number ends with the other. Fewer than ``MIN_DIGITS``
    digits would match too many numbers to answer the question.
    """
    digits = text.strip().translate(_STRIP_SEPARATORS).removeprefix("+").lstrip("0")
    if not digits.isascii() or not digits.isdigit() or len(digits) < MIN_DIGITS:
        raise ExportError(
            f"--phone {text!r}: give a phone number (at least {MIN_DIGITS} digits after any "
            "country code or leading 0; spaces and -().+ are ignored)"
        )
    return digits


# ---------------------------------------------------------------- reading


async def check_jobs(reader: DbReader, names: Sequence[str]) -> None:
    """A misspelt ``--job`` is an error, not an empty export that looks like "nothing to see"."""
    if not names:
        return
    known = await reader.job_names()
    missing = [name for name in names if name not in known]
    if missing:
        raise ExportError(
            f"no job {', '.join(map(repr, missing))} in the database; "
            f"jobs: {', '.join(known) or 'none'}"
        )


def record_rows(reader: DbReader, filters: Filters = Filters()) -> Rows:
    """One tuple per record (RECORD_COLUMNS), in job and file order; times as Unix seconds."""
    return reader.export_rows(filters.jobs, filters.states, filters.phones, filters.campaigns)


def request_rows(reader: DbReader, filters: Filters = Filters()) -> Rows:
    """One tuple per HTTP request (REQUEST_COLUMNS), in the order they were sent."""
    return reader.request_rows(filters.jobs, filters.states, filters.phones, filters.campaigns)


# ---------------------------------------------------------------- writing


def iso(timestamp: float | None, timespec: str = "seconds") -> str | None:
    """ISO 8601 in UTC; requests get milliseconds, since several start within one second."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec=timespec)


def _record_out(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return (*row[:-1], iso(row[-1]))


def _request_out(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return (*row[:5], iso(row[5], "milliseconds"), iso(row[6], "milliseconds"), *row[7:])


def row_writer(fmt: str, out: IO[str], columns: Sequence[str]) -> Callable[[Sequence[Any]], None]:
    """A function writing one row in ``fmt``; the CSV header is written at once.

    CSV leaves a missing value empty; JSONL keeps types (numbers, ``null``) so a
    script can tell "no HTTP status" from "status 0".
    """
    check_format(fmt)
    if fmt == "csv":
        writer = csv.writer(out)
        writer.writerow(columns)
        return writer.writerow

    def write_json(row: Sequence[Any]) -> None:
        out.write(json.dumps(dict(zip(columns, row, strict=True)), ensure_ascii=False) + "\n")

    return write_json


def check_format(fmt: str) -> None:
    """Checked before the database is opened, so that a typo costs nothing."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; formats: {', '.join(FORMATS)}")


async def export_records(
    database: Path,
    out: IO[str],
    *,
    fmt: str = "csv",
    jobs: Iterable[str] = (),
    states: Iterable[str] = (),
    phones: Iterable[str] = (),
    campaigns: Iterable[str] = (),
) -> int:
    """Write one row per record to ``out``; returns how many were written."""
    filters = Filters.of(jobs, states, phones, campaigns)
    return await _copy(database, filters, record_rows, _record_out, fmt, out, RECORD_COLUMNS)


async def export_requests(
    database: Path,
    out: IO[str],
    *,
    fmt: str = "csv",
    jobs: Iterable[str] = (),
    states: Iterable[str] = (),
    phones: Iterable[str] = (),
    campaigns: Iterable[str] = (),
) -> int:
    """Write one row per HTTP request to ``out``; ``states`` filter on the record's state."""
    filters = Filters.of(jobs, states, phones, campaigns)
    return await _copy(database, filters, request_rows, _request_out, fmt, out, REQUEST_COLUMNS)


async def _copy(
    database: Path,
    filters: Filters,
    query: Callable[[DbReader, Filters], Rows],
    convert: Callable[[tuple[Any, ...]], tuple[Any, ...]],
    fmt: str,
    out: IO[str],
    columns: Sequence[str],
) -> int:
    """Stream the query's rows to ``out``; nothing is written unless the database opens."""
    check_format(fmt)
    count = 0
    async with await DbReader.open_readonly(database) as reader, explained(database):
        await check_jobs(reader, filters.jobs)
        write = row_writer(fmt, out, columns)
        async with contextlib.aclosing(query(reader, filters)) as rows:
            async for row in rows:
                write(convert(row))
                count += 1
    return count


async def export_to(
    database: Path,
    output: Path | None,
    *,
    requests: bool = False,
    fmt: str = "csv",
    jobs: Iterable[str] = (),
    states: Iterable[str] = (),
    phones: Iterable[str] = (),
    campaigns: Iterable[str] = (),
) -> int:
    """The ``runner export`` command: to stdout, or atomically to ``output``."""
    export = export_requests if requests else export_records
    filters = {"jobs": jobs, "states": states, "phones": phones, "campaigns": campaigns}
    if output is None:
        return await export(database, sys.stdout, fmt=fmt, **filters)
    with atomic_text(output) as out:
        return await export(database, out, fmt=fmt, **filters)


# ---------------------------------------------------------------- files


def _umask_mode() -> int:
    """The mode ``open()`` would give a new file, since mkstemp always gives 0600."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_text(path: Path, mode: int | None = None) -> Iterator[IO[str]]:
    """A text file that appears at ``path`` complete, or not at all.

    The content goes to a temporary file in the same folder (so the rename stays
    on one file system), is flushed to disk, and replaces ``path`` by
    ``os.replace``: a reader sees the old file or the new one, never a part.
    On an error the temporary file is removed and ``path`` is left as it was.
    ``mode`` defaults to what the umask gives a new file.

    A path that exists and is no regular file (``/dev/stdout``, a named pipe) is
    written through: renaming over it would replace the device, not feed it.
    """
    if path.exists() and not path.is_file():
        with path.open("w", encoding="utf-8", newline="") as through:
            yield through
        return
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, _umask_mode() if mode is None else mode)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
