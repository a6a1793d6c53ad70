"""Shared test doubles: a virtual clock, JWTs, and a scripted sender.

:class:`FakeClock` implements :class:`runner.core.clock.Clock` on virtual time. A
sleeper waits on a future until the clock reaches its deadline; the clock moves
only when the event loop has nothing else to do (every task is blocked), and then
jumps straight to the earliest deadline. So concurrent sleepers do not add up
their sleeps, work that is ready always runs before time moves, and a test of a
five-minute pause takes milliseconds. ``advance`` moves the clock by hand.
"""

from __future__ import annotations

import asyncio
import base64
import heapq
import itertools
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from runner.core import protocol
from runner.sending.classify import classify
from runner.sending.client import Reply

EPOCH = 1_800_000_000.0  # what time() says at monotonic() == 0: 2027-01-15
# A sleeper wakes this much after its deadline, as real sleeps do: ``t + (d - t)`` can
# round one ulp below ``d``, and code that checks "is it time yet?" after a sleep must
# not see a wake-up a hair too early.
OVERSHOOT = 1e-9
# The loop turns the driver waits for calm before moving the clock at all; a guard
# against a test whose tasks never block (it fails instead of spinning forever).
MAX_BUSY_TURNS = 100_000


class FakeClock:
    """Virtual wall and monotonic time; ``sleep`` waits for the clock to get there."""

    def __init__(self, start: float = 0.0, epoch: float = EPOCH) -> None:
        self.now = start
        self.epoch = epoch
        self.sleeps: list[float] = []  # every requested sleep, in order
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._driver: asyncio.Task[None] | None = None

    # -- the Clock protocol ------------------------------------------------

    def time(self) -> float:
        return self.epoch + self.now

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        loop = asyncio.get_running_loop()
        wake: asyncio.Future[None] = loop.create_future()
        heapq.heappush(self._sleepers, (self.now + seconds + OVERSHOOT, next(self._order), wake))
        if self._driver is None or self._driver.done():
            self._driver = loop.create_task(self._drive())
        await wake

    # -- by hand -----------------------------------------------------------

    def advance(self, seconds: float) -> None:
        """Move the clock forward, waking every sleeper whose deadline passed."""
        self.now += seconds
        self._wake_due()

    @property
    def sleeping(self) -> int:
        """Sleepers still waiting (cancelled ones excluded)."""
        return sum(1 for _, _, wake in self._sleepers if not wake.done())

    # -- internals ---------------------------------------------------------

    def _wake_due(self) -> None:
        while self._sleepers and (self._sleepers[0][0] <= self.now or self._sleepers[0][2].done()):
            _, _, wake = heapq.heappop(self._sleepers)
            if not wake.done():
                wake.set_result(None)

    async def _drive(self) -> None:
        """Jump to the next deadline whenever nothing else in the loop can run."""
        loop = asyncio.get_running_loop()
        busy = 0
        while True:
            await asyncio.sleep(0)
            self._wake_due()  # drops cancelled sleepers from the top
            if not self._sleepers:
                return
            if _loop_is_busy(loop):
                busy += 1
                if busy > MAX_BUSY_TURNS:
                    # Fail the sleepers, so the test sees it (one FakeClock per loop: two
                    # drivers would each keep the loop busy for the other).
                    error = RuntimeError("FakeClock: the event loop never went idle")
                    for _, _, wake in self._sleepers:
                        if not wake.done():
                            wake.set_exception(error)
                    self._sleepers.clear()
                    return
                continue
            busy = 0
            self.now = max(self.now, self._sleepers[0][0])
            self._wake_due()


def _loop_is_busy(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether callbacks other than ours are ready to run (tasks not blocked)."""
    ready = getattr(loop, "_ready", None)
    return bool(ready)


async def eventually(
    condition: Callable[[], bool], clock: FakeClock, *, within: float = 3600.0, step: float = 0.01
) -> None:
    """Wait (on the fake clock) until ``condition`` holds; fail after ``within`` fake seconds."""
    deadline = clock.monotonic() + within
    while not condition():
        if clock.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within} fake seconds")
        await clock.sleep(step)


# -- JWTs -------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_jwt(claims: dict[str, Any] | None = None, *, raw_payload: str | None = None) -> str:
    """A JWT-shaped token (unsigned: only its payload is ever read)."""
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = raw_payload if raw_payload is not None else b64url(json.dumps(claims or {}).encode())
    return f"{header}.{payload}.{b64url(b'signature')}"


# -- a scripted sender --------------------------------------------------------


def reply_for(answer: tuple[str, str], http_status: int = 200, **options: Any) -> Reply:
    """The reply the client gives for a documented answer."""
    body = protocol.response_body(answer)
    token_auth = bool(options.pop("token_auth", False))
    return Reply(classify(http_status, body, token_auth=token_auth), http_status, body, **options)


def http_reply(http_status: int, body: str = "", **options: Any) -> Reply:
    token_auth = bool(options.pop("token_auth", False))
    return Reply(classify(http_status, body, token_auth=token_auth), http_status, body, **options)


DELETED = reply_for(protocol.DELETED)
NOT_FOUND = reply_for(protocol.NOT_FOUND)
SERVER_ERROR = http_reply(503, "<html>503</html>")


@dataclass(frozen=True)
class Call:
    campaign: str
    phone: str
    name: str | None
    token: str | None
    at: float  # the fake wall time the request left


Script = Callable[[Call, int], Reply | Awaitable[Reply]]


@dataclass
class FakeSender:
    """A :class:`runner.sending.client.Sender` answering what ``script(call, n)`` says, where ``n``
    counts the calls for that phone so far (0 for the first)."""

    clock: FakeClock
    script: Script = field(default=lambda call, n: DELETED)
    calls: list[Call] = field(default_factory=list)

    async def delete(
        self, campaign: str, phone: str, name: str | None = None, *,
        token: str | None = None, sent: Callable[[], None] | None = None,
    ) -> Reply:  # fmt: skip
        if sent is not None:
            sent()  # written at once, on the fake clock
        call = Call(campaign, phone, name, token, self.clock.time())
        n = sum(1 for earlier in self.calls if earlier.phone == phone)
        self.calls.append(call)
        answer = self.script(call, n)
        if isinstance(answer, Reply):
            await asyncio.sleep(0)  # a real request yields to the loop at least once
            return answer
        return await answer

    def sent(self, phone: str) -> list[Call]:
        return [call for call in self.calls if call.phone == phone]
