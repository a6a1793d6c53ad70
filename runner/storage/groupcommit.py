"""Group commit: answers arriving together are written in one transaction.

One transaction for many records costs about as much as one for a single record,
which keeps a queue's overhead far below the API's. Used by the PostgreSQL store
(runner.storage.pg.store); the SQLite store keeps its own copy of the same loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class GroupCommit(Generic[T]):
    """``add`` returns once its items are committed, with the items queued beside them."""

    def __init__(self, write: Callable[[list[T]], Awaitable[None]]) -> None:
        self._write = write
        self._queued: list[tuple[Sequence[T], asyncio.Future[None]]] = []
        self._committer: asyncio.Task[None] | None = None

    async def add(self, items: Sequence[T]) -> None:
        """Queue ``items``; returns once they are committed (one wait for all of them)."""
        done = asyncio.get_running_loop().create_future()
        # Its waiter may be cancelled (the run is stopping): the error is still seen.
        done.add_done_callback(lambda future: future.cancelled() or future.exception())
        self._queued.append((items, done))
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit())
        await asyncio.shield(done)

    async def flush(self) -> None:
        """Wait for the items already added (before closing the connection)."""
        if self._committer is not None:
            with contextlib.suppress(Exception):
                await self._committer

    async def _commit(self) -> None:
        while self._queued:
            batch, self._queued = self._queued, []
            try:
                await self._write([item for items, _ in batch for item in items])
            except BaseException as error:
                for _, done in batch:
                    done.set_exception(error)
                if not isinstance(error, Exception):
                    raise
            else:
                for _, done in batch:
                    done.set_result(None)
