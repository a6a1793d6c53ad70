"""The commands that put work in the queue and send it: load, run, worker, retry."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from runner.cli.group import F, cli, config_argument, log_options, reports_errors
from runner.storage.pg.url import Database

if TYPE_CHECKING:
    from runner.sending.supervise import Mode
    from runner.storage.db.pruning import Pruned
    from runner.storage.pg.store import PgStore
    from runner.storage.store import Store

# -- load ----------------------------------------------------------------------


@cli.command()
@config_argument
@reports_errors
def load(config_path: Path) -> None:
    """Validate the config and inputs, and enqueue their records.

    Works while a run or worker drains the same database: that process sends them.
    """
    from runner.cli.loads import print_loads
    from runner.commands import loader
    from runner.config import load_config
    from runner.core.logs import configure

    # Off a terminal (cron's load.log) JSON lines, like every other command's log.
    log_format = configure("auto")
    config = load_config(config_path)
    loader.check_inputs(config)  # before the database is created: exit 2 leaves nothing behind
    loads = asyncio.run(loader.load(config, checked=True))
    if log_format == "json":
        loader.log_loads(loads)
    else:
        print_loads(loads)


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
def run(config_path: Path, **asked: Any) -> None:
    """Load (idempotently), then drain every account's queue until nothing is runnable."""
    _send(config_path, Options(**asked), "run")


@cli.command()
@config_argument
@drain_options
@reports_errors
def worker(config_path: Path, **asked: Any) -> None:
    """Drain like run, then wait for more work instead of exiting (for a service).

    SIGINT or SIGTERM stop it gracefully (exit 130 or 143).
    """
    _send(config_path, Options(limit=None, dry_run=False, wait=False, **asked), "worker")


@dataclass(frozen=True)
class Options:
    """What run and worker were asked (click's parameters, by name)."""

    limit: int | None
    dry_run: bool
    wait: bool
    workers: int | None
    summary_interval: float
    log_format: str
    verbose: bool
    quiet: bool
    log_numbers: bool


def _send(config_path: Path, asked: Options, mode: Mode) -> None:
    from runner.cli.loads import dry_run
    from runner.cli.prepare import prepare
    from runner.commands import run as runs
    from runner.core.lifecycle import Budget
    from runner.sending.supervise import DrainOptions

    config, keys, log_format = prepare(
        config_path, asked.log_format, asked.verbose, asked.quiet, worker=mode == "worker"
    )
    if asked.dry_run:
        asyncio.run(dry_run(config))
        return
    options = runs.RunOptions(
        drain=DrainOptions(asked.workers or config.workers, Budget(asked.limit), asked.log_numbers),
        live=_live(log_format, asked.quiet),
        summary_interval=asked.summary_interval,
        mode=mode,
    )
    sys.exit(runs.drain_or_hand_over(config, keys, options, wait=asked.wait))


def _live(log_format: str, quiet: bool) -> bool:
    """A live progress table on the terminal, rather than summary log lines."""
    return log_format == "console" and sys.stderr.isatty() and not quiet


# -- retry -------------------------------------------------------------------------


@cli.command()
@config_argument
@click.option("--job", "job_name", help="Only this job.")
@click.option("--campaign", help="Only this campaign's failed records and block.")
@click.option(
    "--cancelled",
    is_flag=True,
    help="Bring cancelled records back to pending instead (`runner cancel` undone).",
)
@reports_errors
def retry(
    config_path: Path, job_name: str | None, campaign: str | None, cancelled: bool
) -> None:
    """Put failed records and blocked jobs and campaigns back to pending (or, with
    --cancelled, the records `runner cancel` took out)."""
    from runner.config import load_config

    config = load_config(config_path, jobs_required=False)
    if cancelled:
        count = asyncio.run(_retry_cancelled(config.database, job_name, campaign))
        click.echo(f"{count} cancelled records are pending again")
        return
    records, blocks = asyncio.run(_retry(config.database, job_name, campaign))
    click.echo(f"{records} failed records and {blocks} blocked jobs are pending again"
               if campaign is None else
               f"{records} failed records and {blocks} blocks of campaign {campaign!r} are "
               "pending again")  # fmt: skip


async def _retry(database: Database, job_name: str | None, campaign: str | None) -> tuple[int, int]:
    from runner.storage.backend import open_store

    async with await open_store(database, create=False) as store:
        await _known(store, [job_name] if job_name else [])
        return await store.retry(job_name, campaign)


# -- cancel ------------------------------------------------------------------------


@cli.command()
@config_argument
@click.option("--job", "job_names", multiple=True, help="Cancel this job (repeatable).")
@click.option("--all-pending", is_flag=True, help="Cancel every job's pending records.")
@click.option("--campaign", help="Only this campaign's pending records.")
@reports_errors
def cancel(
    config_path: Path, job_names: tuple[str, ...], all_pending: bool, campaign: str | None
) -> None:
    """Take a job's pending records out: they become `cancelled` and are never sent.

    Works while a run or worker drains the database (requests under way finish).
    `runner retry --job NAME --cancelled` brings them back.
    """
    from runner.config import load_config

    if bool(job_names) == all_pending:
        raise click.UsageError("name the jobs with --job NAME, or give --all-pending")
    config = load_config(config_path, jobs_required=False)
    count = asyncio.run(_cancel(config.database, list(job_names), campaign))
    which = ", ".join(job_names) if job_names else "every job"
    which += "" if campaign is None else f" (campaign {campaign!r})"
    click.echo(f"{count} pending records of {which} are cancelled")


# -- prune -------------------------------------------------------------------------


def _age(ctx: click.Context, param: click.Parameter, value: str) -> float:
    from runner.storage.db.pruning import age_seconds

    seconds = age_seconds(value)
    if seconds is None:
        raise click.BadParameter(f"{value!r}: give an age such as 30d, 12h, 90m or 2w")
    return seconds


@cli.command()
@config_argument
@click.option(
    "--finished-before",
    "age",
    metavar="AGE",
    required=True,
    callback=_age,
    help="Remove jobs whose last record finished longer ago than this (30d, 12h, 2w).",
)
@click.option(
    "--archive",
    type=click.Path(dir_okay=False, path_type=Path),
    help="First write the jobs' records and requests to this file (.jsonl.gz), which "
    "`runner export --archive FILE` reads back.",
)
@reports_errors
def prune(config_path: Path, age: float, archive: Path | None) -> None:
    """Remove final jobs (their records and requests) from the database.

    Only jobs with nothing pending, in flight or blocked are removed: nothing
    unfinished ever is. `runner status` and the metrics then no longer show them.
    """
    from runner.config import load_config

    if archive is not None and not archive.parent.is_dir():
        raise click.UsageError(f"--archive {archive}: folder {archive.parent} is missing")
    config = load_config(config_path, jobs_required=False)
    pruned = asyncio.run(_prune(config.database, age, archive))
    where = f", archived to {archive}" if archive is not None and pruned.jobs else ""
    names = ", ".join(pruned.jobs) or "no job was final for long enough"
    counts = f"{pruned.records} records, {pruned.requests} requests"
    click.echo(f"pruned {len(pruned.jobs)} jobs ({counts}){where}: {names}")


async def _prune(database: Database, age: float, archive: Path | None) -> Pruned:
    import time

    from runner.reports import archive as archives
    from runner.reports.export import RECORD_COLUMNS, REQUEST_COLUMNS
    from runner.storage.backend import open_store

    def write(_: object, records: list[Any], requests: list[Any]) -> None:
        assert archive is not None
        archives.write(archive, RECORD_COLUMNS, records, REQUEST_COLUMNS, requests)

    now = time.time()
    async with await open_store(database, create=False) as store:
        return await store.prune(now - age, now, write if archive is not None else None)


async def _cancel(database: Database, job_names: list[str], campaign: str | None) -> int:
    import time

    from runner.storage.backend import open_store

    async with await open_store(database, create=False) as store:
        await _known(store, job_names)
        return await store.cancel(job_names, time.time(), campaign)


async def _retry_cancelled(database: Database, job_name: str | None, campaign: str | None) -> int:
    from runner.storage.backend import open_store

    async with await open_store(database, create=False) as store:
        await _known(store, [job_name] if job_name else [])
        return await store.retry_cancelled(job_name, campaign)


async def _known(store: Store | PgStore, names: list[str]) -> None:
    """A usage error (exit 2, nothing changed) for a job name the database lacks."""
    known = set(await store.job_names())
    unknown = [name for name in names if name not in known]
    if unknown:
        raise click.UsageError(f"no such job in {store.path}: {', '.join(unknown)}")
