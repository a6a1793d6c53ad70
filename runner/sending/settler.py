"""Answers committed in the background, a batch at a time.

A worker hands its answer over and goes on to its next request. One task per
drain commits every answer that came while the previous batch was being written,
and only then counts them: a record is done, and the run may end, once its answer
is committed. One task and one wait per batch rather than per answer: at a lifted
limit a task, a future and a shield for every request cost more than the
request's own bookkeeping.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

from runner.storage.queue import Claim, Settlement

Answer = tuple[Claim, Settlement]
Spawn = Callable[[Coroutine[Any, Any, None]], "asyncio.Task[None]"]


class Settler:
    """Queues answers and commits them in order, each batch once the last is written.

    A failed commit (a full disk) fails the task ``spawn`` made, which the drain's
    task group turns into the end of the drain; nothing of that batch is counted.
    """

    def __init__(
        self,
        settle_many: Callable[[Sequence[Answer]], Awaitable[None]],
        spawn: Spawn,
        settled: Callable[[list[Answer]], None],
    ) -> None:
        self._settle_many = settle_many
        self._spawn = spawn
        self._settled = settled
        self._queued: list[Answer] = []
        self._task: asyncio.Task[None] | None = None

    def add(self, claim: Claim, settlement: Settlement) -> None:
        """Commit this answer with the others queued (in the background)."""
        self._queued.append((claim, settlement))
        if self._task is None or self._task.done():
            self._task = self._spawn(self._commit())

    async def _commit(self) -> None:
        while self._queued:
            batch, self._queued = self._queued, []
            await self._settle_many(batch)
            self._settled(batch)
