"""The strict sliding window behind the sandbox's rate limit (and its token budget)."""

from __future__ import annotations

import math
from collections import deque


class SlidingWindow:
    """Admission times of one API key within the last ``period`` seconds.

    Closed at both ends, so it is at least as strict as any client's idea of
    "N per period": the runner's guarantee is checked against the harshest reading.
    ``limit=None`` only measures (for ``max_seen``) and never refuses.
    """

    def __init__(self, period: float, limit: int | None = None) -> None:
        self.period = period
        self.limit = limit
        self.max_seen = 0
        self._times: deque[float] = deque()

    def _expire(self, now: float) -> None:
        horizon = now - self.period
        while self._times and self._times[0] < horizon:
            self._times.popleft()

    def count(self, now: float) -> int:
        """Admitted requests in the window ending at ``now``."""
        self._expire(now)
        return len(self._times)

    def try_admit(self, now: float) -> bool:
        """Admit a request arriving at ``now`` unless the window is full."""
        if self.limit is not None and self.count(now) >= self.limit:
            return False
        self._times.append(now)
        self.max_seen = max(self.max_seen, self.count(now))
        return True

    def wait_time(self, now: float) -> float:
        """Seconds until the oldest admitted request leaves the window (0 if none)."""
        self._expire(now)
        if not self._times:
            return 0.0
        return max(0.0, self._times[0] + self.period - now)


def retry_after_header(wait: float) -> str:
    """Whole seconds for ``Retry-After``: rounded up, and never 0 (a 0 invites a spin)."""
    return str(max(1, math.ceil(wait)))
