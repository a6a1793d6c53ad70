"""What `runner run`, `worker` and `load` do once the command line is parsed: load the
jobs, then either drain the database (holding it) or hand the jobs over to the process
that holds it, and say how it went."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from runner import dbwatch, progress
from runner.backend import open_store
from runner.clock import SystemClock
from runner.config import Config, load_config
from runner.drain import AccountReport
from runner.errors import ExitCode
from runner.lifecycle import Shutdown
from runner.loader import JobLoad, check_inputs, load_jobs
from runner.lock import RunLock
from runner.logs import configure, get_logger, redactor
from runner.pg.url import PgUrl
from runner.policy import NotFoundWatch
from runner.queue import Job
from runner.safefiles import check_folder
from runner.states import JobState, RecordState
from runner.store import Store
from runner.supervise import DrainOptions, Supervisor

# How often a worker waiting for the database's holder tries the lock.
HOLDER_POLL_SECONDS = 0.5


@dataclass(frozen=True)
class RunOptions:
    drain: DrainOptions
    live: bool  # a live progress table on the terminal, rather than summary log lines
    summary_interval: float
    mode: str = "run"  # or "worker"


async def load(config: Config) -> list[JobLoad]:
    async with await open_store(config.database) as store:
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


def log_loads(loads: Iterable[JobLoad]) -> None:
    for item in loads:
        get_logger().info("loaded", job=item.job, new=item.counts.new,
                          duplicate=item.counts.duplicate, invalid=item.counts.invalid,
                          unchanged=item.unchanged)  # fmt: skip


async def drain_database(
    config: Config,
    api_key: Callable[[str], str],
    options: RunOptions,
    shutdown: Shutdown,
    lock: RunLock | None,
) -> int:
    """Load, then drain the database this process holds (PostgreSQL: shares, lock None);
    returns the exit code."""
    log = get_logger()
    clock = SystemClock()
    async with await open_store(config.database) as store:
        database = config.database
        held = isinstance(database, Path) and lock is not None
        watched = watched_files(database, lock) if isinstance(database, Path) and lock else {}
        log_loads(await load_jobs(store, config))
        # A shared queue's records in flight may be another live process's: each
        # account's are recovered when its lock is taken (runner.supervise).
        recovered = await store.recover_in_flight(clock.time()) if held else 0
        if recovered:
            log.warning("recovered_in_flight", records=recovered)
        await store.clear_account_stops()
        jobs = await store.jobs()
        counts = await store.state_counts()
        names = {job.name for job in config.jobs}
        # The live table shows this run's jobs; the others join it when first drained.
        tracker = progress.Progress([job for job in jobs if job.name in names], counts)

        async def follow(new: Sequence[Job]) -> None:
            tracker.add(new, await store.state_counts())

        supervisor = Supervisor(
            queue=store,
            config=config,
            api_key=api_key,
            options=options.drain,
            shutdown=shutdown,
            clock=clock,
            mode=options.mode,
            guards=not_found_watches(config, jobs, counts),
            on_settled=tracker.settled,
            on_jobs=follow,
        )
        shutdown.install()
        display = asyncio.create_task(
            progress.show(tracker, live=options.live, interval=options.summary_interval)
        )
        gone = asyncio.create_task(dbwatch.watch(watched, shutdown))
        try:
            reports = await supervisor.run()
            tracker.reseed(await store.state_counts())  # the last frame says what run_finished does
        finally:
            for task in (display, gone):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            shutdown.uninstall()
        drained = {job_id for report in reports for job_id in report.drained_jobs}
        mine = [job for job in await store.jobs() if job.name in names or job.id in drained]
        counts = await store.state_counts()
    code = exit_code(shutdown.signum, reports, mine, counts)
    if not gone.cancelled() and gone.result() is not None:
        code = ExitCode.DATABASE_GONE
    finished(code, mine, counts, sent=sum(r.sent for r in reports),
             stopped=sorted({r.account for r in reports if r.stopped}))  # fmt: skip
    return code


def watched_files(database: Path, lock: RunLock) -> dict[Path, dbwatch.FileId]:
    """The database and lock files this process holds, by identity; the lock says which."""
    opened = dbwatch.file_id(database)
    assert opened is not None  # just opened (created if need be) by the store
    lock.describe(f"{os.getpid()}\n{opened}\n")
    return {database: opened, lock.path: lock.identity()}


def not_found_watches(
    config: Config, jobs: Sequence[Job], counts: dict[int, dict[str, int]]
) -> dict[int, NotFoundWatch]:
    """A watch per guarded job of the config, counting from its recorded answers."""
    guards = {job.name: job.not_found_guard for job in config.jobs if job.not_found_guard}
    watches = {}
    for job in jobs:
        guard = guards.get(job.name)
        if guard is None or job.guard_cleared:
            continue
        done = counts.get(job.id, {})
        answered = done.get(RecordState.DELETED, 0) + done.get(RecordState.NOT_FOUND, 0)
        watches[job.id] = NotFoundWatch(
            guard.sample, guard.max_ratio, answered, done.get(RecordState.NOT_FOUND, 0)
        )
    return watches


def finished(
    code: int, jobs: Sequence[Job], counts: dict[int, dict[str, int]], *, sent: int,
    stopped: list[str],
) -> None:  # fmt: skip
    def total(*states: RecordState) -> int:
        return sum(counts.get(job.id, {}).get(state, 0) for job in jobs for state in states)

    get_logger().info(
        "run_finished",
        exit_code=int(code),
        sent=sent,
        deleted=total(RecordState.DELETED),
        not_found=total(RecordState.NOT_FOUND),
        failed=total(RecordState.FAILED),
        pending=total(RecordState.PENDING, RecordState.IN_FLIGHT),
        blocked=[job.name for job in jobs if job.state == JobState.BLOCKED],
        stopped_accounts=stopped,
    )


def exit_code(
    signum: int | None,
    reports: Sequence[AccountReport],
    jobs: Sequence[Job],
    counts: dict[int, dict[str, int]],
) -> int:
    """A signal, then an account stop, then failures or blocks, else success."""
    if signum == signal.SIGINT:
        return ExitCode.SIGINT
    if signum == signal.SIGTERM:
        return ExitCode.SIGTERM
    if signum == signal.SIGHUP:
        return ExitCode.SIGHUP
    if any(report.stopped for report in reports):
        return ExitCode.AUTH
    failed = any(counts.get(job.id, {}).get(RecordState.FAILED, 0) for job in jobs)
    if failed or any(job.state == JobState.BLOCKED or job.blocked_campaigns for job in jobs):
        return ExitCode.FAILURES
    return ExitCode.OK


async def dry_run(config: Config) -> None:
    """Load into a throw-away in-memory database and say what a run would send."""
    console = Console()
    async with await Store.open(":memory:") as store:
        print_loads(await load_jobs(store, config), console)
        for job in config.jobs:
            account = config.accounts[job.account]
            pending = [row async for row in store.export_rows([job.name], [RecordState.PENDING])]
            rate = account.rate_limit
            minutes = len(pending) * rate.period_seconds / rate.count / 60
            console.print(
                f"would send {len(pending)} requests for job {job.name!r}: DELETE "
                f"{account.base_url}/ca_apis/deleteCampaignData, "
                f"campaign {', '.join(job.campaigns)!r}, "
                f"account {account.name!r} at {rate} (about {minutes:.0f} min)"
            )
            for row in pending[:3]:
                console.print(f"  e.g. line {row[3]}: {row[4]}", highlight=False)
    console.print("dry run: nothing was sent and no database was written")


def prepare(
    config_path: Path, log_format: str, verbose: bool, quiet: bool, *, worker: bool
) -> tuple[Config, Callable[[str], str], str]:
    """The config, its keys (read now for the accounts that will be needed), the log format.

    A worker needs every account's key; a run those of its jobs' accounts now, and
    another's only if a job loaded by someone else names it.
    """
    config = load_config(config_path, jobs_required=not worker)
    needed = sorted(config.accounts) if worker else sorted({j.account for j in config.jobs})
    keys = {name: config.accounts[name].api_key() for name in needed}
    log_format = configure(log_format, -1 if quiet else int(verbose), secrets=keys.values())

    def api_key(name: str) -> str:
        if name not in keys:
            keys[name] = config.accounts[name].api_key()
            redactor.add(keys[name])
        return keys[name]

    check_inputs(config)
    # Before loading anything: a folder others may write could redirect our files.
    if isinstance(config.database, Path):  # a PostgreSQL queue has no folder
        check_folder(config.database.parent, "the database's folder")
    check_folder(config.state_dir, "state_dir")
    return config, api_key, log_format


def drain_or_hand_over(
    config: Config, api_key: Callable[[str], str], options: RunOptions, *, wait: bool | None
) -> int:
    """Hold the database and drain it; or, when another runner holds it, hand over.

    ``wait`` None (a worker): no hand-over, another holder is an error (exit 4).
    """
    from runner.handover import hand_over

    shutdown = Shutdown(deadline=config.stop_deadline_seconds)
    if isinstance(config.database, PgUrl):
        # Many processes drain a PostgreSQL queue side by side: no database lock,
        # one sender per account (runner.pg.lock), and nothing to hand over.
        with shutdown.guard(restore=False):
            return asyncio.run(drain_database(config, api_key, options, shutdown, None))
    lock = RunLock(config.database)
    # From here to the process's exit, a signal is noted, never a KeyboardInterrupt.
    with shutdown.guard(restore=False):
        try:
            if wait is None:
                if not wait_for_holder(lock, shutdown):
                    return exit_code(shutdown.signum, [], [], {})
            elif not lock.try_acquire():
                asyncio.run(load(config))
                code = asyncio.run(hand_over(config, lock, time.time(), wait))
                if code is not None:
                    return code
            return asyncio.run(drain_database(config, api_key, options, shutdown, lock))
        finally:
            lock.release()


def wait_for_holder(lock: RunLock, shutdown: Shutdown) -> bool:
    """A worker finding the database held (a nightly ``run``) waits for it, then works.

    Exiting 4 would leave a service with RestartPreventExitStatus=4 down for good.
    False when a signal came first.
    """
    said = False
    while not lock.try_acquire():
        if shutdown.signum is not None:
            return False
        if not said:
            holder = (lock.holder() or ["?"])[0]
            get_logger().warning("waiting_for_database", holder_pid=holder,
                                 hint="another runner holds it; this worker starts after it")
            said = True
        time.sleep(HOLDER_POLL_SECONDS)
    return shutdown.signum is None
