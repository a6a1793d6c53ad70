"""The rate notation of jobs.yaml and the CLI: ``100/min``, ``5/s``, ``10/h``, ``1/2s``...

Kept free of pydantic and yaml so that the sandbox, the limiter and the CLI can use
it without importing the configuration machinery.

Bounds: a rate counts 1 to :data:`MAX_COUNT` requests in a period of at most
:data:`MAX_PERIOD_SECONDS`, and allows at most :data:`MAX_PER_SECOND` requests a
second. The vendor allows 100/min; the ceiling is far above it (the benchmarks use
``100000/s`` to mean "no limit") and only keeps absurd values such as ``1e23/s`` from
reaching the pacer's arithmetic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

MAX_COUNT: Final = 1_000_000
MAX_PER_SECOND: Final = 100_000
MAX_PERIOD_SECONDS: Final = 86_400.0  # one day
_BOUNDS: Final = (
    f"the count must be 1 to {MAX_COUNT:,}, the period at most 24 h and the rate "
    f"at most {MAX_PER_SECOND:,}/s"
)
# Digits of a count that can be in bounds (zeros in front aside): int() of
# thousands of digits is slow, and refused past 4300.
_MAX_DIGITS: Final = 12
# Characters of the operator's text quoted back in a message.
_QUOTE_LIMIT: Final = 40

_UNIT_SECONDS: Final = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1.0),
    **dict.fromkeys(("min", "mins", "minute", "minutes"), 60.0),
    **dict.fromkeys(("h", "hr", "hour", "hours"), 3600.0),
}
_UNIT_NAMES: Final = {1.0: "s", 60.0: "min", 3600.0: "h"}
# "100/min", "5/s", "1/2s", "3/0.5s", "100 / 1 hour".
_RATE: Final = re.compile(r"\s*(\d+)\s*/\s*(\d+(?:\.\d*)?|\.\d+)?\s*([a-z]+)\s*", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``count`` requests start in any window of ``period_seconds``."""

    count: int
    period_seconds: float

    def __post_init__(self) -> None:
        if self.count <= 0 or not 0 < self.period_seconds < float("inf"):
            raise ValueError(
                f"rate limit {self.count}/{self.period_seconds}s must allow at least "
                "1 request in a positive period"
            )
        if not within_bounds(self.count, self.period_seconds):
            raise ValueError(f"rate limit {self}: {_BOUNDS}")

    def __str__(self) -> str:
        """The notation of jobs.yaml, so messages show what the operator wrote."""
        unit = _UNIT_NAMES.get(self.period_seconds)
        if unit is not None:
            return f"{self.count}/{unit}"
        period = self.period_seconds
        return f"{self.count}/{int(period) if period.is_integer() else period}s"


def within_bounds(count: int, period_seconds: float) -> bool:
    """True when ``count`` per ``period_seconds`` is a rate the runner accepts."""
    return (
        1 <= count <= MAX_COUNT
        and 0 < period_seconds <= MAX_PERIOD_SECONDS
        and count <= MAX_PER_SECOND * period_seconds
    )


def parse_rate_limit(text: str) -> RateLimit:
    """``N/s``, ``N/min``, ``N/h`` (or ``N/2s``, ``N/0.5s``, ``N/hour``...) as a RateLimit.

    Raises ValueError with a one-line message that quotes ``text`` (cut short);
    shared by jobs.yaml, the CLI and the sandbox so that one notation works everywhere.
    """
    shown = _quote(text)
    match = _RATE.fullmatch(text)
    unit = _UNIT_SECONDS.get(match.group(3).lower()) if match else None
    if match is None or unit is None:
        raise ValueError(f"{shown} is not N/s, N/min or N/h (e.g. 100/min)")
    count_text, period_text = match.group(1), match.group(2) or "1"
    if len(count_text.lstrip("0")) > _MAX_DIGITS:
        raise ValueError(f"{shown} is out of bounds: {_BOUNDS}")
    count, period = int(count_text), float(period_text) * unit
    if count <= 0 or period <= 0:
        raise ValueError(f"{shown} must allow at least 1 request in a positive period")
    if not within_bounds(count, period):
        raise ValueError(f"{shown} is out of bounds: {_BOUNDS}")
    return RateLimit(count, period)


def _quote(text: str) -> str:
    """``text`` quoted, cut so that a message stays one short line."""
    if len(text) <= _QUOTE_LIMIT:
        return repr(text)
    return repr(text[:_QUOTE_LIMIT]) + "…"


DEFAULT_RATE_LIMIT: Final = RateLimit(100, 60.0)  # the vendor's documented limit
