"""How a run (or a hand-over that waited) ended: its exit code and its last log line.

Read by :mod:`runner.commands.run` after draining and by
:mod:`runner.commands.handover` after waiting, so that both say the same thing from the same counts.
"""

from __future__ import annotations

import signal
from collections.abc import Sequence

from runner.core.errors import ExitCode
from runner.core.logs import get_logger
from runner.core.states import JobState
from runner.storage.counts import JobCounts, of_job, summed
from runner.storage.queue import Job


def has_left(job: Job, counts: JobCounts) -> bool:
    """The job still has records to send, and may send them (it is not blocked)."""
    return bool(of_job(counts, job.id).left) and job.state == JobState.ACTIVE


def exit_code(signum: int | None, stopped: bool, jobs: Sequence[Job], counts: JobCounts) -> int:
    """A signal, then an account stop, then failures or blocks, else success."""
    if signum == signal.SIGINT:
        return ExitCode.SIGINT
    if signum == signal.SIGTERM:
        return ExitCode.SIGTERM
    if signum == signal.SIGHUP:
        return ExitCode.SIGHUP
    if stopped:
        return ExitCode.AUTH
    failed = any(of_job(counts, job.id).failed for job in jobs)
    if failed or any(job.state == JobState.BLOCKED or job.blocked_campaigns for job in jobs):
        return ExitCode.FAILURES
    return ExitCode.OK


def finished(
    code: int, jobs: Sequence[Job], counts: JobCounts, *, sent: int, stopped: list[str]
) -> None:
    """The ``run_finished`` line: what this run's jobs came to."""
    total = summed(counts, [job.id for job in jobs])
    get_logger().info(
        "run_finished",
        exit_code=int(code),
        sent=sent,
        deleted=total.deleted,
        not_found=total.not_found,
        failed=total.failed,
        pending=total.left,
        blocked=[job.name for job in jobs if job.state == JobState.BLOCKED],
        stopped_accounts=stopped,
    )
