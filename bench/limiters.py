"""Three pacers against the same strict sliding window.

``aiolimiter.AsyncLimiter(N, P)`` is a leaky bucket that starts empty: it lets N
requests through at once, then one every P / N seconds, so up to 2N - 1 leave in
the first window, and again after every idle gap (aiolimiter issue #240).
The product's configuration, ``runner.sending.limiter.Pacer(N, P)``, books slots a margin
more than P / N apart against absolute times and passes every request through
``AsyncLimiter(1, interval)``; "today's Pacer" (before issue 17) is the same
booking without the library. Each drives plain aiohttp DELETEs against a fresh
``runner sandbox --rate-limit N/P`` (429 past N in any window), one task per slot
so that the limiter is the only gate, and none slows down after a 429: this
measures the pacing alone (the runner also pauses on a 429).
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

import aiohttp
from aiolimiter import AsyncLimiter
from cases import Context, Figure
from common import API_KEY, USER

from runner.sending.limiter import Pacer
from runner.testing import acquire

PATH = "/ca_apis/deleteCampaignData"
HEADERS = {"apiKey": API_KEY, "Content-Type": "application/json"}
# The idle gap before the second burst, in periods: longer than one, so that the
# bucket is empty again and the sandbox's window holds nothing from before.
GAP_PERIODS = 1.2

Acquire = Callable[[], Awaitable[object]]


def pacers(count: int, period: float) -> dict[str, tuple[str, Callable[[], Acquire]]]:
    """Folder name -> (label, factory); each is built inside its own event loop."""
    return {
        "aiolimiter-burst": (
            f"AsyncLimiter({count}, {period:g})",
            lambda: AsyncLimiter(count, period).acquire,
        ),
        "pacer": (
            f"runner Pacer({count}, {period:g})",
            lambda: functools.partial(acquire, Pacer(count, period)),
        ),
        "pacer-before": (
            f"Pacer before #17 ({count}, {period:g})",
            lambda: functools.partial(acquire, BookingOnly(count, period)),
        ),
    }


class BookingOnly(Pacer):
    """Today's Pacer before issue 17: the same slots, no aiolimiter on the path."""

    async def _gate(self, slot: float) -> None:
        return None


@dataclass(frozen=True)
class Sent:
    at: float  # time.monotonic() as the request left
    status: int


async def drive(
    make: Callable[[], Acquire], url: str, phases: list[tuple[float, float]]
) -> list[Sent]:
    """For each (idle seconds, sending seconds): wait, then send whenever the limiter lets us."""
    acquire = make()
    sent: list[Sent] = []
    numbers: Iterator[int] = itertools.count(9_800_000_000)
    connector = aiohttp.TCPConnector(limit=0)  # no pool limit: the limiter is the only gate
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def send(number: int) -> None:
            body = {"campaignName": "Sales", "phoneNumber": str(number), "userName": USER}
            at = time.monotonic()
            async with session.delete(url + PATH, data=json.dumps(body), headers=HEADERS) as answer:
                await answer.read()
                sent.append(Sent(at, answer.status))

        tasks: list[asyncio.Task[None]] = []
        for idle, seconds in phases:
            await asyncio.sleep(idle)
            deadline = time.monotonic() + seconds
            while True:
                await acquire()
                if time.monotonic() >= deadline:
                    break
                tasks.append(asyncio.create_task(send(next(numbers))))
        await asyncio.gather(*tasks)
    return sent


def peak_in_window(times: list[float], period: float) -> int:
    """The most of ``times`` in any window of ``period``, closed at both ends as the sandbox's."""
    best = first = 0
    ordered = sorted(times)
    for last, at in enumerate(ordered):
        while at - ordered[first] > period:
            first += 1
        best = max(best, last - first + 1)
    return best


def bench_limiters(ctx: Context) -> list[Figure]:
    s = ctx.sizes
    count, period = s.limiter_count, s.limiter_period
    limit = f"{count}/{period:g}s"
    phases = [(0.0, 2 * period)] + [(GAP_PERIODS * period, period)] * (s.limiter_bursts - 1)
    sending = sum(seconds for _, seconds in phases)
    shape = f"{2 * period:g} s" + (
        f", then {period:g} s more after {GAP_PERIODS * period:g} s idle"
        if s.limiter_bursts > 1
        else ""
    )
    figures: list[Figure] = []
    summary: list[str] = []
    for folder, (label, make) in pacers(count, period).items():
        root = ctx.folder(f"limiters-{folder}")
        with ctx.sandbox(root, "--rate-limit", limit) as sandbox:
            ctx.log(f"{label} against a strict {limit} window: {shape}")
            sent = asyncio.run(drive(make, sandbox.url, phases))
            stats = sandbox.stats()
        if stats["invalid"] or stats["requests"] != len(sent):
            raise RuntimeError(f"{label}: the sandbox did not see the requests sent: {stats}")
        peak, limited = stats["max_in_window_overall"], stats["rate_limited"]
        answered = sum(1 for one in sent if one.status != 429)
        ratio = answered / sending / (count / period)
        released = peak_in_window([one.at for one in sent], period)
        is_pacer = folder.startswith("pacer")
        figures.append(
            Figure(
                f"{label} vs strict {limit} ({shape}): "
                "sandbox max in a window / 429s / answered ÷ rate",
                ratio,
                f"{peak} / {limited} / {ratio:.1%}",
                f"≤ {count} / 0 / ≥ 98 %" if is_pacer else "— (reference)",
                (peak <= count and limited == 0 and ratio >= 0.98) if is_pacer else None,
                f"released {len(sent)} requests, up to {released} in one {period:g} s window; "
                f"{answered} answered (not 429) in {sending:g} s of sending "
                f"= {answered / sending:.2f}/s vs {count / period:g}/s",
            )
        )
        summary.append(f"{label:<24} {peak:>6} {limited:>6} {released:>9} {ratio:>9.1%}")
    header = f"{'pacer':<24} {'max/w':>6} {'429s':>6} {'released':>9} {'sustained':>9}"
    ctx.log("\n".join(["limiters, sandbox " + limit, header, *summary]))
    return figures
