"""An account's claimed records, handed to its workers one at a time.

At fast paces the drain claims a batch of records in one transaction
(:func:`runner.sending.claimsize.claim_count` sizes it) and hands them out as the slots
come; the next batch is claimed ahead, once half the batch in hand is handed out,
so that fast workers never stand still while it is committed. At slow paces each
worker claims one record for its own slot, so that ``in_flight`` means "about to be
sent" and a crash strands little.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from runner.storage.queue import Claim

Spawn = Callable[[Coroutine[Any, Any, None]], "asyncio.Task[None]"]


class ClaimBatches:
    """Records claimed together, not yet handed out, and the next batch being claimed."""

    def __init__(self, claim: Callable[[int], Awaitable[list[Claim]]], spawn: Spawn) -> None:
        self._claim = claim
        self._spawn = spawn
        self._held: deque[Claim] = deque()
        self._refill: asyncio.Task[None] | None = None
        self._ran_short = False  # the last batch came short: nothing more is due yet

    async def take(self, count: int) -> Claim | None:
        """The next claimed record, claiming a batch of ``count`` when none is in hand."""
        if count == 1 and not self._held:  # slow: each worker claims for its own slot
            claims = await self._claim(1)
            return claims[0] if claims else None
        if not self._held or (len(self._held) <= count // 2 and not self._ran_short):
            refill = self._refill or self._ahead(count)
            if not self._held:
                await asyncio.shield(refill)  # a cancelled worker leaves it to the others
        return self._held.popleft() if self._held else None

    def drop_unsent(self) -> list[Claim]:
        """Every record claimed and never handed out (to be released at the end)."""
        unsent, self._held = list(self._held), deque()
        return unsent

    def _ahead(self, count: int) -> asyncio.Task[None]:
        """Start claiming the next batch, shared by every worker that runs out."""

        async def claim() -> None:
            try:
                claims = await self._claim(count)
                self._ran_short = len(claims) < count
                self._held.extend(claims)
            finally:
                self._refill = None

        self._refill = self._spawn(claim())
        return self._refill
