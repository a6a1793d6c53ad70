"""Pacing requests under a strict sliding-window limit, with no start-up burst.

``aiolimiter.AsyncLimiter(100, 60)`` is a leaky bucket that starts empty and
lets 100 requests through at once (docs/pitfalls.md), which the API's
"100 a minute" counts against us. :class:`Pacer` instead hands out start times:

* evenly spaced, ``period / count`` apart (times a small safety margin), so
  there is never a burst;
* never more than ``count`` in any window of ``period`` (plus the margin),
  checked against the last ``count`` starts, which are seeded from the
  database at start-up so that a restart cannot double the rate;
* paused and slowed after a rate-limit answer, recovering step by step.

Callers reserve a slot first and do their bookkeeping while they wait for
it, so that the request itself leaves at the slot, not a database commit later:
the server counts arrivals, and every millisecond between slot and send eats
into the safety margin.

Reservations are made without awaiting in between, so the workers of one
account can share a pacer without a lock.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable

# Spacing and windows are stretched by this fraction, and by at least
# MIN_MARGIN_SECONDS: scheduling jitter (ours, and the server's in stamping
# arrivals) can squeeze the gaps the server sees, and a window that counts both
# of its ends would otherwise hold count + 1 evenly spaced starts. At 100/min
# the margin is 0.3 s and keeps 99.5 % of the rate; a 50 ms floor was needed
# for periods of a few seconds on a loaded 2-core machine (measured: a few 429s
# in 2000 requests at 200/2s with a 10 ms margin, none with 50 ms).
SAFETY_MARGIN = 0.005
MIN_MARGIN_SECONDS = 0.05
# After a rate-limit answer the spacing doubles, up to this factor...
MAX_SLOWDOWN = 8.0
# ...and each request that is not rate-limited takes back this share of it.
RECOVERY_STEP = 0.9

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class Pacer:
    """Start times for at most ``count`` requests in any ``period`` seconds."""

    def __init__(
        self,
        count: int,
        period: float,
        *,
        history: Iterable[float] = (),
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        margin: float = SAFETY_MARGIN,
        min_margin: float = MIN_MARGIN_SECONDS,
    ) -> None:
        if count < 1 or period <= 0:
            raise ValueError("a rate needs count >= 1 and period > 0")
        self.count = count
        self.period = period
        self.window = period + max(period * margin, min_margin)
        self.interval = self.window / count  # between two starts at full speed
        self._clock = clock
        self._sleep = sleep
        self._starts: deque[float] = deque(maxlen=count)
        self._next = float("-inf")
        self._paused_until = float("-inf")
        self._slowdown = 1.0
        self.remember(history)

    def remember(self, starts: Iterable[float]) -> None:
        """Count earlier starts (e.g. a previous run's, read from the database)."""
        merged = sorted([*self._starts, *starts])[-self.count :]
        self._starts.clear()
        self._starts.extend(merged)
        if self._starts:
            self._next = max(self._next, self._starts[-1] + self.interval)

    def now(self) -> float:
        """The time on this pacer's clock."""
        return self._clock()

    @property
    def slowdown(self) -> float:
        """The current spacing factor: 1.0 is full speed."""
        return self._slowdown

    def reserve(self) -> float:
        """Book the earliest allowed start time (on this pacer's clock) and return it."""
        slot = max(self._clock(), self._next, self._paused_until)
        if len(self._starts) == self.count:
            slot = max(slot, self._starts[0] + self.window)
        self._starts.append(slot)
        self._next = slot + self.interval * self._slowdown
        return slot

    async def wait(self, slot: float) -> bool:
        """Sleep until ``slot``; False if the slot may no longer be used.

        That happens when a pause was imposed while we slept (a 429 seen by
        another worker: the caller reserves again; the slot it held stays
        booked, which only errs on the slow side), or when the injected
        ``sleep`` returned early to abort the wait (a shutdown).
        """
        delay = slot - self._clock()
        if delay > 0:
            await self._sleep(delay)
            if self._clock() < slot:
                return False
        return self._paused_until <= slot

    @property
    def paused_until(self) -> float:
        """Until when (on this pacer's clock) nothing may start; in the past when free."""
        return self._paused_until

    def hold(self, seconds: float) -> None:
        """Start nothing for ``seconds`` (a circuit breaker's cool-down)."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)

    def pause(self, seconds: float) -> None:
        """After a rate-limit answer: start nothing for ``seconds``, then go slower."""
        self.hold(seconds)
        self._slowdown = min(self._slowdown * 2.0, MAX_SLOWDOWN)

    def recover(self) -> None:
        """A request went through: move back towards the full rate."""
        if self._slowdown > 1.0:
            self._slowdown = max(1.0, self._slowdown * RECOVERY_STEP)
