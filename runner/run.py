"""What `runner run` (and `load`) do, once the command line is parsed: load the jobs,
recover from a crash, drain every account, and say how it went."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from runner import progress, status
from runner.config import Config
from runner.drain import AccountReport, Budget, Shutdown, drain
from runner.errors import ExitCode
from runner.loader import JobLoad, load_jobs
from runner.logs import get_logger
from runner.report import JobStatus
from runner.states import JobState
from runner.store import Job, Store


@dataclass(frozen=True)
class RunOptions:
    workers: int
    budget: Budget
    log_numbers: bool
    live: bool  # a live progress table on the terminal, rather than summary log lines
    summary_interval: float


def accounts_in_use(config: Config) -> list[str]:
    """The accounts some job sends with: only their keys are needed."""
    return sorted({job.account for job in config.jobs})


async def load(config: Config) -> list[JobLoad]:
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


async def run(config: Config, api_keys: dict[str, str], options: RunOptions) -> int:
    """A whole run; returns its exit code (SPEC §4)."""
    log = get_logger()
    async with await Store.open(config.database) as store:
        for item in await load_jobs(store, config):
            log.info("loaded", job=item.job, new=item.counts.new,
                     duplicate=item.counts.duplicate, invalid=item.counts.invalid,
                     unchanged=item.unchanged)  # fmt: skip
        recovered = await store.recover_in_flight()
        if recovered:
            log.warning("recovered_in_flight", records=recovered)
        await store.clear_account_stops()
        names = {job.name for job in config.jobs}
        jobs = [job for job in await store.jobs() if job.name in names]
        await warn_about_jobs_left_behind(store, names)
        shutdown = Shutdown()
        reports = await drain_with_progress(store, config, api_keys, jobs, options, shutdown)
        report = await status.collect(status.StoreReader(store), now=time.time(), holder_pid=None)
    mine = [job for job in report.jobs if job.name in names]
    code = exit_code(shutdown.signum, reports, mine)
    log.info(
        "run_finished",
        exit_code=int(code),
        sent=sum(r.sent for r in reports),
        deleted=sum(j.counts.deleted for j in mine),
        not_found=sum(j.counts.not_found for j in mine),
        failed=sum(j.counts.failed for j in mine),
        pending=sum(j.counts.left for j in mine),
        blocked=[j.name for j in mine if j.state is JobState.BLOCKED],
        stopped_accounts=[r.account for r in reports if r.stopped],
    )
    return code


async def drain_with_progress(
    store: Store,
    config: Config,
    api_keys: dict[str, str],
    jobs: Sequence[Job],
    options: RunOptions,
    shutdown: Shutdown,
) -> list[AccountReport]:
    """The drain, with signals handled and progress shown while it goes."""
    tracker = progress.Progress(jobs, await store.state_counts())
    shutdown.install()
    display = asyncio.create_task(
        progress.show(tracker, live=options.live, interval=options.summary_interval)
    )
    try:
        return await drain(
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
    signum: int | None, reports: Sequence[AccountReport], jobs: Sequence[JobStatus]
) -> int:
    """SPEC §4: a signal, then an auth stop, then failures or blocks, else success."""
    if signum == signal.SIGINT:
        return ExitCode.SIGINT
    if signum == signal.SIGTERM:
        return ExitCode.SIGTERM
    if any(report.stopped for report in reports):
        return ExitCode.AUTH
    if any(job.counts.failed or job.state is JobState.BLOCKED for job in jobs):
        return ExitCode.FAILURES
    return ExitCode.OK


async def dry_run(config: Config) -> None:
    """Load into a throw-away in-memory database and say what a run would send."""
    console = Console()
    async with await Store.open(":memory:") as store:
        print_loads(await load_jobs(store, config), console)
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
