"""A job's ETA when its account's rate is shared with its other jobs."""

from __future__ import annotations

import pytest

from runner.core.states import JobState
from runner.reports.eta import account_rate, eta, fair_shares, finishing_shares
from runner.reports.progress import Progress
from runner.storage.counts import Counts
from runner.storage.queue import Job


def seconds(lefts: dict[str, int], rate: float) -> dict[str, float | None]:
    shares = fair_shares(lefts, rate)
    return {job: eta(lefts[job], shares[job]) for job in lefts}


def test_a_job_alone_keeps_the_whole_rate() -> None:
    assert fair_shares({"a": 50}, 600.0) == {"a": 600.0}


def test_two_jobs_share_the_rate_until_the_smaller_is_done() -> None:
    # 10 a second for both: 33 and 52 left. Together each gets 5 a second, so the first
    # is done in 6.6 s; the second has 19 left then, alone at 10 a second: 8.5 s.
    assert seconds({"first": 33, "second": 52}, 600.0) == pytest.approx(
        {"first": 6.6, "second": 8.5}
    )


def test_jobs_with_nothing_left_take_no_share_and_no_rate_gives_none() -> None:
    assert seconds({"done": 0, "a": 10, "b": 10}, 120.0) == pytest.approx(
        {"done": 0.0, "a": 10.0, "b": 10.0}
    )
    assert fair_shares({"a": 10}, None) == {"a": None}


def test_the_account_rate_is_over_all_its_jobs_together() -> None:
    # 31 finished in 3 s by two jobs (30 intervals): 600 a minute, not their sum.
    assert account_rate([(21, 100.0, 103.0), (10, 101.5, 103.0)]) == pytest.approx(600.0)
    assert account_rate([]) is None


def test_finishing_shares_group_by_account_without_blocked_or_waiting_jobs() -> None:
    jobs = [
        Job(1, "a", "main", "C", JobState.ACTIVE, None),
        Job(2, "b", "main", "C", JobState.ACTIVE, None),
        Job(3, "blocked", "main", "C", JobState.BLOCKED, None),
        Job(4, "other", "second", "C", JobState.ACTIVE, None, waiting="not in its config"),
    ]
    lefts = {1: 10, 2: 10, 3: 500, 4: 10}
    finished = {1: (11, 0.0, 1.0), 2: (11, 0.0, 1.0), 4: (11, 0.0, 1.0)}
    shares = finishing_shares(jobs, lefts, finished, runner_active=True)
    # main: 22 finished in a second by a and b (21 intervals), 1,260 a minute shared
    # evenly between them; not with "blocked", whose records are not sent.
    assert shares[1] == shares[2] == pytest.approx(630.0)
    assert 3 not in shares and 4 not in shares


def test_the_live_table_shares_the_account_between_its_jobs() -> None:
    now = [0.0]
    jobs = [Job(1, "first", "main", "C", JobState.ACTIVE, None),
            Job(2, "second", "main", "C", JobState.ACTIVE, None)]  # fmt: skip
    progress = Progress(jobs, {1: Counts(pending=43), 2: Counts(pending=52)}, lambda: now[0])
    for tick in range(10):  # the first alone at 10 a second for a second
        now[0] = tick / 10
        progress.settled(1, "deleted")
    rows = {row["job"]: row for row in progress.rows()}
    assert rows["first"]["eta_seconds"] == pytest.approx(6.6, abs=0.5)  # 33 at 5 a second
    assert rows["second"]["eta_seconds"] == pytest.approx(8.5, abs=0.5)
