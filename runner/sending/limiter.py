"""Pacing requests under a strict sliding-window limit, with no start-up burst.

Every request passes ``aiolimiter.AsyncLimiter(1, interval)`` just before it
leaves: one slot per stretched interval, so the library itself never lets two
requests of one account start closer than ``period / count`` (times a small
safety margin). ``AsyncLimiter(100, 60)`` would not do: it is a leaky bucket
that starts empty and lets 100 through at once (docs/pitfalls.md).

What the library cannot do is this module's small layer around it,
:class:`Pacer`, which hands out start times ("slots"):

* booked against absolute times, ``interval`` apart, so that a late wake-up
  is not lost (a bare ``AsyncLimiter(1, P/N)`` restarts its interval from each
  late acquisition and drifts below the rate: bench/limiters.py);
* never more than ``count`` in any window of ``period`` (plus the margin),
  checked against the last ``count`` starts, which are seeded from the
  database at start-up so that a restart cannot double the rate (the library
  starts empty in every new process);
* paused and slowed after a rate-limit answer, recovering step by step;
* a last check on the times requests really left: a process starved of CPU
  wakes up late, and a slot booked against an earlier slot's *planned* time
  would then follow that request too closely (the server counts arrivals).

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
from typing import Any, cast

from aiolimiter import AsyncLimiter

from runner.core.clock import Ticks

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

# The share of an interval a late wake-up may be credited with (see Pacer._gate).
MAX_LATENESS_CREDIT = 0.5
# The library's interval is this much shorter than the pacer's, so that slots booked
# exactly one interval apart never wait on float rounding; the margin above covers it.
_SPACER_SLACK = 1e-6

Sleep = Callable[[float], Awaitable[None]]


class _ClockLoop:
    """What AsyncLimiter asks of its event loop, on the pacer's clock and sleep.

    AsyncLimiter reads the time and sets its timers on the running loop; the
    pacer's clock is injected (tests run the drain on a fake one), so the limiter
    must see that clock, or it would space requests on another time line.
    """

    def __init__(self, clock: Ticks, sleep: Sleep) -> None:
        self._clock = clock
        self._sleep = sleep

    def time(self) -> float:
        return self._clock()

    def is_closed(self) -> bool:
        return False

    def create_future(self) -> asyncio.Future[None]:
        return asyncio.get_running_loop().create_future()

    def call_soon(self, callback: Callable[..., object], *args: Any) -> asyncio.Handle:
        return asyncio.get_running_loop().call_soon(callback, *args)

    def call_at(self, when: float, callback: Callable[[], object]) -> asyncio.Task[None]:
        """A timer: a task (which ``cancel()`` stops, as a TimerHandle)."""
        return asyncio.get_running_loop().create_task(self._at(when, callback))

    async def _at(self, when: float, callback: Callable[[], object]) -> None:
        await self._sleep(when - self._clock())
        if self._clock() < when:
            # The injected sleep was cut short (a shutdown): the loop's own timer then,
            # not a spin on a sleep that keeps returning at once.
            await asyncio.sleep(when - self._clock())
        callback()


class _Spacer(AsyncLimiter):
    """``AsyncLimiter(1, interval)``: one request per interval, never a burst."""

    def __init__(self, interval: float, loop: _ClockLoop) -> None:
        super().__init__(1, interval * (1.0 - _SPACER_SLACK))
        self._clock_loop = loop

    @property
    def _loop(self) -> asyncio.AbstractEventLoop:
        return cast(asyncio.AbstractEventLoop, self._clock_loop)


class Departure:
    """When one request really left: noted when the pacer lets it go, then moved to the
    moment its bytes are handed to the socket, if the sender says so (:meth:`sent`).

    A process starved of CPU between the two would otherwise count the request as gone
    earlier than the server saw it arrive, and let the request a window later go too
    soon (measured: 1 or 2 × 429 in 52,000 requests of two workers on a saturated
    2-core host).
    """

    __slots__ = ("_clock", "at")

    def __init__(self, at: float, clock: Ticks) -> None:
        self.at = at
        self._clock = clock

    def sent(self) -> None:
        """The request is being written to the socket now."""
        self.at = max(self.at, self._clock())


class Pacer:
    """Start times for at most ``count`` requests in any ``period`` seconds."""

    def __init__(
        self,
        count: int,
        period: float,
        *,
        history: Iterable[float] = (),
        clock: Ticks = time.monotonic,
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
        self._departures: deque[Departure] = deque(maxlen=count)  # when requests really left
        self._next = float("-inf")
        self._paused_until = float("-inf")
        self._slowdown = 1.0
        self._spacer = _Spacer(self.interval, _ClockLoop(clock, sleep))
        self.remember(history)

    def remember(self, starts: Iterable[float]) -> None:
        """Count earlier starts (e.g. a previous run's, read from the database)."""
        starts = list(starts)
        merged = sorted([*self._starts, *starts])
        self._starts.clear()
        self._starts.extend(merged)  # the deque's maxlen drops the earliest
        earlier = [Departure(start, self._clock) for start in starts]
        departures = sorted([*self._departures, *earlier], key=lambda departure: departure.at)
        self._departures.clear()
        self._departures.extend(departures)
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

    async def wait(self, slot: float) -> Departure | None:
        """Sleep until ``slot``; the request's departure, or None if the slot may no
        longer be used.

        A usable slot then passes the library's spacer. A slot is unusable when a
        pause was imposed while we slept (a 429 seen by
        another worker: the caller reserves again; the slot it held stays
        booked, which only errs on the slow side), or when the injected
        ``sleep`` returned early to abort the wait (a shutdown).
        """
        delay = slot - self._clock()
        if delay > 0:
            await self._sleep(delay)
            if self._clock() < slot:
                return None
        if self._paused_until > slot:
            return None
        await self._gate(slot)
        return await self._depart()

    async def _gate(self, slot: float) -> None:
        """The library's spacing, just before the request leaves.

        AsyncLimiter spaces acquisitions from the moment each one happened, so a
        wake-up late by d would push every later request by d (measured: a mean
        lateness of 22 ms after 100 requests at 50/2.5 s, and 97 % of the rate).
        The lateness is credited instead: the acquisition takes 1 - d / interval
        of the bucket, so it empties one interval after the *slot*. At most
        MAX_LATENESS_CREDIT is credited, so a very late request and the next one
        are still half an interval apart.
        """
        late = max(0.0, self._clock() - slot) / self.interval
        await self._spacer.acquire(1.0 - min(late, MAX_LATENESS_CREDIT))

    async def _depart(self) -> Departure | None:
        """Wait until no more than ``count`` requests really left in the last window
        and note this one's departure; None if the injected sleep was cut short.

        Slots keep the window against *planned* starts. A process that got no CPU
        for longer than the margin (a loaded host) sends a slot late, and the slot
        a window after it, booked on time, would then leave less than a window after
        that request really did: count + 1 in the server's window. Only then does
        this wait; at the normal pace it never does. The oldest departure counted may
        have been written after a later one (:meth:`Departure.sent`): waiting for it
        errs on the slow side.
        """
        if len(self._departures) == self.count:
            free_at = self._departures[0].at + self.window
            if free_at > self._clock():
                await self._sleep(free_at - self._clock())
                if self._clock() < free_at:
                    return None
        departure = Departure(self._clock(), self._clock)
        self._departures.append(departure)
        return departure

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
