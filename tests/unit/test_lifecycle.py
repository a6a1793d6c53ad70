"""The run's lifecycle helpers: the --limit budget, signals, and waiting."""

from __future__ import annotations

import asyncio
import signal

import pytest
from fakes import FakeClock, eventually

from runner.core.lifecycle import (
    SIGNALS,
    Budget,
    Flag,
    Shutdown,
    finish_even_if_cancelled,
    wait_any,
)

# ---------------------------------------------------------------- Budget


def test_an_unlimited_budget_is_never_spent() -> None:
    budget = Budget(None)
    assert all(budget.take() for _ in range(10_000))
    assert not budget.spent
    budget.refund()
    assert budget.remaining is None


def test_a_budget_gives_exactly_its_limit() -> None:
    budget = Budget(3)
    assert [budget.take() for _ in range(5)] == [True, True, True, False, False]
    assert budget.spent and budget.remaining == 0


def test_a_refund_gives_the_request_back() -> None:
    budget = Budget(1)
    assert budget.take() and budget.spent
    budget.refund()
    assert not budget.spent
    assert budget.take() and not budget.take()


def test_a_zero_budget_sends_nothing() -> None:
    budget = Budget(0)
    assert budget.spent and not budget.take()


# ---------------------------------------------------------------- Shutdown


async def test_the_first_signal_asks_to_stop_the_second_forces() -> None:
    shutdown = Shutdown(clock=FakeClock())
    forced: list[str] = []
    shutdown.on_force(lambda: forced.append("a"))
    shutdown.on_force(lambda: forced.append("b"))
    assert not shutdown.requested.is_set()

    shutdown.request(signal.SIGTERM)
    assert shutdown.requested.is_set() and shutdown.signum == signal.SIGTERM
    assert forced == []

    shutdown.request(signal.SIGINT)
    assert forced == ["a", "b"]
    assert shutdown.signum == signal.SIGTERM  # the first signal decides the exit code

    shutdown.request(signal.SIGINT)
    assert forced == ["a", "b", "a", "b"]  # each further signal abandons again


async def test_unless_stopping_returns_the_result_when_the_work_finishes_first() -> None:
    shutdown = Shutdown(clock=FakeClock())

    async def work() -> str:
        await asyncio.sleep(0)
        return "done"

    assert await shutdown.unless_stopping(work()) == "done"


async def test_unless_stopping_cancels_the_work_when_a_shutdown_comes_first() -> None:
    clock = FakeClock()
    shutdown = Shutdown(clock=clock)
    cancelled = asyncio.Event()

    async def work() -> str:
        try:
            await clock.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "too late"

    task = asyncio.ensure_future(shutdown.unless_stopping(work()))
    await eventually(lambda: clock.sleeping > 0, clock, within=1.0, step=0.001)
    shutdown.request(signal.SIGINT)
    assert await task is None
    assert cancelled.is_set()
    assert clock.monotonic() < 10  # it did not wait for the work


async def test_unless_stopping_passes_the_works_exception_on() -> None:
    shutdown = Shutdown(clock=FakeClock())

    async def work() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        await shutdown.unless_stopping(work())


async def test_shutdown_sleep_sleeps_on_the_clock_and_wakes_at_a_request() -> None:
    clock = FakeClock()
    shutdown = Shutdown(clock=clock)
    await shutdown.sleep(120.0)
    assert clock.monotonic() == pytest.approx(120.0)

    sleeper = asyncio.ensure_future(shutdown.sleep(3600.0))
    await eventually(lambda: clock.sleeping > 0, clock, within=1.0, step=0.001)
    shutdown.request(signal.SIGINT)
    await sleeper
    assert clock.monotonic() < 130.0
    await shutdown.sleep(3600.0)  # once stopping, sleeps return at once
    assert clock.monotonic() < 130.0


async def test_a_signal_before_the_loop_handlers_is_not_lost() -> None:
    shutdown = Shutdown(clock=FakeClock())
    with shutdown.guard():
        signal.raise_signal(signal.SIGTERM)  # noted, not raised as an exception
        assert shutdown.signum == signal.SIGTERM
        assert not shutdown.requested.is_set()
        shutdown.install()
        try:
            assert shutdown.requested.is_set()  # loading saw the signal: stop before sending
        finally:
            shutdown.uninstall()


async def test_a_signal_during_the_run_requests_a_stop() -> None:
    clock = FakeClock()
    shutdown = Shutdown(clock=clock)
    with shutdown.guard():
        shutdown.install()
        try:
            signal.raise_signal(signal.SIGINT)  # no KeyboardInterrupt
            await eventually(shutdown.requested.is_set, clock, within=1.0, step=0.001)
        finally:
            shutdown.uninstall()
        signal.raise_signal(signal.SIGINT)  # after the loop's handlers: still no exception
    assert shutdown.signum == signal.SIGINT


# ---------------------------------------------------------------- helpers


async def test_wait_any_returns_at_the_first_event_or_the_timeout() -> None:
    clock = FakeClock()
    a, b = Flag(), Flag()
    await wait_any([a, b], 50.0, clock.sleep)
    assert clock.monotonic() == pytest.approx(50.0)

    waiter = asyncio.ensure_future(wait_any([a, b], 500.0, clock.sleep))
    await eventually(lambda: clock.sleeping > 0, clock, within=1.0, step=0.001)
    b.set()
    await waiter
    assert clock.monotonic() < 60.0
    assert clock.sleeping == 0  # the timer was cancelled, not left behind


async def test_wait_any_leaves_nothing_watching_its_flags() -> None:
    clock = FakeClock()
    flag = Flag()
    waiter = asyncio.ensure_future(wait_any([flag], 500.0, clock.sleep))
    await eventually(lambda: clock.sleeping > 0, clock, within=1.0, step=0.001)
    waiter.cancel()  # the caller is stopped while it waits
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert flag._watchers == set()
    await wait_any([flag], 1.0, clock.sleep)  # timed out: unwatched too
    assert flag._watchers == set()


async def test_wait_any_on_a_flag_already_set_returns_at_once() -> None:
    clock = FakeClock()
    flag = Flag()
    flag.set()
    await wait_any([flag], 500.0, clock.sleep)
    assert clock.monotonic() == 0.0


async def test_finish_even_if_cancelled_completes_the_work_then_cancels() -> None:
    clock = FakeClock()
    finished: list[bool] = []

    async def commit() -> None:
        await clock.sleep(5.0)
        finished.append(True)

    task = asyncio.ensure_future(finish_even_if_cancelled(commit()))
    await eventually(lambda: clock.sleeping > 0, clock, within=1.0, step=0.001)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert finished == [True]


# ---------------------------------------------------------------- after the exit code


def test_the_plain_handler_can_stay_until_the_process_exits() -> None:
    shutdown = Shutdown(clock=FakeClock())
    before = {signum: signal.getsignal(signum) for signum in SIGNALS}
    try:
        with shutdown.guard(restore=False):
            pass
        # The command has its exit code: a late SIGINT is noted, never a KeyboardInterrupt
        # (whose default handling would end the process by the signal, status -2).
        signal.raise_signal(signal.SIGINT)
        assert shutdown.signum == signal.SIGINT
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)


def test_sighup_is_one_of_the_stopping_signals() -> None:
    assert signal.SIGHUP in SIGNALS


async def test_the_second_deadline_abandons_what_is_under_way() -> None:
    shutdown = Shutdown(clock=FakeClock(), deadline=0.01)
    abandoned = asyncio.Event()
    shutdown.on_force(abandoned.set)
    shutdown.request(signal.SIGTERM)
    assert not abandoned.is_set()  # the first signal only stops claiming
    await asyncio.wait_for(abandoned.wait(), 10)  # a guard against a hang, not a timing claim


async def test_without_a_deadline_only_a_second_signal_abandons() -> None:
    shutdown = Shutdown(clock=FakeClock(), deadline=None)
    abandoned: list[bool] = []
    shutdown.on_force(lambda: abandoned.append(True))
    shutdown.request(signal.SIGTERM)
    await asyncio.sleep(0)
    assert abandoned == []
    shutdown.request(signal.SIGTERM)
    assert abandoned == [True]
