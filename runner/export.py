"""``runner export``: the records, or the audit trail of every request, as CSV or JSONL.

Two questions are answered here. "What became of each row of my files?" is one
row per record (:func:`export_records`). "Was this number deleted, when, and what
did the API answer?" is one row per HTTP request (:func:`export_requests`).

The database is opened read-only on its own connection: an export never migrates,
writes or locks it, so it runs safely beside a week-long ``runner run`` (WAL lets a
reader see every committed result without blocking the writer). Rows are streamed
from an SQLite cursor straight to the output, so memory does not grow with the
database. A file is written under a temporary name and renamed at the end, so a
failed or interrupted export never leaves a truncated file that looks complete.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import sqlite3
import sys
import tempfile
import urllib.parse
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Final

import aiosqlite

from runner.errors import ExportError, StoreError
from runner.numbers import MIN_DIGITS, SEPARATORS
from runner.states import RECORD_STATES as STATES
from runner.store import EXPORT_COLUMNS, describe, migrations_dir, read_migrations

FORMATS: Final = ("csv", "jsonl")

# One row per record; the names are those of Store.export_rows (runner.store).
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
)

RECORDS_SQL: Final = (
    "SELECT j.name, j.campaign, s.path, r.line, r.phone, r.state, r.reason, r.attempts, "
    "r.last_http_status, r.last_message, r.finished_at FROM records r "
    "JOIN jobs j ON j.id = r.job_id JOIN sources s ON s.id = r.source_id"
)
REQUESTS_SQL: Final = (
    "SELECT j.name, j.campaign, q.account, r.phone, r.state, q.started_at, q.finished_at, "
    "q.http_status, q.outcome, q.message, q.body FROM requests q "
    "JOIN records r ON r.id = q.record_id JOIN jobs j ON j.id = r.job_id"
)

# The oldest schema with every column RECORDS_SQL and REQUESTS_SQL read; raise it
# when a migration changes one of them.
OLDEST_SCHEMA: Final = 1

_STRIP_SEPARATORS: Final = str.maketrans("", "", SEPARATORS)
# Rows fetched per hop to aiosqlite's thread: bounds memory; 1024 exports 30 % faster than 64.
CHUNK_ROWS: Final = 1024


@dataclass(frozen=True, slots=True)
class Filters:
    """Which rows to export; an empty tuple means "any". Values within one filter are ORed.

    ``phones`` hold the significant digits of each number looked for (see
    :func:`phone_digits`).
    """

    jobs: tuple[str, ...] = ()
    states: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()

    @classmethod
    def of(
        cls, jobs: Iterable[str] = (), states: Iterable[str] = (), phones: Iterable[str] = ()
    ) -> Filters:
        """Filters from what the operator typed: states checked, numbers reduced to digits."""
        unknown = sorted(set(states) - set(STATES))
        if unknown:
            raise ExportError(f"unknown state {', '.join(unknown)}; states: {', '.join(STATES)}")
        return cls(tuple(jobs), tuple(states), tuple(phone_digits(p) for p in phones))

    def where(self) -> tuple[str, list[Any]]:
        """The WHERE clause (aliases j = jobs, r = records) and its parameters."""
        clauses: list[str] = []
        params: list[Any] = []
        for column, values in (("j.name", self.jobs), ("r.state", self.states)):
            if values:
                clauses.append(f"{column} IN ({','.join('?' * len(values))})")
                params.extend(values)
        if self.phones:
            clauses.append("(" + " OR ".join([_SAME_NUMBER] * len(self.phones)) + ")")
            for digits in self.phones:
                params.extend((-len(digits), digits, digits))
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


# A record's number without its "+" and leading zeros, as phone_digits() reduces a typed one.
_STORED_DIGITS: Final = "ltrim(replace(r.phone, '+', ''), '0')"
# The same number when one of the two ends with the other, the shorter one having at
# least MIN_DIGITS digits: a country code or a trunk 0 on one side only does not matter.
# substr(x, -n) is the last n characters of x; parameters: (-len(typed), typed, typed).
_SAME_NUMBER: Final = (
    f"(substr({_STORED_DIGITS}, ?) = ? OR (length({_STORED_DIGITS}) >= {MIN_DIGITS} "
    f"AND substr(?, -length({_STORED_DIGITS})) = {_STORED_DIGITS}))"
)


def phone_digits(text: str) -> str:
    """The significant digits of a number typed by an operator, for a lookup.

    A job may send its numbers as they stand or rewritten (``phone_format``: E.164,
    national), and the operator asking "was 098765 43210 deleted?" should not have
    to know which: separators, a ``+`` and leading zeros are dropped here, and the
    query matches on the last digits (see ``_SAME_NUMBER``). Fewer than
    ``MIN_DIGITS`` digits would match too many numbers to answer the question.
    """
    digits = text.strip().translate(_STRIP_SEPARATORS).removeprefix("+").lstrip("0")
    if not digits.isascii() or not digits.isdigit() or len(digits) < MIN_DIGITS:
        raise ExportError(
            f"--phone {text!r}: give a phone number (at least {MIN_DIGITS} digits after any "
            "country code or leading 0; spaces and -().+ are ignored)"
        )
    return digits


# ---------------------------------------------------------------- reading


@contextlib.asynccontextmanager
async def read_only(database: Path) -> AsyncIterator[aiosqlite.Connection]:
    """A read-only connection to a runner database of the schema this runner knows.

    ``mode=ro`` cannot create a missing file or write to an existing one; the
    path is URL-quoted because ``?``, ``#`` and ``%`` are legal in file names.
    """
    if not database.is_file():
        raise StoreError(f"{database}: no database here (run `runner load` or `runner run` first)")
    uri = "file:" + urllib.parse.quote(str(database.resolve())) + "?mode=ro"
    try:
        conn = await aiosqlite.connect(uri, uri=True, iter_chunk_size=CHUNK_ROWS)
    except sqlite3.Error as error:
        raise StoreError(describe(error, database)) from None
    try:
        async with _explained(database):
            await conn.execute("PRAGMA busy_timeout = 5000")
            await _check_schema(conn, database)
        yield conn
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def _explained(database: Path) -> AsyncIterator[None]:
    """SQLite failures become the same one-line StoreError the Store raises."""
    try:
        yield
    except sqlite3.Error as error:
        raise StoreError(describe(error, database)) from None


async def _check_schema(conn: aiosqlite.Connection, database: Path) -> None:
    """Refuse files whose tables the queries below may not match (read-only: no migrating).

    An older runner's database is read as it is (an archived copy need not be
    upgraded first): the queries use only columns of schema ``OLDEST_SCHEMA`` on.
    """
    async with conn.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    version = int(row[0]) if row else 0
    latest = read_migrations(migrations_dir())[-1][0]
    if version < OLDEST_SCHEMA:
        raise StoreError(f"{database}: not a runner database (no schema version)")
    if version > latest:
        raise StoreError(
            f"{database}: database schema version {version} is newer than this runner "
            f"knows ({latest}); upgrade runner"
        )


async def check_jobs(conn: aiosqlite.Connection, names: Sequence[str]) -> None:
    """A misspelt ``--job`` is an error, not an empty export that looks like "nothing to see"."""
    if not names:
        return
    async with conn.execute("SELECT name FROM jobs ORDER BY id") as cursor:
        known = [str(row[0]) async for row in cursor]
    missing = [name for name in names if name not in known]
    if missing:
        raise ExportError(
            f"no job {', '.join(map(repr, missing))} in the database; "
            f"jobs: {', '.join(known) or 'none'}"
        )


Rows = AsyncGenerator[tuple[Any, ...], None]


def record_rows(conn: aiosqlite.Connection, filters: Filters = Filters()) -> Rows:
    """One tuple per record (RECORD_COLUMNS), in job and file order; times as Unix seconds."""
    where, params = filters.where()
    return _stream(conn, f"{RECORDS_SQL}{where} ORDER BY r.job_id, r.id", params)


def request_rows(conn: aiosqlite.Connection, filters: Filters = Filters()) -> Rows:
    """One tuple per HTTP request (REQUEST_COLUMNS), in the order they were sent."""
    where, params = filters.where()
    return _stream(conn, f"{REQUESTS_SQL}{where} ORDER BY q.id", params)


async def _stream(conn: aiosqlite.Connection, sql: str, params: Sequence[Any]) -> Rows:
    """Rows as the cursor yields them: aiosqlite fetches a small chunk at a time.

    A caller that stops early must ``aclose()`` the generator (``contextlib.aclosing``)
    while the connection is open: left to the garbage collector, the cursor would
    be closed after the connection and fail.
    """
    async with conn.execute(sql, params) as cursor:
        async for row in cursor:
            yield tuple(row)


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
) -> int:
    """Write one row per record to ``out``; returns how many were written."""
    filters = Filters.of(jobs, states, phones)
    return await _copy(database, filters, record_rows, _record_out, fmt, out, RECORD_COLUMNS)


async def export_requests(
    database: Path,
    out: IO[str],
    *,
    fmt: str = "csv",
    jobs: Iterable[str] = (),
    states: Iterable[str] = (),
    phones: Iterable[str] = (),
) -> int:
    """Write one row per HTTP request to ``out``; ``states`` filter on the record's state."""
    filters = Filters.of(jobs, states, phones)
    return await _copy(database, filters, request_rows, _request_out, fmt, out, REQUEST_COLUMNS)


async def _copy(
    database: Path,
    filters: Filters,
    query: Callable[[aiosqlite.Connection, Filters], Rows],
    convert: Callable[[tuple[Any, ...]], tuple[Any, ...]],
    fmt: str,
    out: IO[str],
    columns: Sequence[str],
) -> int:
    """Stream the query's rows to ``out``; nothing is written unless the database opens."""
    check_format(fmt)
    count = 0
    async with read_only(database) as conn, _explained(database):
        await check_jobs(conn, filters.jobs)
        write = row_writer(fmt, out, columns)
        async with contextlib.aclosing(query(conn, filters)) as rows:
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
) -> int:
    """The ``runner export`` command: to stdout, or atomically to ``output``."""
    export = export_requests if requests else export_records
    if output is None:
        return await export(database, sys.stdout, fmt=fmt, jobs=jobs, states=states, phones=phones)
    with atomic_text(output) as out:
        return await export(database, out, fmt=fmt, jobs=jobs, states=states, phones=phones)


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
