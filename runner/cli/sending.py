"""The commands that put work in the queue and send it: load, run, worker, retry."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from runner.cli import F, cli, config_argument, log_options, reports_errors

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
def run(config_path: Path, **asked: Any) -> None:
    """Load (idempotently), then drain every account's queue until nothing is runnable."""
    _send(config_path, Options(**asked))


@cli.command()
@config_argument
@drain_options
@reports_errors
def worker(config_path: Path, **asked: Any) -> None:
    """Drain like run, then wait for more work instead of exiting (for a service).

    SIGINT or SIGTERM stop it gracefully (exit 130 or 143).
    """
    _send(config_path, Options(limit=None, dry_run=False, wait=None, **asked))


@dataclass(frozen=True)
class Options:
    """What run and worker were asked (click's parameters, by name); ``wait`` None means
    a worker."""

    limit: int | None
    dry_run: bool
    wait: bool | None
    workers: int | None
    summary_interval: float
    log_format: str
    verbose: bool
    quiet: bool
    log_numbers: bool


def _send(config_path: Path, asked: Options) -> None:
    from runner import run as runs
    from runner.lifecycle import Budget
    from runner.supervise import DrainOptions

    worker = asked.wait is None
    config, keys, log_format = runs.prepare(
        config_path, asked.log_format, asked.verbose, asked.quiet, worker=worker
    )
    if asked.dry_run:
        asyncio.run(runs.dry_run(config))
        return
    options = runs.RunOptions(
        drain=DrainOptions(asked.workers or config.workers, Budget(asked.limit), asked.log_numbers),
        live=_live(log_format, asked.quiet),
        summary_interval=asked.summary_interval,
        mode="worker" if worker else "run",
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
@reports_errors
def retry(config_path: Path, job_name: str | None, campaign: str | None) -> None:
    """Put failed records and blocked jobs and campaigns back to pending."""
    from runner.config import load_config

    config = load_config(config_path)
    records, blocks = asyncio.run(_retry(config.database, job_name, campaign))
    click.echo(f"{records} failed records and {blocks} blocked jobs are pending again"
               if campaign is None else
               f"{records} failed records and {blocks} blocks of campaign {campaign!r} are "
               "pending again")  # fmt: skip


async def _retry(database: Path, job_name: str | None, campaign: str | None) -> tuple[int, int]:
    from runner.store import Store

    async with await Store.open(database, create=False) as store:
        return await store.retry(job_name, campaign)
