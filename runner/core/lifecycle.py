"""A run's lifecycle around the drain: the ``--limit`` budget, signals, and waiting helpers."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import signal
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from types import FrameType
from typing import Any, TypeVar

from runner.core.clock import Clock, SystemClock
from runner.core.logs import get_logger

T = TypeVar("T")
# SIGHUP (a closed terminal, a supervisor's "hang up") stops gracefully like SIGTERM.
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# After the first signal, requests still under way are abandoned (their records go
# back to pending) after this long, so a stop is bounded whatever timeout_seconds
# is: below systemd's TimeoutStopSec (90 s in examples/runner-worker.service).
STOP_DEADLINE_SECONDS = 20.0


class Budget:
    """The ``--limit`` count of requests, shared by every account of a run."""

    def __init__(self, limit: int | None) -> None:
        self.remaining = limit

    def take(self) -> bool:
        if self.remaining is None:
            return True
        if self.remaining <= 0:
            return False
        self.remaining -= 1
        return True

    def refund(self) -> None:
        if self.remaining is not None:
            self.remaining += 1

    @property
    def spent(self) -> bool:
        return self.remaining is not None and self.remaining <= 0


class Shutdown:
    """SIGINT/SIGTERM: the first stops claiming; the second abandons in-flight requests.

    A signal can arrive at any moment until the command returns its exit code, also
    after the event loop has stopped (``timeout -s INT`` signals the child and then
    its group, a few milliseconds apart). So besides the loop's handlers, a plain
    handler that only notes the signal stays installed from before the loop starts
    (:meth:`guard`) until the command has returned: no ``KeyboardInterrupt`` ever
    escapes into click, which would print "Aborted!" and exit 1.
    """

    def __init__(
        self, clock: Clock | None = None, deadline: float | None = STOP_DEADLINE_SECONDS
    ) -> None:
        self.clock = clock or SystemClock()
        self.requested = Flag()
        self.signum: int | None = None
        self.deadline = deadline
        self._on_force: list[Callable[[], None]] = []

    def request(self, signum: int) -> None:
        log = get_logger(signal=signal.Signals(signum).name)
        if self.requested.is_set():
            log.warning("abandoning_requests", hint="their records go back to pending")
            for abandon in self._on_force:
                abandon()
        else:
            log.warning(
                "stopping", hint="finishing the requests under way; signal again to abandon them",
                abandon_after_seconds=self.deadline,
            )  # fmt: skip
            self._arm_deadline()
        self.signum = self.signum or signum
        self.requested.set()

    def _arm_deadline(self) -> None:
        """Abandon what is still under way ``deadline`` seconds after the first signal."""
        if self.deadline is None:
            return
        with contextlib.suppress(RuntimeError):  # no running loop: nothing is under way
            asyncio.get_running_loop().call_later(self.deadline, self._force)

    def _force(self) -> None:
        get_logger().warning("abandoning_requests", after_seconds=self.deadline,
                             hint="their records go back to pending")  # fmt: skip
        for abandon in self._on_force:
            abandon()

    def stop(self) -> None:
        """Stop gracefully for a reason of this process's own (no signal)."""
        if not self.requested.is_set():
            self._arm_deadline()
        self.requested.set()

    def on_force(self, abandon: Callable[[], None]) -> None:
        """Call ``abandon`` on a second signal: the operator will not wait any longer."""
        self._on_force.append(abandon)

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in SIGNALS:
            loop.add_signal_handler(signum, self.request, signum)
        if self.signum is not None:  # a signal came while loading: stop before sending
            self.requested.set()

    def uninstall(self) -> None:
        """Hand signals back to the plain handler (asyncio would restore the default)."""
        loop = asyncio.get_running_loop()
        for signum in SIGNALS:
            loop.remove_signal_handler(signum)
            signal.signal(signum, self._late)

    def _late(self, signum: int, frame: FrameType | None) -> None:
        self.signum = self.signum or signum

    @contextlib.contextmanager
    def guard(self, restore: bool = True) -> Any:
        """Note signals with a plain handler for as long as the block runs.

        ``restore=False`` leaves the plain handler until the process exits: a signal
        arriving after the command decided its exit code cannot change it any more
        (the default SIGINT handler would end the process by the signal, status -2).
        """
        previous = {signum: signal.signal(signum, self._late) for signum in SIGNALS}
        try:
            yield self
        finally:
            for signum, handler in previous.items():
                if restore:
                    signal.signal(signum, handler)

    async def sleep(self, seconds: float) -> None:
        """Sleep, but wake at once when a shutdown is asked for."""
        if seconds > 0:
            await wait_any([self.requested], seconds, self.clock.sleep)

    async def unless_stopping(self, work: Awaitable[T]) -> T | None:
        """``work``'s result, or None (and ``work`` cancelled) if a shutdown comes first."""
        task = asyncio.ensure_future(work)
        stop = asyncio.ensure_future(self.requested.wait())
        try:
            await asyncio.wait([task, stop], return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if task.done():
            return task.result()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return None


async def finish_even_if_cancelled(work: Coroutine[Any, Any, None]) -> None:
    """Run ``work`` to its end even if we are cancelled meanwhile, then let the cancel go on.

    A bare ``asyncio.shield`` would let the work run on unawaited after the store
    is closed; here the cancelled task waits for it first.
    """
    task = asyncio.ensure_future(work)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await task
        raise


class Flag(asyncio.Event):
    """An :class:`asyncio.Event` that :func:`wait_any` watches without a task of its own.

    The drain waits on a few of these around every request (a slot's time, a stop, a
    settled answer); a task per event per wait was a fifth of the loop's work with a
    hundred accounts.
    """

    def __init__(self) -> None:
        super().__init__()
        self._watchers: set[asyncio.Future[None]] = set()

    def set(self) -> None:
        super().set()
        for watcher in self._watchers:
            _resolve(watcher)

    def watch(self, watcher: asyncio.Future[None]) -> None:
        """Resolve ``watcher`` when this flag is set (until :meth:`unwatch`)."""
        self._watchers.add(watcher)

    def unwatch(self, watcher: asyncio.Future[None]) -> None:
        self._watchers.discard(watcher)


def _resolve(future: asyncio.Future[None], *_: object) -> None:
    if not future.done():
        future.set_result(None)


async def wait_any(
    flags: Sequence[Flag],
    seconds: float,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Return when any of ``flags`` is set or ``seconds`` have passed (on ``sleep``'s clock)."""
    if any(flag.is_set() for flag in flags):
        await asyncio.sleep(0)  # still a turn of the loop, so a caller's loop never spins
        return
    woke: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    timer = asyncio.ensure_future(sleep(max(seconds, 0.0)))  # the injected clock's sleep
    timer.add_done_callback(functools.partial(_resolve, woke))
    for flag in flags:
        flag.watch(woke)
    try:
        await woke
    finally:
        timer.cancel()
        for flag in flags:
            flag.unwatch(woke)
