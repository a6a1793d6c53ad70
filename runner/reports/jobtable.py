"""The table of jobs of ``runner status``, fitted to the screen, and the words it uses for
durations and ETAs (shared with the live table of a run).

On a narrow screen the table drops whole columns, least useful first, rather than
squeezing every column to ``s…``: the job, its state, what is done, what is left and
the ETA always stay.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from runner.core.states import JobState, RecordState

if TYPE_CHECKING:
    from runner.reports.report import JobStatus, Report

COLUMNS = ("job", "state", "done", "deleted", "not found", "failed", "invalid", "cancelled",
           "left", "rate/min", "ETA", "last request")  # fmt: skip
# Dropped in this order while the table is wider than the screen.
DROP_ORDER = ("last request", "cancelled", "invalid", "rate/min", "not found", "failed",
              "deleted")  # fmt: skip
COUNTED = {"deleted": RecordState.DELETED, "not found": RecordState.NOT_FOUND,
           "failed": RecordState.FAILED, "invalid": RecordState.INVALID,
           "cancelled": RecordState.CANCELLED}  # fmt: skip
STATE_STYLES = {JobState.ACTIVE: "cyan", JobState.DONE: "green", JobState.BLOCKED: "bold red"}
# Wide enough that measuring a table never wraps it.
MEASURE_WIDTH = 1000


def duration(seconds: float | None) -> str:
    """1d 4h, 3h 05m, 12m 30s, 45s — or '—' when unknown."""
    if seconds is None:
        return "—"
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def ago(timestamp: float | None, now: float) -> str:
    """'42s ago', relative to the report's own time; '—' when never."""
    return "—" if timestamp is None else f"{duration(max(now - timestamp, 0.0))} ago"


def eta_text(job: JobStatus) -> str:
    """'6m 28s' while drained; else 'blocked', 'no sender', 'waiting 21:05'; '—' unknown."""
    if job.eta_seconds is not None and job.counts.left:
        return duration(job.eta_seconds)
    if job.eta_word is None:
        return "—"
    if job.eta_until is None:
        return job.eta_word
    return f"{job.eta_word} {datetime.fromtimestamp(job.eta_until, UTC):%H:%M}"


def jobs_table(report: Report, width: int | None = None) -> Table:
    """The table of jobs, without the columns that do not fit in ``width`` (None: all)."""
    columns = [c for c in COLUMNS if c != "cancelled" or report.totals.cancelled]
    table = _table(report, columns)
    measure = Console(width=MEASURE_WIDTH)
    for column in DROP_ORDER:
        if width is None or measure.measure(table).maximum <= width:
            break
        if column in columns:
            columns.remove(column)
            table = _table(report, columns)
    return table


def _table(report: Report, columns: list[str]) -> Table:
    table = Table(
        title="runner status", title_justify="left", box=box.SIMPLE_HEAD, collapse_padding=True
    )
    for column in columns:
        table.add_column(column, justify="left" if column in ("job", "state") else "right",
                         no_wrap=column != "job")  # fmt: skip
    several_accounts = len({job.account for job in report.jobs}) > 1
    for job in report.jobs:
        cells = _cells(job, report.generated_at, several_accounts)
        table.add_row(*(cells[column] for column in columns))
    return table


def _cells(job: JobStatus, now: float, several_accounts: bool) -> dict[str, str | Text]:
    c = job.counts
    where = f"{job.campaign} @ {job.account}" if several_accounts else job.campaign
    return {
        "job": Text(job.name) + Text(f"\n{where}", style="dim"),
        "state": Text(job.state, style=STATE_STYLES.get(job.state, "")),
        "done": f"{c.finished}/{c.total} {c.percent_done:.0f}%",
        **{column: str(c[state]) for column, state in COUNTED.items()},
        "left": str(c.left),
        "rate/min": "—" if job.rate_per_minute is None else f"{job.rate_per_minute:.0f}",
        "ETA": eta_text(job),
        "last request": ago(job.last_activity, now),
    }
