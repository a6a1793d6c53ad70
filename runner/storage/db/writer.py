"""The drain's writes, merged: one transaction, one call on the database thread.

aiosqlite runs each statement as a hop to its thread and back; a transaction of
BEGIN, a claim and COMMIT cost three hops, and the store's lock was held across
every one, so workers waiting for a claim waited behind answer commits in turn.
:class:`GroupWriter` queues claims, releases and answers, and runs everything
queued while the previous transaction ran as the next transaction, in a single
call on aiosqlite's thread. A claim then waits for at most the one transaction
under way, never for a queue of them.

Each caller gets its own operation's result once the transaction is committed; a
failed transaction (a full disk) fails every operation in it, and leaves nothing
written.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final, TypeVar, cast

import aiosqlite

from runner.storage.db.connection import BUSY_POLL_SECONDS, BUSY_SECONDS, Wait, explained
from runner.storage.db.queries import Q

T = TypeVar("T")
Op = Callable[[sqlite3.Connection], Any]
# Answers alone wait this long for more answers (or a claim) to share their transaction:
# a worker goes on without waiting for its answer's commit, and fewer, larger
# transactions leave the event loop and the database thread more time for requests.
# 50 ms rather than 10: at a lifted limit a commit then carries a few hundred answers,
# and the drain went from 6,500 to 7,200 requests a second; a crash loses no more than
# before (an uncommitted answer's record comes back `interrupted` and is sent again).
GATHER_SECONDS: Final = 0.05
# BEGIN IMMEDIATE found another connection's write lock: look again shortly.
_BUSY: Final = object()


def is_busy(error: sqlite3.OperationalError) -> bool:
    return "locked" in str(error) or "busy" in str(error)


def run_transaction(
    raw: sqlite3.Connection, items: list[Any], write_items: Callable[..., None], ops: list[Op]
) -> object:
    """On the database thread: BEGIN IMMEDIATE, the items, the ops, COMMIT; the ops'
    results, or ``_BUSY`` when another connection holds the write lock."""
    try:
        raw.execute(Q.begin_immediate)
    except sqlite3.OperationalError as error:
        if is_busy(error):
            return _BUSY
        raise
    try:
        if items:
            write_items(raw, items)
        results = [op(raw) for op in ops]
        raw.execute(Q.commit)
    except BaseException:
        # Also when COMMIT itself failed (a full disk): never leave it open.
        with contextlib.suppress(sqlite3.Error):
            raw.execute(Q.rollback)
        raise
    return results


class GroupWriter:
    """Merges the drain's write operations into as few transactions as they allow.

    ``items`` (answers) are written together by ``write_items`` at the start of each
    transaction; ``ops`` (claims, releases) run after them, in the order they came.
    """

    def __init__(
        self,
        conn: aiosqlite.Connection,
        lock: Callable[[], asyncio.Lock],
        path: Path | str,
        write_items: Callable[[sqlite3.Connection, list[Any]], None],
    ) -> None:
        self._conn = conn
        self._lock = lock  # the store's: other writes of the same connection wait for it
        self._path = path
        self._write_items = write_items
        self._items: list[Any] = []
        self._item_waiters: list[asyncio.Future[Any]] = []
        self._ops: list[tuple[Op, asyncio.Future[Any]]] = []
        self._op_came: asyncio.Future[None] | None = None  # wakes the answers' wait
        self.task: asyncio.Task[None] | None = None

    async def add(self, items: Sequence[object]) -> None:
        """Write ``items`` with the others queued; returns once committed (one future
        for all of them: a drain hands over every answer that came meanwhile)."""
        future = self._future()
        self._items.extend(items)
        self._item_waiters.append(future)
        await asyncio.shield(future)

    async def run(self, op: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``op`` in the next transaction; its result once committed."""
        future = self._future()
        self._ops.append((op, future))
        if self._op_came is not None:
            _wake(self._op_came)
        return cast(T, await asyncio.shield(future))

    def _future(self) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        # Its waiter may be cancelled (the run is stopping): the error is still seen.
        future.add_done_callback(lambda done: done.cancelled() or done.exception())
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._drain())
        return future

    async def _drain(self) -> None:
        """Commit what is queued, a transaction at a time, until nothing is left."""
        while self._items or self._ops:
            if not self._ops:
                await self._gather()
            items, self._items = self._items, []
            waiters, self._item_waiters = self._item_waiters, []
            ops, self._ops = self._ops, []
            try:
                async with self._lock(), explained(self._path):
                    results = await self._transaction(items, [op for op, _ in ops])
            except BaseException as error:
                for future in [*waiters, *(future for _, future in ops)]:
                    future.set_exception(error)
                if not isinstance(error, Exception):
                    raise
            else:
                for future in waiters:
                    future.set_result(None)
                for (_, future), result in zip(ops, results, strict=True):
                    future.set_result(result)

    async def _gather(self) -> None:
        """Let more answers come for GATHER_SECONDS, or until a claim or release comes."""
        loop = asyncio.get_running_loop()
        self._op_came = came = loop.create_future()
        timer = loop.call_later(GATHER_SECONDS, _wake, came)
        try:
            await came
        finally:
            timer.cancel()
            self._op_came = None

    async def _transaction(self, items: list[Any], ops: list[Op]) -> Sequence[Any]:
        """One hop per try; while another connection writes, try every few ms."""
        deadline = time.monotonic() + BUSY_SECONDS
        with Wait() as wait:
            while True:
                outcome = await on_thread(
                    self._conn, run_transaction, items, self._write_items, ops
                )
                if outcome is not _BUSY:
                    return cast(Sequence[Any], outcome)
                if time.monotonic() >= deadline:
                    raise sqlite3.OperationalError("database is locked")
                wait.refused()
                await asyncio.sleep(BUSY_POLL_SECONDS)


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def on_thread(conn: aiosqlite.Connection, fn: Callable[..., T], *args: Any) -> T:
    """``fn(raw connection, *args)`` on aiosqlite's thread (its private but stable entry:
    a sqlite3 connection may only be used on the thread that opened it)."""
    raw = conn._conn  # created on, and only used on, that thread
    execute = cast(Callable[..., Any], conn._execute)
    return cast(T, await execute(fn, raw, *args))
