"""Reading a PostgreSQL queue: what ``runner status`` and ``runner export`` read.

:class:`PgReader` is :class:`runner.storage.db.reader.DbReader` on PostgreSQL (the same
:class:`runner.storage.queue.Reader` and export rows); :class:`runner.storage.pg.store.PgStore`
extends it. A reader's session is read-only, so a role with only the select privilege is enough.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from runner.intake.numbers import MIN_DIGITS
from runner.storage.db.queries import PQ
from runner.storage.db.reports import ReportQueries, Rows
from runner.storage.pg.connection import explained, open_reader, schema_version
from runner.storage.pg.url import PgUrl
from runner.storage.queue import SenderNote

Connection = psycopg.AsyncConnection[tuple[Any, ...]]


def export_params(
    jobs: Sequence[str] = (),
    states: Sequence[str] = (),
    phones: Sequence[str] = (),
    campaigns: Sequence[str] = (),
) -> dict[str, Any]:
    """The parameters of PQ.export_records / PQ.export_requests: each filter a text[]."""
    return {"jobs": list(jobs), "states": list(states), "phones": list(phones),
            "campaigns": list(campaigns), "min_digits": MIN_DIGITS}  # fmt: skip


def sender_of(row: Sequence[Any]) -> SenderNote:
    """A SenderNote from a row of PQ.senders; the host goes before the database."""
    account, pid, database, mode, state, note, until, updated_at, since, host = row
    where = f"{host}: {database}" if host else database
    return SenderNote(account, int(pid), where, mode, state, note, until, updated_at, since)


class PgReader(ReportQueries):
    """The reports over one PostgreSQL connection (see :class:`runner.storage.queue.Reader`)."""

    queries = PQ
    export_params = staticmethod(export_params)

    def __init__(self, conn: Connection, database: PgUrl) -> None:
        self._conn = conn
        self.path = database

    @staticmethod
    async def open_readonly(database: PgUrl) -> PgReader:
        return PgReader(await open_reader(database), database)

    @staticmethod
    async def is_empty(database: PgUrl) -> bool:
        """Whether no runner has used the database yet (status: nothing loaded, no error)."""
        conn = await open_reader(database, empty_ok=True)
        try:
            async with explained(database):
                return await schema_version(conn) == 0
        finally:
            await conn.close()

    async def close(self) -> None:
        await self._conn.close()

    async def __aenter__(self) -> PgReader:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _fetchall(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        async with explained(self.path):
            cursor = await self._conn.execute(sql, params)
            return await cursor.fetchall()

    async def _fetchone(self, sql: str, params: Any = None) -> tuple[Any, ...] | None:
        async with explained(self.path):
            cursor = await self._conn.execute(sql, params)
            return await cursor.fetchone()

    async def senders(self) -> list[SenderNote]:
        return [sender_of(row) for row in await self._fetchall(self.queries.senders)]

    async def _stream(self, sql: str, params: dict[str, Any]) -> Rows:
        """Rows as the server sends them (libpq's single-row mode): bounded memory."""
        async with explained(self.path), self._conn.cursor() as cursor:
            async for row in cursor.stream(sql, params):
                yield tuple(row)
