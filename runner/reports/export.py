"""``runner export``: the records, or the audit trail of every request, as CSV or JSONL.

Two questions are answered here. "What became of each row of my files?" is one
row per record (:func:`export_records`). "Was this number deleted, when, and what
did the API answer?" is one row per HTTP request (:func:`export_requests`).

The database is opened read-only (runner.storage.db.connection.open_reader): an export
never creates, migrates, writes or locks it, so it runs safely beside a week-long
``runner run`` (WAL lets a reader see every committed result without blocking the
writer), and works for a user who may read the database but not write it. Rows are streamed
from an SQLite cursor straight to the output, so memory does not grow with the
database. A file is written under a temporary name and renamed at the end, so a
failed or interrupted export never leaves a truncated file that looks complete.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final, TypeAlias

from runner.core.clock import iso_ms as iso  # one format of every time written
from runner.core.errors import ExportError
from runner.core.states import RECORD_STATES as STATES
from runner.intake.numbers import MIN_DIGITS, SEPARATORS
from runner.reports import archive
from runner.reports.writing import atomic_text, check_format, row_writer
from runner.storage.backend import open_reader
from runner.storage.db.connection import explained
from runner.storage.db.reader import EXPORT_COLUMNS, DbReader
from runner.storage.db.reports import Rows
from runner.storage.pg.url import Database, PgUrl

if TYPE_CHECKING:
    from runner.storage.pg.reader import PgReader

AnyReader: TypeAlias = "DbReader | PgReader"

# A duplicate input line is exported in the state 'duplicate' (it is no record).
DUPLICATE: Final = "duplicate"
EXPORT_STATES: Final = (*STATES, DUPLICATE)

# One row per record (runner.storage.db.reader.EXPORT_COLUMNS).
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
    duplicates: bool = True  # the record export includes duplicate input lines
    campaigns: tuple[str, ...] = ()

    @classmethod
    def of(
        cls,
        jobs: Iterable[str] = (),
        states: Iterable[str] = (),
        phones: Iterable[str] = (),
        duplicates: bool = True,
        campaigns: Iterable[str] = (),
    ) -> Filters:
        """Filters from what the operator typed: states checked, numbers reduced to digits."""
        unknown = sorted(set(states) - set(EXPORT_STATES))
        if unknown:
            raise ExportError(
                f"unknown state {', '.join(unknown)}; states: {', '.join(EXPORT_STATES)}"
            )
        digits = tuple(phone_digits(p) for p in phones)
        return cls(tuple(jobs), tuple(states), digits, duplicates, tuple(campaigns))


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


async def check_jobs(reader: AnyReader, names: Sequence[str]) -> None:
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


def record_rows(reader: AnyReader, filters: Filters = Filters()) -> Rows:
    """One tuple per record (RECORD_COLUMNS), in job and file order, then one per
    duplicate input line unless ``filters.duplicates`` is False; times as Unix seconds."""
    chosen = (filters.jobs, filters.states, filters.phones, filters.campaigns)
    streams = [reader.export_rows(*chosen)]
    if filters.duplicates:
        streams.append(reader.duplicate_rows(*chosen))
    return _chain(streams)


async def _chain(streams: list[Rows]) -> Rows:
    for rows in streams:
        async with contextlib.aclosing(rows):
            async for row in rows:
                yield row


def request_rows(reader: AnyReader, filters: Filters = Filters()) -> Rows:
    """One tuple per HTTP request (REQUEST_COLUMNS), in the order they were sent."""
    return reader.request_rows(filters.jobs, filters.states, filters.phones, filters.campaigns)


# ---------------------------------------------------------------- writing


def _record_out(row: tuple[Any, ...]) -> tuple[Any, ...]:
    at = RECORD_COLUMNS.index("finished_at")
    return (*row[:at], iso(row[at]), *row[at + 1 :])


def _request_out(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return (*row[:5], iso(row[5]), iso(row[6]), *row[7:])


async def export_records(
    database: Database,
    out: IO[str],
    *,
    fmt: str = "csv",
    jobs: Iterable[str] = (),
    states: Iterable[str] = (),
    phones: Iterable[str] = (),
    duplicates: bool = True,
    campaigns: Iterable[str] = (),
) -> int:
    """Write one row per record (and duplicate line) to ``out``; returns how many."""
    filters = Filters.of(jobs, states, phones, duplicates, campaigns)
    return await _copy(database, filters, record_rows, _record_out, fmt, out, RECORD_COLUMNS)


async def export_requests(
    database: Database,
    out: IO[str],
    *,
    fmt: str = "csv",
    jobs: Iterable[str] = (),
    states: Iterable[str] = (),
    phones: Iterable[str] = (),
    duplicates: bool = True,  # no request is ever made for a duplicate line
    campaigns: Iterable[str] = (),
) -> int:
    """Write one row per HTTP request to ``out``; ``states`` filter on the record's state."""
    filters = Filters.of(jobs, states, phones, campaigns=campaigns)
    return await _copy(database, filters, request_rows, _request_out, fmt, out, REQUEST_COLUMNS)


async def _copy(
    database: Database,
    filters: Filters,
    query: Callable[[AnyReader, Filters], Rows],
    convert: Callable[[tuple[Any, ...]], tuple[Any, ...]],
    fmt: str,
    out: IO[str],
    columns: Sequence[str],
) -> int:
    """Stream the query's rows to ``out``; nothing is written unless the database opens."""
    check_format(fmt)
    count = 0
    async with await open_reader(database) as reader, _explained(database):
        await check_jobs(reader, filters.jobs)
        write = row_writer(fmt, out, columns)
        async with contextlib.aclosing(query(reader, filters)) as rows:
            async for row in rows:
                write(convert(row))
                count += 1
    return count


def export_archive(
    path: Path, out: IO[str], *, requests: bool, fmt: str, filters: Filters
) -> int:
    """Rows of a ``runner prune`` archive, filtered and written as from the database."""
    columns = REQUEST_COLUMNS if requests else RECORD_COLUMNS
    convert = _request_out if requests else _record_out
    write = row_writer(fmt, out, columns)
    count = 0
    kind = archive.REQUEST if requests else archive.RECORD
    for row in archive.read(path, kind, columns):
        if archive.matches(row, filters.jobs, filters.states, filters.phones,
                           phone_at=columns.index("phone"),
                           state_at=columns.index("record_state" if requests else "state"),
                           min_digits=MIN_DIGITS):  # fmt: skip
            write(convert(row))
            count += 1
    return count


async def export_to(
    database: Database,
    output: Path | None,
    *,
    requests: bool = False,
    fmt: str = "csv",
    jobs: Iterable[str] = (),
    states: Iterable[str] = (),
    phones: Iterable[str] = (),
    archive: Path | None = None,
    duplicates: bool = True,
    campaigns: Iterable[str] = (),
) -> int:
    """The ``runner export`` command: to stdout, or atomically to ``output``; from the
    database, or from an ``archive`` written by ``runner prune``."""
    if archive is not None:
        filters = Filters.of(jobs, states, phones, duplicates, campaigns)
        if output is None:
            return export_archive(archive, sys.stdout, requests=requests, fmt=fmt, filters=filters)
        with atomic_text(output) as out:
            return export_archive(archive, out, requests=requests, fmt=fmt, filters=filters)
    export = functools.partial(
        export_requests if requests else export_records,
        fmt=fmt, jobs=jobs, states=states, phones=phones, duplicates=duplicates,
        campaigns=campaigns,
    )  # fmt: skip
    if output is None:
        return await export(database, sys.stdout)
    with atomic_text(output) as out:
        return await export(database, out)


def _explained(database: Database) -> contextlib.AbstractAsyncContextManager[None]:
    """The backend's errors as a one-line StoreError."""
    if isinstance(database, PgUrl):
        from runner.storage.pg.connection import explained as pg_explained

        return pg_explained(database)
    return explained(database)
