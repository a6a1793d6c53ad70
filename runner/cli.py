"""The ``runner`` command line (SPEC §4): parse, call the modules, set the exit code."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import sqlite3
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.live import Live
from rich.table import Table

from runner import __version__, export, metrics, progress, status
from runner.config import Config, load_config
from runner.drain import AccountReport, Budget, Shutdown, drain
from runner.errors import ExitCode, RunnerError
from runner.loader import JobLoad, check_inputs, load_jobs
from runner.lock import RunLock, holder_pid
from runner.logs import configure, get_logger
from runner.progress import Progress
from runner.sandbox import sandbox_command
from runner.store import Store

F = TypeVar("F", bound=Callable[..., Any])

config_argument = click.argument(
    "config_path",
    metavar="[CONFIG]",
    required=False,
    default="jobs.yaml",
    type=click.Path(dir_okay=False, path_type=Path),
)


def log_options(command: F) -> F:
    """--log-format, -v, -q and --log-numbers, for the commands that log."""
    options = [
        click.option(
            "--log-format",
            type=click.Choice(["auto", "json", "console"]),
            default="auto",
            show_default=True,
            help="JSON lines off a terminal, readable lines on one (auto).",
        ),
        click.option("-v", "--verbose", is_flag=True, help="Log every request."),
        click.option("-q", "--quiet", is_flag=True, help="Log warnings and errors only."),
        click.option(
            "--log-numbers",
            is_flag=True,
            help="Show phone numbers in logs in full (masked by default).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def reports_errors(command: F) -> F:
    """Turn a RunnerError into its one-line message and exit code: no traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except RunnerError as error:
            click.echo(f"runner: error: {error}", err=True)
            sys.exit(error.exit_code)
        except (OSError, sqlite3.Error) as error:
            # The environment failed us (a disk, a permission): say so in one line.
            click.echo(f"runner: error: {type(error).__name__}: {error}", err=True)
            sys.exit(ExitCode.FAILURES)

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="runner")
def cli() -> None:
    """Delete phone numbers from CloudAgent campaigns, paced, resumable, recorded."""


cli.add_command(sandbox_command)


def main() -> None:
    cli()


# -- load ----------------------------------------------------------------------


@cli.command()
@config_argument
@reports_errors
def load(config_path: Path) -> None:
    """Validate the config and inputs, and enqueue their records."""
    config = load_config(config_path)
    check_inputs(config)
    with RunLock(config.database):
        loads = asyncio.run(_load(config))
    print_loads(loads)


async def _load(config: Config) -> list[JobLoad]:
    async with await Store.open(config.database) as store:
        return await load_jobs(store, config)


def print_loads(loads: Sequence[JobLoad], console: Console | None = None) -> None:
    table = Table(title="loaded", title_justify="left")
    for column in ("job", "new", "duplicate", "invalid"):
        table.add_column(column, justify="left" if column == "job" else "right")
    for item in loads:
        if item.unchanged:
            table.add_row(item.job, "[dim]input unchanged since last load[/dim]", "", "")
        else:
            counts = item.counts
            table.add_row(item.job, str(counts.new), str(counts.duplicate), str(counts.invalid))
    (console or Console()).print(table)


# -- run -------------------------------------------------------------------------


@cli.command()
@config_argument
@click.option("--workers", type=click.IntRange(1, 64), help="Concurrent requests per account.")
@click.option("--limit", type=click.IntRange(0), help="Send at most N requests, then stop.")
@click.option(
    "--dry-run", is_flag=True, help="Validate and count; send nothing, write no database."
)
@click.option(
    "--summary-interval",
    type=click.FloatRange(1),
    default=60.0,
    show_default=True,
    help="Off a terminal, log a progress line this often (seconds).",
)
@log_options
@reports_errors
def run(
    config_path: Path,
    workers: int | None,
    limit: int | None,
    dry_run: bool,
    summary_interval: float,
    log_format: str,
    verbose: bool,
    quiet: bool,
    log_numbers: bool,
) -> None:
    """Load (idempotently), then drain every account's queue until nothing is runnable."""
    config = load_config(config_path)
    api_keys = {name: config.accounts[name].api_key() for name in config_accounts_in_use(config)}
    log_format = configure(log_format, -1 if quiet else int(verbose), secrets=api_keys.values())
    check_inputs(config)
    if dry_run:
        asyncio.run(_dry_run(config))
        return
    options = RunOptions(
        workers=workers or config.workers,
        budget=Budget(limit),
        log_numbers=log_numbers,
        live=log_format == "console" and sys.stderr.isatty() and not quiet,
        summary_interval=summary_interval,
    )
    with RunLock(config.database):
        code = asyncio.run(_run(config, api_keys, options))
    sys.exit(code)


@dataclass(frozen=True)
class RunOptions:
    workers: int
    budget: Budget
    log_numbers: bool
    live: bool  # a live progress table on the terminal, rather than summary log lines
    summary_interval: float


def config_accounts_in_use(config: Config) -> list[str]:
    return sorted({job.account for job in config.jobs})


async def _run(config: Config, api_keys: dict[str, str], options: RunOptions) -> int:
    log = get_logger()
    async with await Store.open(config.database) as store:
        for item in await load_jobs(store, config):
            log.info(
                "loaded",
                job=item.job,
                new=item.counts.new,
                duplicate=item.counts.duplicate,
                invalid=item.counts.invalid,
                unchanged=item.unchanged,
            )
        recovered = await store.recover_in_flight()
        if recovered:
            log.warning("recovered_in_flight", records=recovered)
        await store.clear_account_stops()
        names = {job.name for job in config.jobs}
        jobs = [job for job in await store.jobs() if job.name in names]
        await warn_about_jobs_left_behind(store, names)
        tracker = Progress(jobs, await store.state_counts())
        shutdown = Shutdown()
        shutdown.install()
        display = asyncio.create_task(
            progress.show(tracker, live=options.live, interval=options.summary_interval)
        )
        try:
            reports = await drain(
                store,
                config.accounts,
                api_keys,
                jobs,
                retry=config.retry,
                workers=options.workers,
                budget=options.budget,
                shutdown=shutdown,
                log_numbers=options.log_numbers,
                progress=tracker,
                guards={j.name: j.not_found_guard for j in config.jobs if j.not_found_guard},
            )
        finally:
            display.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await display
            shutdown.uninstall()
        report = await status.collect(store, runner_pid=None)
    mine = [job for job in report["jobs"] if job["name"] in names]
    code = exit_code(shutdown.signum, reports, mine)
    log.info(
        "run_finished",
        exit_code=int(code),
        sent=sum(r.sent for r in reports),
        deleted=sum(j["deleted"] for j in mine),
        not_found=sum(j["not_found"] for j in mine),
        failed=sum(j["failed"] for j in mine),
        pending=sum(j["pending"] + j["in_flight"] for j in mine),
        blocked=[j["name"] for j in mine if j["state"] == "blocked"],
        stopped_accounts=[r.account for r in reports if r.stopped],
    )
    return code


async def warn_about_jobs_left_behind(store: Store, names: set[str]) -> None:
    """Jobs with work left that this config no longer names (yesterday's `dnc-{date}`)."""
    counts = await store.state_counts()
    for job in await store.jobs():
        left = counts.get(job.id, {}).get("pending", 0)
        if job.name not in names and left:
            get_logger().warning(
                "job_not_in_config",
                job=job.name,
                pending=left,
                hint="it is not drained by this run; add it back to the config to finish it",
            )


def exit_code(
    signum: int | None, reports: Sequence[AccountReport], jobs: Sequence[dict[str, Any]]
) -> int:
    """SPEC §4: a signal, then an auth stop, then failures or blocks, else success."""
    if signum == signal.SIGINT:
        return ExitCode.SIGINT
    if signum == signal.SIGTERM:
        return ExitCode.SIGTERM
    if any(report.stopped for report in reports):
        return ExitCode.AUTH
    if any(job["failed"] or job["state"] == "blocked" for job in jobs):
        return ExitCode.FAILURES
    return ExitCode.OK


async def _dry_run(config: Config) -> None:
    """Load into a throw-away in-memory database and say what a run would send."""
    async with await Store.open(":memory:") as store:
        loads = await load_jobs(store, config)
        print_loads(loads)
        console = Console()
        for job in config.jobs:
            account = config.accounts[job.account]
            pending = [row async for row in store.export_rows(job.name, "pending")]
            rate = account.rate_limit
            minutes = len(pending) * rate.period_seconds / rate.count / 60
            console.print(
                f"would send {len(pending)} requests for job {job.name!r}: DELETE "
                f"{account.base_url}/ca_apis/deleteCampaignData, campaign {job.campaign!r}, "
                f"account {account.name!r} at {rate} (about {minutes:.0f} min)"
            )
            for row in pending[:3]:
                console.print(f"  e.g. line {row[3]}: {row[4]}", highlight=False)
    console.print("dry run: nothing was sent and no database was written")


# -- status ----------------------------------------------------------------------


def database_of(config_path: Path, db: Path | None) -> Path:
    return db if db is not None else load_config(config_path).database


@cli.command("status")
@config_argument
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), help="Read this database.")
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
@reports_errors
def status_command(
    config_path: Path,
    db: Path | None,
    as_json: bool,
    watch: bool,
    interval: float,
    prometheus: Path | None,
) -> None:
    """Progress per job and in total: counts, failures, blocks, rate and ETA."""
    if prometheus is not None and (as_json or watch):
        raise click.UsageError("--prometheus cannot be combined with --json or --watch")
    database = database_of(config_path, db)
    if prometheus is not None:
        report = asyncio.run(_status(database))
        if str(prometheus) == "-":
            click.echo(metrics.render(report), nl=False)
        else:
            metrics.write_textfile(report, prometheus)
    elif as_json:
        click.echo(status.to_json(asyncio.run(_status(database))))
    elif watch:
        asyncio.run(_watch(database, interval))
    else:
        status.print_report(asyncio.run(_status(database)))


async def _status(database: Path) -> dict[str, Any]:
    async with await Store.open(database, create=False) as store:
        return await status.collect(store, runner_pid=holder_pid(database))


async def _watch(database: Path, interval: float) -> None:
    with Live(status.render(await _status(database)), auto_refresh=False) as live:
        try:
            while True:
                await asyncio.sleep(interval)
                live.update(status.render(await _status(database)), refresh=True)
        except asyncio.CancelledError:
            pass


# -- retry -------------------------------------------------------------------------


@cli.command()
@config_argument
@click.option("--job", "job_name", help="Only this job.")
@reports_errors
def retry(config_path: Path, job_name: str | None) -> None:
    """Put failed records and blocked jobs back to pending."""
    config = load_config(config_path)
    with RunLock(config.database):
        records, jobs = asyncio.run(_retry(config.database, job_name))
    click.echo(f"{records} failed records and {jobs} blocked jobs are pending again")


async def _retry(database: Path, job_name: str | None) -> tuple[int, int]:
    async with await Store.open(database, create=False) as store:
        return await store.retry(job_name)


# -- export ------------------------------------------------------------------------


@cli.command("export")
@config_argument
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), help="Read this database.")
@click.option("--job", "jobs", multiple=True, help="Only this job (repeatable).")
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice(list(status.STATES)),
    help="Only records in this state (repeatable); with --requests, the requests of those.",
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
    type=click.Choice(list(export.FORMATS)),
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
@reports_errors
def export_command(
    config_path: Path,
    db: Path | None,
    jobs: tuple[str, ...],
    states: tuple[str, ...],
    phones: tuple[str, ...],
    requests: bool,
    fmt: str,
    output: Path | None,
) -> None:
    """One row per record, or per request with --requests, as CSV or JSON lines."""
    database = database_of(config_path, db)
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
