"""How long a job has left: its share of its account's recent rate, and the one ETA
that ``runner status``, the log's progress lines and the live table all show.

Pure functions of counts and times: the readers and the live display bring the numbers.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from runner.core.states import JobState
from runner.sending.senderstate import is_sending
from runner.storage.queue import Job

K = TypeVar("K", bound=Hashable)


def per_minute(count: int, first: float, last: float) -> float | None:
    """The rate of ``count`` events from ``first`` to ``last``, per minute.

    ``count`` events make ``count - 1`` intervals: counting the events instead would
    show 111/min for a run that keeps 100/min exactly, right after it starts. With
    fewer than two events (or all at one instant) there is no interval, so no rate.
    """
    if count < 2 or last <= first:
        return None
    return (count - 1) * 60.0 / (last - first)


def eta(left: int, rate_per_minute: float | None) -> float | None:
    """Seconds to send ``left`` records at that rate; 0 when none is left."""
    if not left:
        return 0.0
    if not rate_per_minute:
        return None
    return left * 60.0 / rate_per_minute


def account_rate(finished: Iterable[tuple[int, float, float]]) -> float | None:
    """Records an account finished per minute recently, over all its jobs together:
    (count, first, last) of each job, as ``recent_finished`` gives them."""
    spans = list(finished)
    if not spans:
        return None
    count = sum(n for n, _, _ in spans)
    return per_minute(count, min(first for _, first, _ in spans), max(last for *_, last in spans))


def fair_shares(lefts: Mapping[K, int], rate: float | None) -> dict[K, float | None]:
    """Each job's rate (per minute, averaged to its end) while an account's ``rate`` is
    shared by its jobs with records left, which the drain takes in turn: the job with
    the fewest left finishes first, the others then share its part too. Without it a
    job that was alone until a second one joined shows the ETA of its time alone."""
    shares: dict[K, float | None] = {job: None for job in lefts}
    if not rate:
        return shares
    minutes, before = 0.0, 0
    waiting = sorted((job for job, left in lefts.items() if left > 0), key=lambda j: lefts[j])
    for sharing, job in zip(range(len(waiting), 0, -1), waiting, strict=True):
        minutes += (lefts[job] - before) * sharing / rate
        before = lefts[job]
        shares[job] = lefts[job] / minutes
    return shares


def finishing_shares(
    jobs: Iterable[Job],
    lefts: Mapping[int, int],
    finished: Mapping[int, tuple[int, float, float]],
    *,
    runner_active: bool,
) -> dict[int, float | None]:
    """Each job's :func:`fair_shares` of its account's recent finishing rate. An
    account's sender drains its active jobs, except those a note says the running
    process does not (``Job.waiting``)."""
    by_account: dict[str, dict[int, int]] = {}
    for job in jobs:
        if job.state is JobState.ACTIVE and not (runner_active and job.waiting):
            by_account.setdefault(job.account, {})[job.id] = lefts.get(job.id, 0)
    shares: dict[int, float | None] = {}
    for sharing in by_account.values():
        rate = account_rate(finished[job_id] for job_id in sharing if job_id in finished)
        shares.update(fair_shares(sharing, rate))
    return shares


@dataclass(frozen=True, slots=True)
class Eta:
    """The one ETA of a job: seconds while it is drained, else a word and maybe a time."""

    seconds: float | None = None
    word: str | None = None
    until: float | None = None


def job_eta(
    left: int,
    finished_per_minute: float | None,
    *,
    blocked: bool,
    stopped: bool,
    sender: tuple[str, float | None] | None,
) -> Eta:
    """Seconds left from the records *finished* recently (retries are not progress), shown
    only while the account's sender is sending; otherwise why not: ``blocked``,
    ``stopped``, ``no sender``, or the sender's own state (``waiting`` with its end,
    ``idle``, a hopeless state...). ``sender`` is the current (state, until), or None.
    Status, the log's progress lines and the live table all come here."""
    if not left:
        return Eta(0.0)
    if blocked:
        return Eta(word="blocked")
    if stopped:
        return Eta(word="stopped")
    if sender is None:
        return Eta(word="no sender")
    state, until = sender
    if not is_sending(state):
        return Eta(word=state, until=until)
    return Eta(eta(left, finished_per_minute))
