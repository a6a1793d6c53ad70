"""The run's progress: counts that follow each answer, the rate, the ETA, and their display."""

from __future__ import annotations

from rich.console import Console

from runner.progress import Progress, render
from runner.queue import Job


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def job(job_id: int, name: str) -> Job:
    return Job(job_id, name, "main", "Sales", "active", None)


def test_counts_follow_answers_and_give_rate_and_eta() -> None:
    clock = Clock()
    progress = Progress([job(1, "dnc")], {1: {"pending": 100, "deleted": 20, "invalid": 5}}, clock)
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
    progress = Progress([job(1, "dnc")], {1: {"pending": 200}}, clock)
    for _ in range(100):
        clock.now += 0.6
        progress.settled(1, "deleted")
    (row,) = progress.rows()
    assert row["rate_per_minute"] == 100.0
    assert row["eta_seconds"] == 60  # 100 left at 100 a minute


def test_one_answer_gives_no_rate_yet() -> None:
    clock = Clock()
    progress = Progress([job(1, "dnc")], {1: {"pending": 10}}, clock)
    progress.settled(1, "deleted")
    (row,) = progress.rows()
    assert (row["rate_per_minute"], row["eta_seconds"]) == (None, None)
    console = Console(record=True, width=120)
    console.print(render(progress.rows()))
    assert console.export_text().splitlines()[-2].split()[-2:] == ["—", "—"]


def test_rate_forgets_answers_older_than_a_minute() -> None:
    clock = Clock()
    progress = Progress([job(1, "dnc")], {1: {"pending": 10}}, clock)
    progress.settled(1, "deleted")
    clock.now += 1
    progress.settled(1, "deleted")
    assert progress.rows()[0]["rate_per_minute"] == 60.0
    clock.now += 120
    (row,) = progress.rows()
    assert row["rate_per_minute"] is None
    assert row["eta_seconds"] is None  # nothing answered lately: unknown, not zero


def test_answers_of_other_jobs_are_ignored() -> None:
    progress = Progress([job(1, "dnc")], {1: {"pending": 1}}, Clock())
    progress.settled(2, "deleted")
    assert progress.rows()[0]["left"] == 1


def test_render_shows_each_job_with_percent_and_eta() -> None:
    clock = Clock()
    progress = Progress(
        [job(1, "dnc-nightly"), job(2, "purge")],
        {1: {"pending": 50, "deleted": 50}, 2: {"deleted": 7, "failed": 1}},
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
        "60",
        "0",
        "0",
        "40",
        "60",
        "40s",
    ]
    assert lines["purge"] == ["purge", "8/8", "100%", "7", "0", "1", "0", "—", "—"]  # no rate
