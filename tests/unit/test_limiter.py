"""The pacer's promises, checked on the start times it hands out (no wall clock)."""

from __future__ import annotations

import asyncio
import bisect
import itertools
import time

import pytest
from aiolimiter import AsyncLimiter

from runner.sending.limiter import MAX_SLOWDOWN, RECOVERY_STEP, Pacer, _ClockLoop
from runner.testing import acquire


class FakeClock:
    """Time that moves only when someone sleeps, and always forward."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(seconds, 1e-9)


def most_in_window(times: list[float], period: float) -> int:
    """The most starts in any closed window [t, t + period] (both ends count)."""
    times = sorted(times)
    return max(bisect.bisect_right(times, t + period) - i for i, t in enumerate(times))


def slots(pacer: Pacer, n: int) -> list[float]:
    return [pacer.reserve() for _ in range(n)]


def test_no_start_up_burst() -> None:
    clock = FakeClock()
    times = slots(Pacer(100, 60.0, clock=clock), 300)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 0.6  # evenly spaced from the first request
    assert most_in_window(times, 60.0) <= 100


def test_sustains_at_least_99_percent() -> None:
    clock = FakeClock()
    times = slots(Pacer(100, 60.0, clock=clock), 1001)
    rate = 1000 / (times[-1] - times[0]) * 60.0
    assert 99.0 <= rate <= 100.0


def test_history_from_a_previous_run_is_respected() -> None:
    clock = FakeClock(start=1000.0)
    # A burst of 100 requests in the second before we started (say, an old version).
    history = [999.0 + i / 100 for i in range(100)]
    times = slots(Pacer(100, 60.0, history=history, clock=clock), 200)
    assert times[0] >= history[0] + 60.0
    assert most_in_window(history + times, 60.0) <= 100


def test_evenly_spaced_history_continues_without_a_gap() -> None:
    clock = FakeClock(start=1000.0)
    pacer = Pacer(10, 10.0, clock=clock)
    first = slots(pacer, 10)
    clock.now = first[-1]
    restarted = Pacer(10, 10.0, history=first, clock=clock)
    nxt = restarted.reserve()
    assert nxt == pytest.approx(first[-1] + (first[1] - first[0]))
    assert most_in_window([*first, nxt, *slots(restarted, 30)], 10.0) <= 10


def test_only_the_last_count_starts_of_history_matter() -> None:
    clock = FakeClock(start=0.0)
    pacer = Pacer(2, 10.0, history=[-100.0, -50.0, -9.0, -8.0], clock=clock)
    assert pacer.reserve() >= -9.0 + 10.0


async def test_acquire_sleeps_until_the_slot() -> None:
    clock = FakeClock()
    pacer = Pacer(10, 1.0, clock=clock, sleep=clock.sleep)
    times = [await acquire(pacer) for _ in range(5)]
    assert times[0] == 1000.0  # the first request goes at once
    assert clock.now == pytest.approx(times[-1])
    assert all(s == pytest.approx(pacer.window / 10) for s in clock.sleeps)
    assert pacer.window == pytest.approx(1.05)  # the 50 ms floor of the margin


async def test_pause_holds_everything_then_slows_and_recovers() -> None:
    clock = FakeClock()
    pacer = Pacer(10, 1.0, clock=clock, sleep=clock.sleep)
    await acquire(pacer)
    pacer.pause(5.0)
    resumed = await acquire(pacer)
    assert resumed >= 1005.0
    assert pacer.slowdown == 2.0
    after = await acquire(pacer)
    assert after - resumed == pytest.approx(2 * pacer.window / 10)
    for _ in range(50):
        pacer.recover()
    assert pacer.slowdown == 1.0


def test_slowdown_is_capped() -> None:
    pacer = Pacer(10, 1.0, clock=FakeClock())
    for _ in range(20):
        pacer.pause(0.0)
    assert pacer.slowdown == MAX_SLOWDOWN


async def test_a_pause_during_a_wait_sends_the_waiter_back() -> None:
    clock = FakeClock()
    pacer = Pacer(1, 1.0, clock=clock)

    async def sleep_then_429(seconds: float) -> None:
        await clock.sleep(seconds)
        if len(clock.sleeps) == 1:
            pacer.pause(30.0)  # another worker saw a 429 while we slept

    pacer._sleep = sleep_then_429
    pacer.reserve()
    slot = await acquire(pacer)
    assert slot >= 1000.0 + 30.0


async def test_wait_refuses_a_slot_overtaken_by_a_pause() -> None:
    clock = FakeClock()
    pacer = Pacer(1, 1.0, clock=clock, sleep=clock.sleep)
    pacer.reserve()
    slot = pacer.reserve()
    pacer.pause(30.0)
    assert await pacer.wait(slot) is None


async def test_wait_refuses_a_slot_when_woken_early() -> None:
    clock = FakeClock()

    async def interrupted(seconds: float) -> None:
        clock.now += seconds / 2  # a shutdown cut the sleep short

    pacer = Pacer(1, 1.0, clock=clock, sleep=interrupted)
    pacer.reserve()
    assert await pacer.wait(pacer.reserve()) is None


def test_remember_merges_history_and_keeps_the_latest() -> None:
    clock = FakeClock(start=100.0)
    pacer = Pacer(3, 10.0, history=[91.0, 93.0], clock=clock)
    pacer.remember([92.0, 50.0])  # 50.0 is older than the last 3 and is dropped
    assert pacer.reserve() == pytest.approx(91.0 + pacer.window)


def test_rejects_a_meaningless_rate() -> None:
    with pytest.raises(ValueError):
        Pacer(0, 60.0)


# ---------------------------------------------------------------- the library on the path


async def test_every_request_passes_aiolimiter_one_slot_per_interval() -> None:
    clock = FakeClock()
    pacer = Pacer(10, 1.0, clock=clock, sleep=clock.sleep)
    spacer = pacer._spacer
    assert isinstance(spacer, AsyncLimiter)
    assert spacer.max_rate == 1  # one slot per interval: it cannot burst
    assert spacer.time_period == pytest.approx(pacer.interval, rel=1e-5)
    slot = pacer.reserve()
    assert await pacer.wait(slot)
    before = clock.now
    # A caller that used a slot twice (a bug): the library still spaces the two starts.
    assert await pacer.wait(slot)
    assert clock.now - before == pytest.approx(pacer.interval, rel=1e-5)


async def test_evenly_booked_slots_never_wait_on_the_library() -> None:
    clock = FakeClock()
    pacer = Pacer(100, 60.0, clock=clock, sleep=clock.sleep)
    times = [await acquire(pacer) for _ in range(50)]
    # One sleep per slot, each the pacer's interval: the library added no wait of its own.
    assert len(clock.sleeps) == 49
    assert all(s == pytest.approx(pacer.interval) for s in clock.sleeps)
    assert times[-1] - times[0] == pytest.approx(49 * pacer.interval)


async def test_a_late_wake_up_is_credited_not_carried_into_the_next_start() -> None:
    """A bare AsyncLimiter(1, interval) spaces from each acquisition, so one late wake-up
    delays every later request; the pacer credits the lateness and stays on its slots."""
    clock = FakeClock()
    pacer = Pacer(10, 1.0, clock=clock, sleep=clock.sleep)
    first = pacer.reserve()
    clock.now = first + 0.3 * pacer.interval  # the worker woke up late
    assert await pacer.wait(first)
    second = pacer.reserve()
    assert second == pytest.approx(first + pacer.interval)
    assert await pacer.wait(second)
    assert clock.now == pytest.approx(second, abs=1e-6)  # not first + 1.3 intervals


async def test_a_very_late_request_and_the_next_stay_half_an_interval_apart() -> None:
    clock = FakeClock()
    pacer = Pacer(10, 1.0, clock=clock, sleep=clock.sleep)
    first = pacer.reserve()
    clock.now = first + 3 * pacer.interval  # far behind: the next slot is already past
    assert await pacer.wait(first)
    sent = clock.now
    assert await pacer.wait(pacer.reserve())
    assert clock.now - sent == pytest.approx(0.5 * pacer.interval, rel=1e-3)


async def test_a_request_sent_late_holds_the_window_from_when_it_really_left() -> None:
    """A starved process sends its first slot late; the slot a window after it, booked
    against the planned time, must wait until a window after the real departure."""
    clock = FakeClock()
    pacer = Pacer(3, 1.0, clock=clock, sleep=clock.sleep)
    departures = []
    for late in (0.3, 0.0, 0.0, 0.0):
        slot = pacer.reserve()
        clock.now = max(clock.now, slot + late)
        assert await pacer.wait(slot)
        departures.append(clock.now)
    assert departures[3] >= departures[0] + pacer.window
    assert most_in_window(departures, 1.0) <= 3


async def test_a_request_written_late_holds_the_window_from_when_it_was_written() -> None:
    """Let go on time, then starved before its bytes reach the socket: the request a
    window later must wait for a window after the write, which the sender reports."""
    clock = FakeClock()
    pacer = Pacer(3, 1.0, clock=clock, sleep=clock.sleep)
    written = []
    for starved in (0.3, 0.0, 0.0, 0.0):
        departure = await pacer.wait(pacer.reserve())
        assert departure is not None
        clock.now += starved  # between the pacer and the socket
        departure.sent()
        written.append(clock.now)
    assert written[3] >= written[0] + pacer.window
    assert most_in_window(written, 1.0) <= 3


async def test_a_departure_never_moves_earlier() -> None:
    clock = FakeClock()
    pacer = Pacer(3, 1.0, clock=clock, sleep=clock.sleep)
    departure = await pacer.wait(pacer.reserve())
    assert departure is not None
    at = departure.at
    clock.now -= 5.0  # a clock that went back must not make the request leave earlier
    departure.sent()
    assert departure.at == at


async def test_on_time_requests_never_wait_for_their_departures() -> None:
    clock = FakeClock()
    pacer = Pacer(3, 1.0, clock=clock, sleep=clock.sleep)
    for _ in range(9):
        slot = pacer.reserve()
        assert await pacer.wait(slot)
        assert clock.now == pytest.approx(slot, abs=1e-6)


async def test_a_departure_wait_cut_short_gives_the_slot_back() -> None:
    clock = FakeClock()
    pacer = Pacer(2, 1.0, clock=clock, sleep=clock.sleep)
    first = pacer.reserve()
    clock.now = first + 0.5  # sent late
    assert await pacer.wait(first)
    assert await pacer.wait(pacer.reserve())

    async def cut_short(seconds: float) -> None:  # a shutdown: sleep returns at once
        clock.sleeps.append(seconds)

    pacer._sleep = cut_short
    third = pacer.reserve()
    clock.now = third  # its slot has come; the late first left less than a window ago
    assert not await pacer.wait(third)


# ---------------------------------------------------------------- recovery and history


async def test_recovery_after_a_429_is_gradual() -> None:
    """After a pause the pace comes back step by step, not at once: each request that
    goes through shortens the gap a little, and full speed takes several of them."""
    clock = FakeClock()
    pacer = Pacer(10, 1.0, clock=clock, sleep=clock.sleep)
    await acquire(pacer)
    pacer.pause(1.0)
    previous = await acquire(pacer)
    gaps = []
    for _ in range(10):
        pacer.recover()
        slot = await acquire(pacer)
        gaps.append(slot - previous)
        previous = slot
    full = pacer.interval
    # The slot after the first recovery was booked at the doubled pace; the next ones
    # take one step back each, not all of it at once.
    assert gaps[0] == pytest.approx(2 * full)
    assert gaps[1] == pytest.approx(2 * full * RECOVERY_STEP)
    assert all(b < a for a, b in itertools.pairwise(gaps[:6]))  # shrinking, step by step
    assert all(gap > full * 1.01 for gap in gaps[:6])  # still slower than full speed
    assert gaps[-1] == pytest.approx(full)  # and full speed in the end


def test_the_next_slot_follows_the_last_remembered_start() -> None:
    """History shorter than the window's count still spaces the first new start from the
    last old one (the window check alone would let it go at once)."""
    clock = FakeClock(start=100.0)
    pacer = Pacer(10, 10.0, history=[99.5], clock=clock)
    assert pacer.reserve() == pytest.approx(99.5 + pacer.interval)
    later = Pacer(10, 10.0, clock=clock)
    later.remember([99.9, 99.2])  # unordered: the latest counts
    assert later.reserve() == pytest.approx(99.9 + later.interval)


# ---------------------------------------------------------------- found by mutation testing


def test_a_rate_needs_a_positive_period_and_says_so() -> None:
    for count, period in [(0, 60.0), (1, 0.0), (1, -1.0)]:
        with pytest.raises(ValueError, match=r"^a rate needs count >= 1 and period > 0$"):
            Pacer(count, period)


def test_the_pacer_shows_its_rate_and_spacing() -> None:
    pacer = Pacer(100, 60.0)
    assert (pacer.count, pacer.period) == (100, 60.0)
    assert pacer.window == pytest.approx(60.3)
    assert pacer.interval == pytest.approx(0.603)


def test_uneven_history_holds_every_start_to_the_window_not_just_the_first() -> None:
    """One old start, then a burst: after the old one leaves the window, each new start
    must wait for the burst's starts to leave too, not only follow the spacing."""
    clock = FakeClock(start=51.0)
    history = [0.0] + [50.0 + i * 0.001 for i in range(99)]
    pacer = Pacer(100, 60.0, history=history, clock=clock)
    new = slots(pacer, 100)
    assert new[0] == pytest.approx(pacer.window)  # the old start's window
    assert new[1] >= 50.0 + pacer.window  # the burst's, not new[0] + interval
    assert most_in_window(history + new, 60.0) <= 100


async def test_concurrent_waiters_on_the_library_raise_nothing_in_the_loop() -> None:
    """Three requests at one slot (a bug upstream) queue on AsyncLimiter, which wakes
    the next through the pacer's loop (``call_soon``): every one leaves, an interval
    apart, and the event loop reports no error in a callback."""
    errors: list[dict[str, object]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _loop, context: errors.append(context))
    clock = FakeClock()
    pacer = Pacer(10, 1.0, clock=clock, sleep=clock.sleep)
    slot = pacer.reserve()
    sent: list[float] = []

    async def send() -> None:
        assert await pacer.wait(slot)
        sent.append(clock.now)

    await asyncio.wait_for(asyncio.gather(send(), send(), send()), timeout=30)
    await asyncio.sleep(0)  # let pending callbacks run
    assert errors == []
    assert [b - a for a, b in itertools.pairwise(sent)] == pytest.approx(
        [pacer.interval] * 2, rel=1e-3
    )


async def test_a_library_timer_cut_short_still_fires_on_time_not_early() -> None:
    """When the injected sleep returns early (a shutdown), the library's timer falls back
    on the loop's own sleep: its callback runs, and not before its time."""

    async def cut_short(_seconds: float) -> None:
        return None

    loop = _ClockLoop(time.monotonic, cut_short)
    fired: list[float] = []
    when = time.monotonic() + 0.02
    await asyncio.wait_for(loop.call_at(when, lambda: fired.append(time.monotonic())), timeout=30)
    # The loop may wake a timer up to its clock resolution early: a millisecond is plenty.
    assert len(fired) == 1 and fired[0] >= when - 1e-3
