"""The rate across a restart, at the real timescale: a fake clock, the in-memory queue,
and the supervisor that seeds each account's pacer from the queue's recent starts.

End-to-end tests restart against windows of a few seconds, about as long as a new
process takes to start, so the window has often cleared before it sends. Here a
100/60 s account has 100 starts recorded in the last 30 s, and a fresh supervisor
drains more: nothing may put a 101st start in any 60 s window. Without the seeding
(``Supervisor._seed``), the new process sends at once and the first window holds ~150.
"""

from __future__ import annotations

import bisect
from pathlib import Path
from types import TracebackType

import pytest
from fakes import DELETED, FakeClock, FakeSender

import runner.sending.account
from runner.config import load_config
from runner.core.lifecycle import Budget, Shutdown
from runner.core.states import RecordState
from runner.sending.client import TokenReply
from runner.sending.supervise import DrainOptions, Supervisor
from runner.storage.queue import Claim, Settlement
from runner.testing.memqueue import MemoryQueue

CONFIG = """\
database: runner.db
state_dir: state
accounts:
  main:
    base_url: https://api.ccaas.ozonetel.com
    api_key_env: CLOUDAGENT_API_KEY
    user_name: admin_user
    rate_limit: 100/min
workers: 4
"""
COUNT, PERIOD = 100, 60.0


class FakeClient(FakeSender):
    """The account's client as the supervisor makes it: a context manager that sends."""

    async def __aenter__(self) -> FakeClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # fmt: skip
        return None

    async def generate_token(self) -> TokenReply:
        raise AssertionError("auth: basic generates no token")


def most_in_window(times: list[float], period: float) -> int:
    """The most starts in any closed window [t, t + period] (both ends count)."""
    ordered = sorted(times)
    return max(bisect.bisect_right(ordered, t + period) - i for i, t in enumerate(ordered))


def earlier_run(queue: MemoryQueue, clock: FakeClock, seconds: float) -> list[float]:
    """COUNT starts of a previous process, evenly over the last ``seconds``, in the audit."""
    done = Settlement(RecordState.DELETED, None, 1, 0.0, 200, "deleted", "", "", clock.time())
    starts = [clock.time() - seconds + i * seconds / COUNT for i in range(COUNT)]
    for at in starts:
        queue.requests.append((Claim(0, 0, "earlier", None, 1, "main", at), done))
    return starts


async def restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, records: int
) -> tuple[list[float], list[float]]:
    """A fresh supervisor draining ``records`` after a previous run's 100 starts in 30 s;
    the account's start times (wall clock) before the restart and after it."""
    monkeypatch.setenv("CLOUDAGENT_API_KEY", "fake-key")
    (tmp_path / "jobs.yaml").write_text(CONFIG)
    config = load_config(tmp_path / "jobs.yaml", jobs_required=False)
    clock = FakeClock(start=5000.0)
    queue = MemoryQueue()
    before = earlier_run(queue, clock, 30.0)
    queue.add_job("purge", [f"98765{i:05d}" for i in range(records)])
    client = FakeClient(clock, lambda call, n: DELETED)
    monkeypatch.setattr(runner.sending.account, "CloudAgentClient", lambda *a, **k: client)
    supervisor = Supervisor(
        queue=queue,  # the same interface as the store
        config=config,
        api_key=lambda name: "fake-key",
        options=DrainOptions(workers=4, budget=Budget(None)),
        shutdown=Shutdown(clock=clock),
        clock=clock,
        mode="run",
    )
    await supervisor.run()
    assert len(client.calls) == records  # the new process did send everything
    return before, [call.at for call in client.calls]


async def test_a_restart_at_100_a_minute_never_puts_101_in_a_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before, after = await restart(tmp_path, monkeypatch, records=150)
    assert most_in_window(before + after, PERIOD) <= COUNT
    assert min(after) >= before[0] + PERIOD  # it waited for the first old start to age out


def test_most_in_window_counts_both_ends() -> None:
    assert most_in_window([0.0, 30.0, 60.0, 60.5], 60.0) == 3
    assert most_in_window([0.0, 60.0], 60.0) == 2
