"""One sender per account across hosts: PostgreSQL advisory locks.

On PostgreSQL the flock files of runner.storage.lock cannot see other hosts or OS users, so
an account belongs to the process holding a session-level advisory lock keyed by the
account's identity (sha256 of base_url and user_name). The locks of a process live on
one dedicated connection with short TCP keepalives on both ends: when the process
dies (``kill -9``), the server releases them at once; when its host dies or the
network is cut, within about 25 s (``lock_keepalives``). A holder that hangs — its
sender note older than ``HUNG_AFTER`` while it still holds the lock — is cut off by
the next process that wants the account (``pg_terminate_backend``). A process that
loses its lock connection stops sending at once (:class:`AccountLockLost`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final

import psycopg
from psycopg.conninfo import make_conninfo

from runner.core.errors import AccountLocked, ExitCode, RunnerError
from runner.storage.db.queries import PQ
from runner.storage.pg.connection import CONNECT_TIMEOUT, describe
from runner.storage.pg.url import PgUrl

# A holder whose sender note is older than this (it writes one every few seconds)
# is hung: another process may end its session and take the account over.
HUNG_AFTER: Final = 120.0
# How often the lock connection is checked, and how long a check may take.
WATCH_SECONDS: Final = 2.0
# How the lock connection shows in pg_stat_activity (unless the URL names another).
LOCK_APPLICATION: Final = "runner account locks"
# libpq's side of the keepalives: the client notices a dead server as quickly.
CLIENT_KEEPALIVES: Final = {
    "keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3,
}  # fmt: skip


class AccountLockLost(RunnerError):
    """The connection holding this process's account locks is gone: it stops sending."""

    exit_code = ExitCode.LOCKED


def lock_key(identity: str) -> int:
    """The advisory lock key of an account identity (a sha256 hex): its first 64 bits."""
    unsigned = int(identity[:16], 16)
    return unsigned - (1 << 64) if unsigned >= 1 << 63 else unsigned


def key_parts(key: int) -> dict[str, int]:
    """How pg_locks shows a bigint key: its high and low 32 bits."""
    unsigned = key & ((1 << 64) - 1)
    return {"high": unsigned >> 32, "low": unsigned & 0xFFFFFFFF}


def is_hung(updated_at: float | None, now: float) -> bool:
    return updated_at is not None and now - updated_at > HUNG_AFTER


class LockSession:
    """The process's dedicated connection holding its account locks."""

    def __init__(self, database: PgUrl) -> None:
        self.database = database
        self._conn: psycopg.AsyncConnection[tuple[Any, ...]] | None = None
        # A worker takes its accounts concurrently: one user of the connection at a time,
        # so that no second connection is opened (its locks would go with it) and no two
        # transactions interleave on it (psycopg would nest one in the other).
        self._turn = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def using(self) -> AsyncIterator[psycopg.AsyncConnection[tuple[Any, ...]]]:
        """The lock connection (opened on first use), this caller's alone meanwhile."""
        async with self._turn:
            yield await self.connection()

    async def connection(self) -> psycopg.AsyncConnection[tuple[Any, ...]]:
        if self._conn is None:
            try:
                conninfo = make_conninfo(
                    self.database.url, fallback_application_name=LOCK_APPLICATION,
                    **CLIENT_KEEPALIVES,
                )  # fmt: skip
                conn = await psycopg.AsyncConnection.connect(
                    conninfo, autocommit=True, connect_timeout=CONNECT_TIMEOUT
                )
                await conn.execute(PQ.lock_keepalives.encode())
            except psycopg.Error as error:
                raise RunnerError(describe(error, self.database)) from None
            self._conn = conn
        return self._conn

    async def check(self) -> None:
        """AccountLockLost unless the lock connection still answers."""
        if self._conn is None:
            return
        try:
            async with self._turn:
                await self._conn.execute(PQ.lock_alive)
        except psycopg.Error as error:
            raise AccountLockLost(
                f"{describe(error, self.database)}: the connection holding this process's "
                "account locks is gone; it stopped sending at once (another process may "
                "take the accounts over)"
            ) from None

    async def watch(self, sleep: Callable[[float], Awaitable[None]]) -> None:
        """Check the lock connection every WATCH_SECONDS until cancelled."""
        while True:
            await sleep(WATCH_SECONDS)
            await self.check()

    async def close(self) -> None:
        """Ends the session: the server releases every lock it held."""
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                await self._conn.close()
            self._conn = None


class PgAccountLock:
    """An account's advisory lock: held while this process sends for it."""

    def __init__(self, session: LockSession, identity: str, account: str) -> None:
        self.session = session
        self.account = account
        self.key = lock_key(identity)
        self.held = False
        self._refusal = f"account {account!r}: another process is sending for this account"

    async def acquire(self, now: float | None = None) -> None:
        """Take the lock (ending a hung holder's session first), or AccountLocked.

        Records of the account left in flight by an earlier holder go back to pending,
        marked interrupted (runner.storage.pg.store.PgStore.recover_in_flight does the same),
        and the account's stop, if an earlier holder left one, is cleared."""
        if self.held:
            return
        now = time.time() if now is None else now
        async with self.session.using() as conn:
            try:
                await self._take(conn, now)
            except psycopg.Error as error:
                raise RunnerError(describe(error, self.session.database)) from None

    async def _take(self, conn: psycopg.AsyncConnection[tuple[Any, ...]], now: float) -> None:
        if not await self._try(conn) and not await self._end_hung_holder(conn, now):
            raise AccountLocked(self._refusal)
        self.held = True
        async with conn.transaction():
            await conn.execute(PQ.audit_interrupted, {"now": now, "account": self.account})
            await conn.execute(PQ.requeue_interrupted, {"account": self.account})
            await conn.execute(PQ.clear_account_stop, {"account": self.account})

    async def _try(self, conn: psycopg.AsyncConnection[tuple[Any, ...]]) -> bool:
        row = await (await conn.execute(PQ.try_account_lock, {"key": self.key})).fetchone()
        return bool(row and row[0])

    async def _end_hung_holder(
        self, conn: psycopg.AsyncConnection[tuple[Any, ...]], now: float
    ) -> bool:
        """Whether the holder was hung, cut off, and the lock is now this process's."""
        holder = await (await conn.execute(PQ.account_lock_holder, key_parts(self.key))).fetchone()
        note = await (await conn.execute(PQ.sender_of, {"account": self.account})).fetchone()
        who = f"pid {note[0]} on {note[1] or 'an unknown host'}" if note else "another process"
        self._refusal = (
            f"account {self.account!r}: {who} is sending for this account (same base_url and "
            "user_name); this process takes it over when that one stops"
        )
        if holder is None or note is None or not is_hung(note[2], now):
            return False
        await conn.execute(PQ.terminate_backend, {"pid": holder[0]})
        return await self._try(conn)

    def refusal(self) -> str:
        return self._refusal

    def release(self) -> None:
        """Forget the lock; closing the session (LockSession.close) releases it."""
        self.held = False
