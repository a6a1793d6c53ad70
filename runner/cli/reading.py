"""The commands that only read the database, read-only: status and export."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from runner.cli.group import EXPORT_FORMATS, cli, config_argument, reports_errors
from runner.core.errors import ExitCode
from runner.core.states import RECORD_STATES

if TYPE_CHECKING:
    from runner.config import Config
    from runner.reports.report import Report
    from runner.storage.pg.url import Database

DB_HELP = "Read this database: a file, or a postgresql:// URL (no password in it)."


# -- status ----------------------------------------------------------------------


def database_of(config_path: Path, db: str | None) -> Database:
    """``--db`` (a path or a PostgreSQL URL), else the config's database."""
    from runner.storage.pg.url import is_postgres, parse

    if db is not None and is_postgres(db):
        try:
            return parse(db)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="'--db'") from None
    if db is not None:
        return Path(db)
    from runner.config import load_config

    # A worker's config (no jobs) names its database as well as a run's does.
    config: Config = load_config(config_path, jobs_required=False)
    return config.database


@cli.command("status")
@config_argument
@click.option("--db", metavar="PATH|URL", help=DB_HELP)
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@click.option("--watch", is_flag=True, help="Refresh in place every --interval seconds.")
@click.option("--interval", type=click.FloatRange(0.2), default=2.0, show_default=True)
@click.option(
    "--prometheus",
    metavar="FILE",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    help="Write Prometheus metrics to FILE (atomically, for node_exporter's textfile "
    "collector) instead of printing the report; '-' prints them.",
)
@click.option(
    "--check",
    "check_only",
    is_flag=True,
    help="Exit 0 all final and clean (or being sent), 1 failed records, 3 a blocked job or "
    "a stopped account, 5 work pending that no process sends; with --json or the table.",
)
@click.option("--job", "job_name", help="With --check: check only this job.")
@reports_errors
def status_command(
    config_path: Path,
    db: str | None,
    as_json: bool,
    watch: bool,
    interval: float,
    prometheus: Path | None,
    check_only: bool,
    job_name: str | None,
) -> None:
    """Progress per job and in total: counts, failures, blocks, rate and ETA."""
    refuse_combinations(as_json, watch, prometheus, check_only, job_name)
    from runner.reports import metrics, status, statustable

    database = database_of(config_path, db)
    if check_only:
        from runner.reports import check

        report = asyncio.run(_status(database))
        if job_name is not None and job_name not in {job.name for job in report.jobs}:
            raise click.UsageError(f"--job {job_name}: no such job in {database}")
        code = check.check_code(report, job_name)
        if as_json:
            click.echo(status.to_json(report))
        else:
            statustable.print_report(report)
        click.echo(f"check: exit {int(code)} ({check.CHECK_MEANINGS[code]})", err=True)
        sys.exit(code)
    if prometheus is not None:
        report = asyncio.run(_status(database, totals=True))
        if str(prometheus) == "-":
            click.echo(metrics.render(report), nl=False)
        else:
            metrics.write_textfile(report, prometheus)
    elif as_json:
        click.echo(status.to_json(asyncio.run(_status(database))))
    elif watch:
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how one leaves --watch
            asyncio.run(_watch(database, interval))
    else:
        statustable.print_report(asyncio.run(_status(database)))


def refuse_combinations(
    as_json: bool, watch: bool, prometheus: Path | None, check: bool, job_name: str | None
) -> None:
    """Usage errors (exit 2) for options that cannot go together."""
    if prometheus is not None and (as_json or watch or check):
        raise click.UsageError("--prometheus cannot be combined with --json, --watch or --check")
    if watch and (as_json or check):
        raise click.UsageError("--watch refreshes a table: it cannot be combined with --json "
                               "or --check")  # fmt: skip
    if job_name is not None and not check:
        raise click.UsageError("--job goes with --check")
    if prometheus is not None and str(prometheus) != "-" and not prometheus.parent.is_dir():
        raise click.UsageError(f"--prometheus {prometheus}: folder {prometheus.parent} is missing")


async def _status(database: Database, *, totals: bool = False) -> Report:
    import time

    from runner.reports import status
    from runner.storage.backend import open_reader
    from runner.storage.lock import holder_pid

    if not isinstance(database, Path):  # PostgreSQL: many processes, no holder
        from runner.storage.pg.reader import PgReader

        if await PgReader.is_empty(database):  # before the first load, as below
            return status.empty_report(time.time())
        async with await open_reader(database) as reader:
            return await status.collect(
                reader, now=time.time(), holder_pid=None, totals=totals, shared=True
            )
    if not database.exists() and database.parent.is_dir():
        # Before the first load: nothing yet, which is no error. (A missing folder is
        # a mistyped path: opening says so.)
        return status.empty_report(time.time())
    async with await open_reader(database) as reader:
        return await status.collect(
            reader, now=time.time(), holder_pid=holder_pid(database), totals=totals
        )


async def _watch(database: Database, interval: float) -> None:
    from rich.live import Live

    from runner.reports import statustable

    console = statustable.terminal()
    draw = statustable.render
    first = draw(await _status(database), console.width)
    with Live(first, console=console, auto_refresh=False) as live:
        try:
            while True:
                await asyncio.sleep(interval)
                live.update(draw(await _status(database), console.width), refresh=True)
        except asyncio.CancelledError:  # Ctrl-C: leave with the figures of this moment
            live.update(draw(await _status(database), console.width), refresh=True)


# -- export ------------------------------------------------------------------------


@cli.command("export")
@config_argument
@click.option("--db", metavar="PATH|URL", help=DB_HELP)
@click.option("--job", "jobs", multiple=True, help="Only this job (repeatable).")
@click.option(
    "--campaign", "campaigns", multiple=True, help="Only records of this campaign (repeatable)."
)
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice((*RECORD_STATES, "duplicate")),
    help="Only records in this state (repeatable; 'duplicate': the input lines that repeat "
    "a number); with --requests, the requests of those.",
)
@click.option(
    "--no-duplicates",
    is_flag=True,
    help="Leave out the duplicate input lines (exported by default, state 'duplicate').",
)
@click.option(
    "--phone",
    "phones",
    multiple=True,
    help="Only this number, however written: separators, + and a leading 0 or country "
    "code on one side only are ignored (repeatable).",
)
@click.option(
    "--requests",
    is_flag=True,
    help="One row per HTTP request (the audit trail) instead of one per record.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(EXPORT_FORMATS),
    default="csv",
    show_default=True,
    help="CSV with a header row, or one JSON object a line.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file (complete, or not at all) instead of stdout.",
)
@click.option(
    "--archive",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Read this archive of `runner prune --archive` instead of the database.",
)
@reports_errors
def export_command(
    config_path: Path,
    db: str | None,
    jobs: tuple[str, ...],
    campaigns: tuple[str, ...],
    states: tuple[str, ...],
    phones: tuple[str, ...],
    requests: bool,
    fmt: str,
    output: Path | None,
    no_duplicates: bool,
    archive: Path | None,
) -> None:
    """One row per record, or per request with --requests, as CSV or JSON lines."""
    from runner.reports import export

    # An archive is read on its own: no config or database is needed.
    database = Path() if archive is not None else database_of(config_path, db)
    try:
        count = asyncio.run(
            export.export_to(
                database,
                output,
                requests=requests,
                fmt=fmt,
                jobs=jobs,
                states=states,
                phones=phones,
                archive=archive,
                duplicates=not no_duplicates,
                campaigns=campaigns,
            )
        )
    except BrokenPipeError:
        # `runner export | head`: the reader has what it wanted. Point stdout at
        # /dev/null so the interpreter's final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(ExitCode.FAILURES)
    if output is not None:
        noun = "request" if requests else "record"
        click.echo(f"{count} {noun}{'' if count == 1 else 's'} written to {output}", err=True)
