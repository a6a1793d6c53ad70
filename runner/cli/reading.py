"""The commands that only read the database, read-only: status and export."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from runner.cli import EXPORT_FORMATS, cli, config_argument, reports_errors
from runner.errors import ExitCode
from runner.states import RECORD_STATES

if TYPE_CHECKING:
    from runner.config import Config
    from runner.report import Report


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


# -- export ------------------------------------------------------------------------


@cli.command("export")
@config_argument
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), help="Read this database.")
@click.option("--job", "jobs", multiple=True, help="Only this job (repeatable).")
@click.option(
    "--campaign", "campaigns", multiple=True, help="Only records of this campaign (repeatable)."
)
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
    campaigns: tuple[str, ...],
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
