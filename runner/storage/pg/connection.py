"""Opening a PostgreSQL queue: read-write (migrated) or read-only.

Connections are psycopg 3 (libpq) in autocommit mode; the store opens each
transaction itself. libpq reads the password, TLS settings and service files; the
URL holds none of it (runner.storage.pg.url). Migrations are ``migrations/postgresql/NNNN_*.sql``,
numbered like the SQLite ones, each applied in a transaction under an advisory lock
and recorded in ``schema_version`` (SQLite keeps it in its user_version).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from typing import Final

import psycopg

from runner.core.errors import StoreError
from runner.storage.db.connection import (
    migrations_dir,
    no_database,
    read_migrations,
    schema_problem,
)
from runner.storage.db.queries import PQ
from runner.storage.pg.url import PgUrl, redact

# Seconds libpq waits for the server before a command fails (unless the URL says otherwise).
CONNECT_TIMEOUT: Final = 10


def pg_migrations() -> list[tuple[int, str]]:
    return read_migrations(migrations_dir() / "postgresql")


def latest_version() -> int:
    migrations = pg_migrations()
    return migrations[-1][0] if migrations else 0


def describe(error: psycopg.Error, database: PgUrl) -> str:
    """A one-line explanation of a PostgreSQL failure; never a password."""
    text = " ".join(str(error).split()) or type(error).__name__
    if isinstance(error, psycopg.errors.InsufficientPrivilege):
        hint = "the role lacks a privilege (see README: PostgreSQL roles)"
    elif isinstance(error, psycopg.OperationalError):
        hint = "cannot reach or use the server"
    else:
        hint = "PostgreSQL error"
    return redact(f"{database}: {hint} ({text})")


@contextlib.asynccontextmanager
async def explained(database: PgUrl) -> AsyncIterator[None]:
    """PostgreSQL failures become a one-line StoreError naming the database and the cause."""
    try:
        yield
    except psycopg.Error as error:
        raise StoreError(describe(error, database)) from None


async def connect(database: PgUrl) -> psycopg.AsyncConnection[tuple[object, ...]]:
    async with explained(database):
        return await psycopg.AsyncConnection.connect(
            database.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT,
            fallback_application_name="runner",
        )  # fmt: skip


async def schema_version(conn: psycopg.AsyncConnection[tuple[object, ...]]) -> int:
    cursor = await conn.execute(PQ.schema_table)
    exists = await cursor.fetchone()
    if not exists or not exists[0]:
        return 0
    cursor = await conn.execute(PQ.user_version)
    row = await cursor.fetchone()
    return int(str(row[0])) if row else 0


async def migrate(conn: psycopg.AsyncConnection[tuple[object, ...]], database: PgUrl) -> None:
    migrations = pg_migrations()
    async with conn.transaction():
        await conn.execute(PQ.migration_lock)
        await conn.execute(PQ.create_schema_table)
        current = await schema_version(conn)
        problem = schema_problem(current, latest_version(), str(database), reader=False)
        if problem is not None:
            raise StoreError(problem)
        for version, script in migrations:
            if version > current:
                await conn.execute(script.encode())  # several statements, no parameters
                await conn.execute(PQ.set_user_version, {"version": version, "at": time.time()})


async def open_writer(
    database: PgUrl, *, create: bool = True
) -> psycopg.AsyncConnection[tuple[object, ...]]:
    """A connection to a migrated queue; ``create=False``: the queue must exist already."""
    conn = await connect(database)
    try:
        async with explained(database):
            if not create and await schema_version(conn) == 0:
                raise no_database(str(database))
            await migrate(conn, database)
    except BaseException:
        await conn.close()
        raise
    return conn


async def open_reader(
    database: PgUrl, *, empty_ok: bool = False
) -> psycopg.AsyncConnection[tuple[object, ...]]:
    """A read-only session on a queue of a schema this runner reads; never migrates.
    ``empty_ok``: a database no runner has used yet (no schema) is opened too."""
    conn = await connect(database)
    try:
        async with explained(database):
            await conn.execute(PQ.read_only)
            version = await schema_version(conn)
        if empty_ok and version == 0:
            return conn
        problem = schema_problem(version, latest_version(), str(database), reader=True)
        if problem is not None:
            raise StoreError(problem)
    except BaseException:
        await conn.close()
        raise
    return conn
