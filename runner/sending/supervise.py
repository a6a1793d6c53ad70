"""The sending process: which jobs it drains, one drain per account, adopting new work.

The queue is shared: ``runner load`` (or a second ``run``) puts jobs in while this
process drains. Every few seconds the supervisor looks at the queue's jobs: a job
with pending records whose account this process has (same name, and the same
base_url and user_name as when it was loaded) goes to that account's drain; a job
whose account it lacks is left pending, with a warning in the log and a note in
``runner status``. Each account has one pacer, one client and one token provider
for the process's lifetime, and its per-user account lock is taken before its
first request. ``run`` ends when nothing is runnable; ``worker`` waits for more.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from runner.config import AccountConfig, Config
from runner.core.clock import Clock, iso_ms
from runner.core.errors import AccountLocked, RunnerError, first_error
from runner.core.lifecycle import Budget, Flag, Shutdown, wait_any
from runner.core.logs import get_logger
from runner.core.states import JobState, RecordState
from runner.sending import senderstate
from runner.sending.account import Account, new_account, sender_state
from runner.sending.accountlock import AnyLock, lock_session, new_lock, take
from runner.sending.drain import AccountDrain
from runner.sending.hopeless import HopelessWatch
from runner.sending.judge import guard_watches
from runner.sending.policy import NotFoundWatch
from runner.sending.rulings import AccountReport
from runner.sending.tokens import TokenProvider
from runner.storage.queue import Job, Queue, SenderNote

if TYPE_CHECKING:  # psycopg is imported only for a PostgreSQL queue
    from runner.storage.pg.lock import LockSession

# What a sending process is: ``run`` ends when nothing is runnable, ``worker`` waits for more.
Mode = Literal["run", "worker"]

# How often the queue is looked at for new jobs (and the status notes refreshed).
POLL_INTERVAL = 2.0


@dataclass(frozen=True)
class DrainOptions:
    workers: int
    budget: Budget
    log_numbers: bool = False


class Supervisor:
    """Drains the queue's jobs for the accounts of one config."""

    def __init__(
        self,
        *,
        queue: Queue,
        config: Config,
        api_key: Callable[[str], str],
        options: DrainOptions,
        shutdown: Shutdown,
        clock: Clock,
        mode: Mode,
        on_settled: Callable[[int, RecordState], None] | None = None,
        on_jobs: Callable[[Sequence[Job]], Awaitable[None]] | None = None,
    ) -> None:
        self.queue = queue
        self.config = config
        self.api_key = api_key
        self.options = options
        self.shutdown = shutdown
        self.clock = clock
        self.mode = mode
        self.on_settled = on_settled
        self.on_jobs = on_jobs  # told of each job the first time it is handed to a drain
        self._told: set[int] = set()
        self.accounts: dict[str, Account] = {}
        self.refused: dict[int, str] = {}  # job id → why this process does not drain it
        self.refused_locks: dict[str, str] = {}  # account → why its lock was refused
        # One lock per account identity: config accounts naming the same server and user
        # are one CloudAgent account, which this process holds once (their rates add up).
        self.locks: dict[str, AnyLock] = {}
        # PostgreSQL: many processes share the queue; advisory locks on one connection.
        self.session: LockSession | None = lock_session(config.database)
        self.log = get_logger()
        self._ended = Flag()
        self._stack = contextlib.AsyncExitStack()

    @property
    def reports(self) -> list[AccountReport]:
        return [report for account in self.accounts.values() for report in account.reports]

    async def run(self) -> list[AccountReport]:
        """Drain until nothing is runnable (``run``) or until a shutdown (``worker``)."""
        try:
            async with self._stack, asyncio.TaskGroup() as group:
                watch = self.session and group.create_task(self.session.watch(self.clock.sleep))
                await self._loop(group)
                if watch:
                    watch.cancel()
        except BaseExceptionGroup as failure:
            raise first_error(failure) from None
        finally:
            for lock in self.locks.values():
                lock.release()
            if self.session is not None:
                await self.session.close()
        return self.reports

    async def _loop(self, group: asyncio.TaskGroup) -> None:
        first = True
        while not self.shutdown.requested.is_set():
            ended = self._ended
            await self._note_senders()  # before looking: a hand-over waits for a later note
            started = await self._adopt(group, first)
            if started:
                await self._note_senders()  # new work: say so now, not at the next look
            first = False
            idle = not started and not self._running()
            if idle and (self.mode == "run" or self.options.budget.spent):
                return
            await wait_any([ended, self.shutdown.requested], POLL_INTERVAL, self.clock.sleep)
        await self._note_senders()

    def _running(self) -> list[Account]:
        return [a for a in self.accounts.values() if a.drain is not None]

    async def _adopt(self, group: asyncio.TaskGroup, first: bool) -> bool:
        """Hand runnable jobs to their accounts' drains; True if any drain got work."""
        if self.options.budget.spent:
            return False
        wanted: dict[str, list[Job]] = {}
        for job in await self.queue.jobs():
            if job.state != JobState.ACTIVE or self._held(job):
                continue
            if await self.queue.next_due([job.id]) is None:
                continue  # nothing pending
            why = self._why_not(job)
            if why is not None:
                await self._refuse(job, why)
                continue
            if job.waiting is not None or job.id in self.refused:
                self.refused.pop(job.id, None)
                await self.queue.note_job_waiting(job.id, None)
            wanted.setdefault(job.account, []).append(job)
        await self._tell([job for jobs in wanted.values() for job in jobs])
        if first and not (self.session and self.mode == "worker"):
            # Before the first request of any account: another sender means exit 4
            # (PostgreSQL workers wait instead, and take the account over when it is free).
            for name in wanted:
                try:
                    await self._take(self._account(name))
                except AccountLocked as refusal:
                    await self._note_locked(name, str(refusal))
                    raise
        started = False
        for name, jobs in wanted.items():
            account = await self._enter(name)
            if account is None:
                for job in jobs:
                    await self._refuse(job, self.accounts[name].lock.refusal(), locked=True)
                continue
            if account.drain is not None:
                started |= bool(account.drain.adopt(jobs, await self._guards(jobs)))
            elif account.reports and account.reports[-1].stopped is not None:
                continue  # stopped in this process: fixed by the operator, then a restart
            else:
                self._start(group, account, jobs, await self._guards(jobs))
                started = True
        return started

    async def _guards(self, jobs: Sequence[Job]) -> dict[int, NotFoundWatch]:
        """Each job's not-found watch, from the guard it was loaded with (whatever config
        this process has): adopted jobs are guarded like the first ones."""
        settings = await self.queue.job_guards()
        if not any(job.id in settings for job in jobs):
            return {}  # no need to count
        return guard_watches(settings, jobs, await self.queue.state_counts())

    async def _tell(self, jobs: Sequence[Job]) -> None:
        new = [job for job in jobs if job.id not in self._told]
        self._told.update(job.id for job in new)
        if new and self.on_jobs is not None:
            await self.on_jobs(new)

    def _held(self, job: Job) -> bool:
        account = self.accounts.get(job.account)
        return account is not None and account.drain is not None and (
            job.id in account.drain.report.drained_jobs
        )

    def _why_not(self, job: Job) -> str | None:
        account = self.config.accounts.get(job.account)
        who = f"this {self.mode} (pid {os.getpid()}, config {self.config.path})"
        if account is None:
            return f"account {job.account!r} is not in the config of {who}"
        if job.account_identity is not None and job.account_identity != account.identity:
            return (
                f"account {job.account!r} of {who} has another base_url or user_name than "
                "the config that loaded this job"
            )
        try:
            self.api_key(job.account)
        except RunnerError as error:
            return f"no API key for account {job.account!r}: {error}"
        return None

    async def _refuse(self, job: Job, why: str, *, locked: bool = False) -> None:
        if self.refused.get(job.id) != why:
            self.refused[job.id] = why
            self.log.warning("job_waiting", job=job.name, account=job.account, why=why)
            if not (locked and self.session is not None):  # the holder drains it
                await self.queue.note_job_waiting(job.id, why)

    def _account(self, name: str) -> Account:
        if name not in self.accounts:
            config = self.config.accounts[name]
            lock = self.locks.get(config.identity)
            if lock is None:
                lock = self._new_lock(config, name)
                self.locks[config.identity] = lock
            self.accounts[name] = new_account(
                config, self.api_key(name), self.options.workers, lock,
                ticks=self.clock.monotonic, sleep=self.shutdown.sleep,
            )  # fmt: skip
        return self.accounts[name]

    def _new_lock(self, config: AccountConfig, name: str) -> AnyLock:
        state_dir, database = self.config.state_dir, str(self.config.database)
        return new_lock(config, name, self.session, state_dir, database)

    async def _take(self, account: Account) -> None:
        limit, now = self.config.max_accounts, self.clock.time()
        await take(account.lock, account.config.name, self.locks.values(), limit, now)

    async def _enter(self, name: str) -> Account | None:
        """The account, ready to send (locked, seeded, client open); None if locked elsewhere."""
        account = self._account(name)
        try:
            await self._take(account)
        except AccountLocked as refusal:
            if self.session is not None and self.refused_locks.get(name) == str(refusal):
                return None  # said already; a shared queue's waiting worker tries again
            self.refused_locks[name] = str(refusal)
            self.log.warning("account_locked", account=name, why=str(refusal))
            await self._note_locked(name, str(refusal))
            return None
        if not account.ready:
            account.ready = True
            await self._stack.enter_async_context(account.client)
            await self._seed(account)
            if account.config.auth == "token":
                account.tokens = TokenProvider(
                    account.client.generate_token,
                    queue=self.queue,
                    identity=account.config.identity,
                    clock=self.clock,
                    on_wait=functools.partial(self._waiting, account),
                )
        return account

    async def _seed(self, account: Account) -> None:
        """The pacer remembers the account's latest requests, even from a previous run."""
        wall, mono = self.clock.time(), self.clock.monotonic()
        starts = await self.queue.recent_starts(
            account.config.name, wall - account.pacer.window, account.pacer.count
        )
        account.pacer.remember(mono - (wall - started) for started in starts)

    async def _waiting(self, account: Account, until: float | None) -> None:
        account.waiting_until = until
        await self._note(account)

    def _start(
        self,
        group: asyncio.TaskGroup,
        account: Account,
        jobs: Sequence[Job],
        guards: dict[int, NotFoundWatch],
    ) -> None:
        drain = AccountDrain(
            queue=self.queue,
            account=account.config.name,
            sender=account.client,
            jobs=jobs,
            retry=self.config.retry,
            workers=self.options.workers,
            pacer=account.pacer,
            budget=self.options.budget,
            shutdown=self.shutdown,
            clock=self.clock,
            tokens=account.tokens,
            guards=guards,
            on_settled=self.on_settled,
            log_numbers=self.options.log_numbers,
            hopeless=HopelessWatch(self.config.retry.give_up_after_seconds),
            give_up=self.mode == "run",
        )
        account.drain = drain
        account.reports.append(drain.report)

        async def drain_then_note() -> None:
            try:
                await drain.run()
            finally:
                account.drain = None
                self._ended.set()
                self._ended = Flag()

        group.create_task(drain_then_note())

    async def _note_senders(self) -> None:
        """Who sends for each account of the config: this process (sending, waiting, idle...)."""
        for name in self.config.accounts:
            account = self.accounts.get(name)
            if account is not None:
                await self._note(account)
            elif self.session is None:  # on a shared queue, only holders write notes
                said = SenderNote(
                    name, os.getpid(), str(self.config.database), self.mode, senderstate.IDLE
                )
                await self.queue.note_sender(said, self.clock.time())

    async def _note_locked(self, name: str, why: str) -> None:
        if self.session is not None:
            return  # a shared queue's note of the account is its holder's
        said = SenderNote(
            name, os.getpid(), str(self.config.database), self.mode, "locked_elsewhere", why
        )
        await self.queue.note_sender(said, self.clock.time())

    async def _note(self, account: Account) -> None:
        if self.session is not None and not account.lock.held:
            return  # the holder (another process) says how the account is doing
        state, note, until, since = sender_state(account, self.clock.time())
        pid, database = os.getpid(), str(self.config.database)
        said = SenderNote(
            account.config.name, pid, database, self.mode, state, note, until, since=since
        )
        await self.queue.note_sender(said, self.clock.time())
        if state != account.said:
            account.said = state
            self.log.info("account_state", account=account.config.name, state=state,
                          note=note, until=iso_ms(until))  # fmt: skip
