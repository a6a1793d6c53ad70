"""The time as the drain, the pacer and the token provider see it: injected, so tests control it.

Wall time (``time``) stamps what is written and compares with a token's expiry;
monotonic time (``monotonic``) spaces requests, immune to clock steps.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

# One reading of one clock (``time.monotonic``, or a fake's): what the pacer and the
# sandbox take; :class:`Clock` is the drain's pair of clocks and its sleep.
Ticks = Callable[[], float]


class Clock(Protocol):
    def time(self) -> float:
        """Wall-clock seconds since the epoch."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clocks."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def iso_ms(timestamp: float | None) -> str | None:
    """ISO 8601 in UTC with milliseconds and offset (the one format of logs and status), or
    None."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")
