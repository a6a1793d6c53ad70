"""Progress of a run as it goes: counts per job, the current rate and the ETA.

The drain calls :meth:`Progress.settled` after each answer is committed; the
CLI shows the numbers as a live table on a terminal, or logs them as a summary
line at a steady interval off one (cron, pipes).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from rich import box
from rich.console import Console
from rich.live import Live
from rich.table import Table

from runner.core.clock import Ticks
from runner.core.logs import get_logger
from runner.core.states import ANSWERED_STATES as FINAL_STATES
from runner.core.states import RecordState
from runner.reports.eta import account_rate, fair_shares, job_eta, per_minute
from runner.reports.jobtable import duration
from runner.sending.senderstate import SENDING
from runner.storage.counts import Counts, JobCounts, of_job
from runner.storage.queue import Job

# The live display measures the rate over the answers of this many seconds: shorter
# than status's recent-rate window, so that it follows a slowdown while one watches.
LIVE_RATE_WINDOW = 60.0
LIVE_COLUMNS = ("job", "done", "deleted", "not found", "failed", "invalid", "left", "rate/min",
                "ETA")  # fmt: skip
# How often the live table is redrawn, in seconds.
LIVE_REFRESH = 0.5


@dataclass
class JobProgress:
    name: str
    counts: Counts
    answers: deque[float] = field(default_factory=deque)  # times of recent answers
    finals: deque[float] = field(default_factory=deque)  # times of recent final answers
    finished: bool = False  # job_finished was logged
    account: str = ""

    @property
    def total(self) -> int:
        return self.counts.total

    @property
    def left(self) -> int:
        return self.counts.left


class Progress:
    """Counts that follow the run, seeded from the database at its start."""

    def __init__(
        self,
        jobs: Iterable[Job],
        counts: JobCounts,
        clock: Ticks = time.monotonic,
    ) -> None:
        self._clock = clock
        self._jobs: dict[int, JobProgress] = {}
        self._sending = True  # until the end: no ETA once nothing is sent
        self.add(jobs, counts)

    def add(self, jobs: Iterable[Job], counts: JobCounts) -> None:
        """Follow these jobs too (loaded while the process drains); known ones are kept."""
        for job in jobs:
            if job.id not in self._jobs:
                self._jobs[job.id] = JobProgress(
                    job.name, of_job(counts, job.id), account=job.account
                )

    def reseed(self, counts: JobCounts) -> None:
        """Take the database's counts (at the end: the last frame says what run_finished
        says, records cancelled or retried meanwhile included); nothing is sent after it."""
        self._sending = False
        for job_id, job in self._jobs.items():
            job.counts = of_job(counts, job_id)

    def settled(self, job_id: int, state: str) -> None:
        """One answer was recorded; ``state`` is the record's new state."""
        job = self._jobs.get(job_id)
        if job is None:
            return
        now = self._clock()
        job.answers.append(now)
        if state in FINAL_STATES:
            job.counts = job.counts.settled(RecordState(state))
            job.finals.append(now)
            if job.left <= 0 and not job.finished:
                job.finished = True
                log_finished(job.name, job.account, job.counts)

    def _etas(self) -> dict[int, float | None]:
        """The ETAs status shows, from this process's own records finished recently: each
        job's share of its account's rate (runner.reports.eta.fair_shares)."""
        sender = (SENDING, None) if self._sending else None
        by_account: dict[str, dict[int, JobProgress]] = {}
        for job_id, job in self._jobs.items():
            by_account.setdefault(job.account, {})[job_id] = job
        shares: dict[int, float | None] = {}
        for jobs in by_account.values():
            rate = account_rate((len(j.finals), j.finals[0], j.finals[-1])
                                for j in jobs.values() if j.finals)  # fmt: skip
            shares.update(fair_shares({job_id: j.left for job_id, j in jobs.items()}, rate))
        return {job_id: job_eta(job.left, shares[job_id], blocked=False, stopped=False,
                                sender=sender).seconds
                for job_id, job in self._jobs.items()}  # fmt: skip

    def rows(self) -> list[dict[str, Any]]:
        """One dict per job: counts, requests per minute and seconds left (None: unknown).

        The rate counts the intervals between the answers of the last minute, as
        ``runner status`` does with request starts; the ETA follows the final answers.
        """
        now = self._clock()
        for job in self._jobs.values():
            for times in (job.answers, job.finals):
                while times and times[0] < now - LIVE_RATE_WINDOW:
                    times.popleft()
        etas = self._etas()
        rows = []
        for job_id, job in self._jobs.items():
            rows.append(
                {
                    "job": job.name,
                    "total": job.total,
                    "done": job.total - job.left,
                    **_by_state(job.counts),
                    "left": job.left,
                    "rate_per_minute": _rounded(_rate(job.answers)),
                    "eta_seconds": _rounded(etas[job_id], None),
                }
            )
        return rows


def finished_meaning(counts: Counts) -> tuple[int, str]:
    """The exit code a run of only this job would end with, and its meaning."""
    if counts.failed:
        return 1, "some records failed"
    return 0, "every record deleted or not found"


def log_finished(name: str, account: str, counts: Counts) -> None:
    code, meaning = finished_meaning(counts)
    get_logger().info("job_finished", account=account, job=name, **_by_state(counts),
                      exit_code=code, meaning=meaning)  # fmt: skip


def _by_state(counts: Counts) -> dict[str, int]:
    """The final states and ``invalid``, as the live table and ``job_finished`` show them."""
    return {state.value: counts[state] for state in (*FINAL_STATES, RecordState.INVALID)}


def _rate(times: deque[float]) -> float | None:
    return per_minute(len(times), times[0], times[-1]) if times else None


def _rounded(value: float | None, digits: int | None = 1) -> float | None:
    return None if value is None else round(value, digits)


def render(rows: list[dict[str, Any]]) -> Table:
    """The live table of a run on a terminal."""
    table = Table(box=box.SIMPLE_HEAD, collapse_padding=True)
    for column in LIVE_COLUMNS:
        table.add_column(column, justify="left" if column == "job" else "right", no_wrap=True)
    for row in rows:
        percent = 100.0 * row["done"] / row["total"] if row["total"] else 100.0
        table.add_row(
            row["job"],
            f"{row['done']}/{row['total']} {percent:.0f}%",
            str(row["deleted"]),
            str(row["not_found"]),
            str(row["failed"]),
            str(row["invalid"]),
            str(row["left"]),
            "—" if row["rate_per_minute"] is None else f"{row['rate_per_minute']:.0f}",
            duration(row["eta_seconds"]) if row["left"] else "—",
        )
    return table


async def show(progress: Progress, *, live: bool, interval: float) -> None:
    """Until cancelled: a live table on a terminal, else a ``progress`` log line every
    ``interval`` seconds."""
    if live:
        console = Console(stderr=True)
        with Live(
            render(progress.rows()), console=console, redirect_stderr=True, auto_refresh=False
        ) as display:
            try:
                while True:
                    await asyncio.sleep(LIVE_REFRESH)
                    display.update(render(progress.rows()), refresh=True)
            finally:  # cancelled at the end: the last frame shows the final counts
                display.update(render(progress.rows()), refresh=True)
    log = get_logger()
    while True:
        await asyncio.sleep(interval)
        log.info("progress", jobs=progress.rows())
