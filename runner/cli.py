"""The ``runner`` command line (docs/contract.md §4): parse, call the modules, set the exit code.

Each command imports what it needs when it runs, so that `runner status` does not
pay for aiohttp, pydantic and the sandbox before it can print anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from runner import __version__
from runner.errors import ExitCode, RunnerError
from runner.states import RECORD_STATES

if TYPE_CHECKING:
    from runner.config import Config
    from runner.report import Report

F = TypeVar("F", bound=Callable[..., Any])
EXPORT_FORMATS = ("csv", "jsonl")  # runner.export.FORMATS; a test keeps the two equal

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


class Commands(click.Group):
    """The group, with `sandbox` loaded only when asked for (it brings aiohttp's server)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), "sandbox"])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name == "sandbox":
            from runner.sandbox import sandbox_command

            return sandbox_command
        return super().get_command(ctx, name)


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="runner")
def cli() -> None:
    """Delete phone numbers from CloudAgent campaigns, paced, resumable, recorded."""


def main() -> None:
    cli()


# -- load ----------------------------------------------------------------------


@cli.command()
@config_argument
@reports_errors
def load(config_path: Path) -> None:
    """Validate the config and inputs, and enqueue their records.

    Works while a run or worker drains the same database: that process sends them.
    """
    from runner import run as runs
    from runner.config import load_config
    from runner.loader import check_inputs

    config = load_config(config_path)
    check_inputs(config)
    loads = asyncio.run(runs.load(config))
    runs.print_loads(loads)


# -- run and worker --------------------------------------------------------------


def drain_options(command: F) -> F:
    """--workers, --summary-interval and the log options, for run and worker."""
    options = [
        click.option(
            "--workers", type=click.IntRange(1, 64), help="Concurrent requests per account."
        ),
        click.option(
            "--summary-interval",
            type=click.FloatRange(1),
            default=60.0,
            show_default=True,
            help="Off a terminal, log a progress line this often (seconds).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return log_options(command)


@cli.command()
@config_argument
@click.option("--limit", type=click.IntRange(0), help="Send at most N requests, then stop.")
@click.option(
    "--dry-run", is_flag=True, help="Validate and count; send nothing, write no database."
)
@click.option(
    "--wait",
    is_flag=True,
    help="When another runner holds the database, wait until this run's jobs are final "
    "(it sends them) and exit with their code, instead of exiting 4 at once.",
)
@drain_options
@reports_errors
def run(
    config_path: Path,
    limit: int | None,
    dry_run: bool,
    wait: bool,
    workers: int | None,
    summary_interval: float,
    log_format: str,
    verbose: bool,
    quiet: bool,
    log_numbers: bool,
) -> None:
    """Load (idempotently), then drain every account's queue until nothing is runnable."""
    from runner import run as runs
    from runner.lifecycle import Budget
    from runner.supervise import DrainOptions

    config, keys, log_format = runs.prepare(config_path, log_format, verbose, quiet, worker=False)
    if dry_run:
        asyncio.run(runs.dry_run(config))
        return
    options = runs.RunOptions(
        drain=DrainOptions(workers or config.workers, Budget(limit), log_numbers),
        live=_live(log_format, quiet),
        summary_interval=summary_interval,
    )
    sys.exit(runs.drain_or_hand_over(config, keys, options, wait=wait))


@cli.command()
@config_argument
@drain_options
@reports_errors
def worker(
    config_path: Path,
    workers: int | None,
    summary_interval: float,
    log_format: str,
    verbose: bool,
    quiet: bool,
    log_numbers: bool,
) -> None:
    """Drain like run, then wait for more work instead of exiting (for a service).

    SIGINT or SIGTERM stop it gracefully (exit 130 or 143).
    """
    from runner import run as runs
    from runner.lifecycle import Budget
    from runner.supervise import DrainOptions

    config, keys, log_format = runs.prepare(config_path, log_format, verbose, quiet, worker=True)
    options = runs.RunOptions(
        drain=DrainOptions(workers or config.workers, Budget(None), log_numbers),
        live=_live(log_format, quiet),
        summary_interval=summary_interval,
        mode="worker",
    )
    sys.exit(runs.drain_or_hand_over(config, keys, options, wait=None))


def _live(log_format: str, quiet: bool) -> bool:
    """A live progress table on the terminal, rather than summary log lines."""
    return log_format == "console" and sys.stderr.isatty() and not quiet


# -- status ----------------------------------------------------------------------


def database_of(config_path: Path, db: Path | None) -> Path:
    if db is not None:
        return db
    from runner.config import load_config

    config: Config = load_config(config_path)
    return config.database


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
    from runner import metrics, status

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
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how one leaves --watch
            asyncio.run(_watch(database, interval))
    else:
        status.print_report(asyncio.run(_status(database)))


async def _status(database: Path) -> Report:
    import time

    from runner import status
    from runner.lock import holder_pid
    from runner.store import Store

    async with await Store.open_readonly(database) as reader:
        return await status.collect(reader, now=time.time(), holder_pid=holder_pid(database))


async def _watch(database: Path, interval: float) -> None:
    from rich.live import Live

    from runner import status

    first = status.render(await _status(database))
    with Live(first, console=status.terminal(), auto_refresh=False) as live:
        try:
            while True:
                await asyncio.sleep(interval)
                live.update(status.render(await _status(database)), refresh=True)
        except asyncio.CancelledError:  # Ctrl-C: leave with the figures of this moment
            live.update(status.render(await _status(database)), refresh=True)


# -- retry -------------------------------------------------------------------------


@cli.command()
@config_argument
@click.option("--job", "job_name", help="Only this job.")
@reports_errors
def retry(config_path: Path, job_name: str | None) -> None:
    """Put failed records and blocked jobs back to pending."""
    from runner.config import load_config

    config = load_config(config_path)
    records, jobs = asyncio.run(_retry(config.database, job_name))
    click.echo(f"{records} failed records and {jobs} blocked jobs are pending again")


async def _retry(database: Path, job_name: str | None) -> tuple[int, int]:
    from runner.store import Store

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
    type=click.Choice(RECORD_STATES),
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
    from runner import export

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
