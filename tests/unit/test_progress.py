"""The run's progress: counts that follow each answer, the rate, the ETA, and their display."""

from __future__ import annotations

import json

import pytest
from rich.console import Console

from runner.core.logs import configure
from runner.reports.progress import Progress, render
from runner.storage.counts import Counts
from runner.storage.queue import Job


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def job(job_id: int, name: str) -> Job:
    return Job(job_id, name, "main", "Sales", "active", None)


def test_counts_follow_answers_and_give_rate_and_eta() -> None:
    clock = Clock()
    progress = Progress([job(1, "dnc")], {1: Counts(pending=100, deleted=20, invalid=5)}, clock)
    for second in range(30):  # one final answer a second, one retry every other second
        clock.now = 100.0 + second + 1
        progress.settled(1, "deleted" if second % 3 else "not_found")
        if second % 2:
            progress.settled(1, "pending")
    (row,) = progress.rows()
    assert row["total"] == 125
    assert (row["deleted"], row["not_found"], row["left"]) == (20 + 20, 10, 70)
    assert row["done"] == 55
    # 45 answers from 101 s to 130 s: 44 intervals in 29 s (the retries bunch at the end).
    assert row["rate_per_minute"] == 91.0
    assert row["eta_seconds"] == 70  # 70 left at one final answer a second


def test_evenly_spaced_answers_give_their_exact_rate() -> None:
    """100 answers 0.6 s apart: 100/min, not the 101 that counting answers would give."""
    clock = Clock()
    progress = Progress([job(1, "dnc")], {1: Counts(pending=200)}, clock)
    for _ in range(100):
        clock.now += 0.6
        progress.settled(1, "deleted")
    (row,) = progress.rows()
    assert row["rate_per_minute"] == 100.0
    assert row["eta_seconds"] == 60  # 100 left at 100 a minute


def test_one_answer_gives_no_rate_yet() -> None:
    clock = Clock()
    progress = Progress([job(1, "dnc")], {1: Counts(pending=10)}, clock)
    progress.settled(1, "deleted")
    (row,) = progress.rows()
    assert (row["rate_per_minute"], row["eta_seconds"]) == (None, None)
    console = Console(record=True, width=120)
    console.print(render(progress.rows()))
    assert console.export_text().splitlines()[-2].split()[-2:] == ["—", "—"]


def test_rate_forgets_answers_older_than_a_minute() -> None:
    clock = Clock()
    progress = Progress([job(1, "dnc")], {1: Counts(pending=10)}, clock)
    progress.settled(1, "deleted")
    clock.now += 1
    progress.settled(1, "deleted")
    assert progress.rows()[0]["rate_per_minute"] == 60.0
    clock.now += 120
    (row,) = progress.rows()
    assert row["rate_per_minute"] is None
    assert row["eta_seconds"] is None  # nothing answered lately: unknown, not zero


def test_answers_of_other_jobs_are_ignored() -> None:
    progress = Progress([job(1, "dnc")], {1: Counts(pending=1)}, Clock())
    progress.settled(2, "deleted")
    assert progress.rows()[0]["left"] == 1


def test_render_shows_each_job_with_percent_and_eta() -> None:
    clock = Clock()
    progress = Progress(
        [job(1, "dnc-nightly"), job(2, "purge")],
        {1: Counts(pending=50, deleted=47, invalid=3), 2: Counts(deleted=7, failed=1)},
        clock,
    )
    for _ in range(10):
        clock.now += 1
        progress.settled(1, "deleted")
    console = Console(record=True, width=120)
    console.print(render(progress.rows()))
    text = console.export_text()
    lines = {line.split()[0]: line.split() for line in text.splitlines() if line.strip()}
    assert lines["dnc-nightly"] == [
        "dnc-nightly",
        "60/100",
        "60%",
        "57",
        "0",
        "0",
        "3",
        "40",
        "60",
        "40s",
    ]
    assert lines["purge"] == ["purge", "8/8", "100%", "7", "0", "1", "0", "0", "—", "—"]  # no rate


def test_a_job_added_later_is_followed_and_logs_job_finished_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure("json", 0)
    clock = Clock()
    progress = Progress([job(1, "purge")], {1: Counts(pending=5)}, clock)
    progress.add([job(2, "dnc-2026-12-04"), job(1, "purge")], {2: Counts(pending=2, invalid=1)})
    progress.settled(2, "deleted")
    progress.settled(2, "pending")  # a retry: not final
    progress.settled(2, "failed")
    progress.settled(2, "deleted")  # a late answer cannot finish it twice
    rows = {row["job"]: row for row in progress.rows()}
    assert set(rows) == {"purge", "dnc-2026-12-04"}
    assert rows["dnc-2026-12-04"]["invalid"] == 1
    events = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    finished = [e for e in events if e["event"] == "job_finished"]
    assert len(finished) == 1
    assert finished[0]["job"] == "dnc-2026-12-04"
    assert (finished[0]["deleted"], finished[0]["failed"], finished[0]["exit_code"]) == (1, 1, 1)


def test_reseed_takes_the_database_counts_for_the_last_frame() -> None:
    progress = Progress([job(1, "purge")], {1: Counts(pending=5)}, Clock())
    progress.reseed({1: Counts(deleted=3, cancelled=2)})
    (row,) = progress.rows()
    assert (row["done"], row["deleted"], row["left"]) == (5, 3, 0)
