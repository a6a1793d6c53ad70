"""A second `runner run` on a database another process holds: hand the jobs over.

Its jobs are loaded (loading needs no lock); the holder adopts them at its next look
at the queue. Before exiting 4, this process waits until the holder has written a
sender note after the load, proof that it looks at the queue again before it could
end; with ``--wait`` it waits for the jobs to be final and exits with their code.
"""

from __future__ import annotations

import asyncio

from runner.commands.outcome import exit_code, finished, has_left
from runner.config import Config
from runner.core.clock import SystemClock
from runner.core.errors import DatabaseLocked, ExitCode
from runner.core.logs import get_logger
from runner.sending.supervise import POLL_INTERVAL
from runner.storage.dbwatch import holds_this_file
from runner.storage.lock import RunLock
from runner.storage.store import Store

# A hand-over waits this long for the holder to show it has seen the new jobs.
HANDOVER_TIMEOUT = 10.0


async def hand_over(config: Config, lock: RunLock, loads_done_at: float, wait: bool) -> int | None:
    """This run's jobs are loaded; another process holds the database and sends them.

    Returns the exit code, or None when the holder let go meanwhile (this process
    then drains the database itself). Without ``wait``: exit 4 as soon as the holder
    has looked at the queue since the load (so it cannot end without the new jobs).
    With ``wait``: until this run's jobs are final, then their exit code.
    """
    log = get_logger()
    names = {job.name for job in config.jobs}
    holder = lock.holder()
    pid = holder[0] if holder else "?"
    clock = SystemClock()
    deadline = clock.monotonic() + HANDOVER_TIMEOUT
    said = False
    while True:
        if lock.try_acquire():
            return None
        if not holds_this_file(lock.holder(), lock.database):
            # The holder has a deleted or replaced file open: it stops by itself (exit 6)
            # within seconds; then this process takes the database.
            if clock.monotonic() > deadline:
                raise DatabaseLocked(
                    f"{config.database}: the runner holding its lock (pid {pid}) has another "
                    "file open (this one was deleted or replaced); it stops by itself, then "
                    "run again"
                )
            await asyncio.sleep(POLL_INTERVAL / 4)
            continue
        async with await Store.open_readonly(lock.database) as reader:
            jobs = [job for job in await reader.jobs() if job.name in names]
            counts = await reader.state_counts()
            notes = await reader.senders()
            stops = await reader.account_stops()
        seen = {note.account for note in notes if (note.updated_at or 0) > loads_done_at}
        left = [job for job in jobs if has_left(job, counts)]
        waiting = [job for job in left if job.waiting]
        if not said and (all(job.account in seen or job.waiting for job in left) or
                         clock.monotonic() > deadline):  # fmt: skip
            said = True
            log.warning("handed_over", holder_pid=pid, jobs=sorted(j.name for j in left))
            for job in waiting:
                log.warning("job_waiting", job=job.name, why=job.waiting)
            if not wait:
                raise DatabaseLocked(
                    f"{config.database}: another runner holds this database (pid {pid}): this "
                    "run's jobs are loaded and handed over to it, and nothing was sent by this "
                    "one; `runner status` shows their progress (`run --wait` waits for them)"
                )
        stopped = sorted({job.account for job in left if job.account in stops})
        if wait and (not left or stopped or (said and left == waiting)):
            # Final, or never to be sent by the holder: an account it stopped (exit 3),
            # or one it does not have (exit 4, as without --wait).
            if left and not stopped:
                raise DatabaseLocked(
                    f"{config.database}: the runner holding it (pid {pid}) does not send for "
                    f"the accounts of {', '.join(sorted(j.name for j in left))}: "
                    f"{left[0].waiting}"
                )
            code = ExitCode.AUTH if stopped else exit_code(None, False, jobs, counts)
            finished(code, jobs, counts, sent=0, stopped=stopped)
            return code
        await asyncio.sleep(POLL_INTERVAL / 2)

