"""What `runner run`, `worker` and `load` do once the command line is parsed: load the
jobs, then either drain the database (holding it) or hand the jobs over to the process
that holds it, and say how it went."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from runner.commands.handover import hand_over
from runner.commands.loader import load, load_jobs, log_loads
from runner.commands.outcome import exit_code, finished
from runner.config import Config
from runner.core.clock import SystemClock
from runner.core.errors import ExitCode
from runner.core.lifecycle import Shutdown
from runner.core.logs import get_logger
from runner.reports import progress
from runner.sending.supervise import DrainOptions, Mode, Supervisor
from runner.storage import dbwatch
from runner.storage.backend import open_store
from runner.storage.lock import RunLock
from runner.storage.pg.url import PgUrl
from runner.storage.queue import Job

# How often a worker waiting for the database's holder tries the lock.
HOLDER_POLL_SECONDS = 0.5


@dataclass(frozen=True)
class RunOptions:
    drain: DrainOptions
    live: bool  # a live progress table on the terminal, rather than summary log lines
    summary_interval: float
    mode: Mode = "run"


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
        log_loads(await load_jobs(store, config, checked=True))
        # A shared queue's records in flight may be another live process's: each
        # account's are recovered when its lock is taken (runner.sending.supervise).
        recovered = await store.recover_in_flight(clock.time()) if held else 0
        if recovered:
            log.warning("recovered_in_flight", records=recovered)
        if held:  # a shared queue's stops are cleared account by account (pg.lock)
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
    code = exit_code(shutdown.signum, any(r.stopped for r in reports), mine, counts)
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


def drain_or_hand_over(
    config: Config, api_key: Callable[[str], str], options: RunOptions, *, wait: bool = False
) -> int:
    """Hold the database and drain it; or, when another runner holds it, hand over (a
    run; ``wait``: until its jobs are final) or wait for the holder to end (a worker).

    The config's inputs were checked when the command began.
    """
    shutdown = Shutdown(deadline=config.stop_deadline_seconds)
    if isinstance(config.database, PgUrl):
        # Many processes drain a PostgreSQL queue side by side: no database lock,
        # one sender per account (runner.storage.pg.lock), and nothing to hand over.
        with shutdown.guard(restore=False):
            return asyncio.run(drain_database(config, api_key, options, shutdown, None))
    lock = RunLock(config.database)
    # From here to the process's exit, a signal is noted, never a KeyboardInterrupt.
    with shutdown.guard(restore=False):
        try:
            if options.mode == "worker":
                if not wait_for_holder(lock, shutdown):
                    return exit_code(shutdown.signum, False, [], {})
            elif not lock.try_acquire():
                asyncio.run(load(config, checked=True))
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
