"""Which queue a config's ``database`` names: SQLite (a path) or PostgreSQL (a URL).

The one place that chooses: commands open a store or a reader here and use the
same methods on either (runner.storage.queue.Queue and Reader, plus loading and export).
psycopg is imported only when a PostgreSQL URL is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runner.storage.db.reader import DbReader
from runner.storage.pg.url import Database, PgUrl
from runner.storage.store import Store

if TYPE_CHECKING:
    from runner.storage.pg.reader import PgReader
    from runner.storage.pg.store import PgStore


async def open_store(database: Database, *, create: bool = True) -> Store | PgStore:
    """The read-write queue, created or migrated (``create=False``: it must exist)."""
    if isinstance(database, PgUrl):
        from runner.storage.pg.store import PgStore

        return await PgStore.open(database, create=create)
    return await Store.open(database, create=create)


async def open_reader(database: Database) -> DbReader | PgReader:
    """A read-only reader: never creates, migrates or writes the queue."""
    if isinstance(database, PgUrl):
        from runner.storage.pg.reader import PgReader

        return await PgReader.open_readonly(database)
    return await DbReader.open_readonly(database)
