"""The status report as Prometheus metrics, for node_exporter's textfile collector.

``runner status --prometheus FILE`` run every minute (cron or a systemd timer)
turns the report of :func:`runner.reports.status.collect` into the text exposition format
and writes it atomically, because node_exporter reads the folder whenever it is
scraped and must never see half a file.

The job label is ``runner_job``, not ``job``: Prometheus sets ``job`` (and
``instance``) on every scraped series itself and would rename ours to
``exported_job``. Most metrics are gauges: the numbers describe the database now,
and counts go down as well as up (``runner retry`` moves failed records back). The
two ``_total`` counters are read from the database, so they survive restarts and
``rate()`` works on them: every request ever made (pruned ones are kept as totals),
and the records of each job that reached each final state. Times are in seconds.
Series that exist for a job are emitted even when zero, so that alerts such as
``runner_records{state="failed"} > 0`` have something to compare.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from runner.core.states import HOPELESS_STATES, JobState, RecordState, StopReason
from runner.reports.report import RECENT_RATE_WINDOW, AccountStatus, JobStatus, Report
from runner.reports.writing import atomic_text
from runner.sending.senderstate import SENDER_STATES, is_sending

JOB_LABEL: Final = "runner_job"
# The record states a record reaches for good (runner_records_total).
FINAL_STATES: Final = (RecordState.DELETED, RecordState.NOT_FOUND, RecordState.FAILED,
                       RecordState.INVALID, RecordState.CANCELLED)  # fmt: skip
# node_exporter runs as its own user: the file must be readable by others.
TEXTFILE_MODE: Final = 0o644

Labels = Mapping[str, str]


@dataclass(slots=True)
class Family:
    """One metric: its help text and samples, written together as the format requires."""

    name: str
    help: str
    samples: list[tuple[Labels, float]] = field(default_factory=list)
    kind: str = "gauge"  # or "counter"

    def add(self, labels: Labels, value: float) -> None:
        self.samples.append((labels, value))


def escape_label_value(value: str) -> str:
    """Backslash, double quote and newline escaped, as the text format requires."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escape_help(text: str) -> str:
    """HELP text escapes only backslash and newline (a quote is literal there)."""
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: float) -> str:
    """Integers without a fraction, floats in full precision, NaN and ±Inf as Go spells them."""
    if isinstance(value, bool | int):
        return str(int(value))
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)


def format_sample(name: str, labels: Labels, value: float) -> str:
    """``name{a="x",b="y"} value``, or ``name value`` without labels."""
    if not labels:
        return f"{name} {format_value(value)}"
    inside = ",".join(f'{key}="{escape_label_value(val)}"' for key, val in labels.items())
    return f"{name}{{{inside}}} {format_value(value)}"


def render(report: Report) -> str:
    """The report as text exposition format; families without samples are left out."""
    lines: list[str] = []
    for family in families(report):
        if not family.samples:
            continue
        lines.append(f"# HELP {family.name} {escape_help(family.help)}")
        lines.append(f"# TYPE {family.name} {family.kind}")
        lines.extend(format_sample(family.name, labels, value) for labels, value in family.samples)
    return "\n".join(lines) + "\n"


def write_textfile(report: Report, path: Path) -> None:
    """Write the metrics to ``path`` by rename, so a scrape never reads a partial file."""
    text = render(report)
    with atomic_text(path, TEXTFILE_MODE) as out:
        out.write(text)


# ---------------------------------------------------------------- the families


def families(report: Report) -> Iterator[Family]:
    yield from _job_families(report.jobs)
    yield from _account_families(report.accounts)
    yield _requests_total(report.request_totals)
    runner = report.runner
    yield Family(
        "runner_active",
        "1 while a runner holds the database lock, else 0.",
        [({}, int(runner.active))],
    )
    yield Family(
        "runner_worker_busy",
        "1 while the runner holding the database is sending for some account (sender "
        "state sending), else 0.",
        [({}, int(runner.busy))],
    )
    yield Family(
        "runner_status_generated_timestamp_seconds",
        "When this report was made (Unix time); alert when it stops moving.",
        [({}, report.generated_at)],
    )


def _job_labels(job: JobStatus) -> dict[str, str]:
    return {JOB_LABEL: job.name, "account": job.account, "campaign": job.campaign}


def _job_families(jobs: Iterable[JobStatus]) -> Iterator[Family]:
    records = Family("runner_records", "Records of a job in each state.")
    failures = Family("runner_job_failures", "Failed records of a job by failure reason.")
    blocked = Family(
        "runner_job_blocked", "1 when the job is blocked (runner status says why), else 0."
    )
    waiting = Family(
        "runner_job_waiting",
        "1 when the running process leaves the job pending (runner status says why), else 0.",
    )
    interrupted = Family(
        "runner_job_not_found_after_interrupted",
        "Records not found after an interrupted request of theirs (probably deleted by it).",
    )
    rate = Family(
        "runner_job_requests_per_second",
        f"Requests answered per second, from the first to the last start in the last "
        f"{RECENT_RATE_WINDOW:g} seconds (0 when fewer than two).",
    )
    eta = Family(
        "runner_job_eta_seconds",
        "Estimated seconds left, from the records finished recently; only while the job "
        "is being sent (absent when blocked, stopped, waiting or with no sender).",
    )
    finals = Family(
        "runner_records_total",
        "Records of a job that reached each final state (from the database: survives "
        "restarts; `runner retry` moves failed or cancelled ones back).",
        kind="counter",
    )
    last = Family(
        "runner_job_last_request_timestamp_seconds", "When the job's latest request started."
    )
    for job in jobs:
        labels = _job_labels(job)
        for state in RecordState:
            records.add(labels | {"state": state.value}, job.counts[state])
        for state in FINAL_STATES:
            finals.add(labels | {"state": state.value}, job.counts[state])
        for reason, count in job.failure_reasons:
            failures.add(labels | {"reason": reason}, count)
        blocked.add(labels, int(job.state is JobState.BLOCKED))
        waiting.add(labels, int(job.waiting is not None))
        interrupted.add(labels, job.not_found_after_interrupted)
        rate.add(labels, (job.rate_per_minute or 0) / 60)
        if job.eta_seconds is not None:
            eta.add(labels, round(job.eta_seconds))
        if job.last_activity is not None:
            last.add(labels, job.last_activity)
    yield from (records, finals, failures, blocked, waiting, interrupted, rate, eta, last)


def _requests_total(totals: Iterable[tuple[str, str, str, int]]) -> Family:
    family = Family(
        "runner_requests_total",
        "HTTP requests ever made per account, outcome and HTTP status (from the database: "
        "survives restarts; '' when a request was cut off without an answer).",
        kind="counter",
    )
    for account, outcome, http_status, count in totals:
        family.add({"account": account, "outcome": outcome, "http_status": http_status}, count)
    return family


def _account_families(accounts: Iterable[AccountStatus]) -> Iterator[Family]:
    """Every account with every stop reason, 0 or 1, so that a stop shows as a change
    of value and not as a new series."""
    stopped = Family(
        "runner_account_stopped",
        "1 when the account is stopped for this reason (runner status says why), else 0.",
    )
    sending = Family(
        "runner_account_sending",
        "1 while the runner holding the database has runnable records of the account and "
        "paces them (sender state sending, whatever the rate), else 0.",
    )
    states = Family(
        "runner_account_sender_state",
        "1 for the account's current sender state, else 0; states: "
        + ", ".join(SENDER_STATES)
        + " (runner status says why).",
    )
    hopeless = Family(
        "runner_account_hopeless_since_seconds",
        "While the account has had no usable answer for too long (state unreachable, "
        "no_usable_answer or rate_limited): since when, Unix time.",
    )
    for account in accounts:
        for reason in StopReason:
            stopped.add(
                {"account": account.name, "reason": reason.value},
                int(account.stop_reason is reason),
            )
        sender = account.sender
        current = sender.state if sender is not None and sender.current else None
        sending.add({"account": account.name}, int(current is not None and is_sending(current)))
        for state in SENDER_STATES:
            states.add({"account": account.name, "state": state}, int(current == state))
        hopeless_since(hopeless, account)
    yield from (stopped, sending, states, hopeless)


def hopeless_since(family: Family, account: AccountStatus) -> None:
    """A sample while a worker probes a hopeless account: since when, by its state."""
    sender = account.sender
    if sender is None or not sender.current or sender.since is None:
        return
    if sender.state in HOPELESS_STATES:
        family.add({"account": account.name, "state": sender.state}, sender.since)
