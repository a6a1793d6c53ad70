"""Reading a runner database: the reports of ``runner status`` and the export rows.

:class:`DbReader` implements :class:`runner.storage.queue.Reader` over any connection; the
store (the writer) extends it, and :meth:`DbReader.open_readonly` gives one on a read-only
connection that never creates, migrates or writes the file.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, Final

import aiosqlite

from runner.storage.db.connection import explained, open_reader
from runner.storage.db.queries import Q
from runner.storage.db.reports import ReportQueries, Rows
from runner.storage.queue import SenderNote

# One row per record (Q.export_records), in this order.
EXPORT_COLUMNS: Final = (
    "job",
    "campaign",
    "file",
    "line",
    "phone",
    "state",
    "reason",
    "attempts",
    "last_http_status",
    "last_message",
    "finished_at",
    "cell",  # the phone cell as it stood in the input
    "name",
    "duplicate_of_file",  # a duplicate line: the file and line of the record it repeats
    "duplicate_of_line",
)

async def stream(conn: aiosqlite.Connection, sql: str, params: dict[str, Any]) -> Rows:
    """Rows as the cursor yields them: aiosqlite fetches a chunk at a time.

    A caller that stops early must ``aclose()`` the generator (``contextlib.aclosing``)
    while the connection is open: left to the garbage collector, the cursor would
    be closed after the connection and fail.
    """
    async with conn.execute(sql, params) as cursor:
        async for row in cursor:
            yield tuple(row)


class DbReader(ReportQueries):
    """The reports over one connection (see :class:`runner.storage.queue.Reader`)."""

    queries = Q

    def __init__(self, conn: aiosqlite.Connection, path: Path | str) -> None:
        self._conn = conn
        self.path = path

    @staticmethod
    async def open_readonly(path: Path) -> DbReader:
        """A read-only reader: never creates, migrates or writes ``path``.

        A database older than this runner reads, newer than it knows, or missing is
        a StoreError saying what to do.
        """
        return DbReader(await open_reader(path), path)

    async def close(self) -> None:
        await self._conn.close()

    async def __aenter__(self) -> DbReader:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def connection(self) -> aiosqlite.Connection:
        """For the export's streaming queries."""
        return self._conn

    async def _fetchall(self, sql: str, params: Any = ()) -> list[sqlite3.Row]:
        async with explained(self.path), self._conn.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def _fetchone(self, sql: str, params: Any = ()) -> sqlite3.Row | None:
        async with explained(self.path), self._conn.execute(sql, params) as cursor:
            return await cursor.fetchone()

    async def senders(self) -> list[SenderNote]:
        """The latest note of every account a process drained or tried to."""
        return [
            SenderNote(account, int(pid), database, mode, state, note, until, updated_at, since)
            for account, pid, database, mode, state, note, until, updated_at, since in await (
                self._fetchall(self.queries.senders)
            )
        ]

    def _stream(self, sql: str, params: dict[str, Any]) -> Rows:
        return stream(self._conn, sql, params)
