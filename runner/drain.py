"""Draining the queue: per account, paced workers sharing one limiter.

Each account gets an :class:`AccountDrain`: ``workers`` coroutines that loop
*claim → send → settle* until nothing runnable is left, the account is stopped,
the ``--limit`` budget is spent or a shutdown is asked for. Accounts drain in
parallel and know nothing of each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import signal
import time
from collections import deque
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from runner.client import CloudAgentClient, Reply
from runner.config import AccountConfig, NotFoundGuard, RetryConfig
from runner.errors import first_error
from runner.limiter import Pacer
from runner.logs import get_logger
from runner.numbers import mask_number
from runner.policy import (
    Action,
    CircuitBreaker,
    Decision,
    NotFoundWatch,
    backoff_delay,
    decide,
)
from runner.progress import Progress
from runner.states import BlockReason, RecordState, StopReason
from runner.store import Claim, Job, Settlement, Store

# Idle workers look again at least this often, whatever they wait for.
MAX_IDLE_WAIT = 5.0
# A record is claimed this long before its start slot: time for the claim's commit.
CLAIM_LEAD = 0.05


class Budget:
    """The ``--limit`` count of requests, shared by every account of a run."""

    def __init__(self, limit: int | None) -> None:
        self.remaining = limit

    def take(self) -> bool:
        if self.remaining is None:
            return True
        if self.remaining <= 0:
            return False
        self.remaining -= 1
        return True

    def refund(self) -> None:
        if self.remaining is not None:
            self.remaining += 1

    @property
    def spent(self) -> bool:
        return self.remaining is not None and self.remaining <= 0


class Shutdown:
    """SIGINT/SIGTERM: the first stops claiming; the second abandons in-flight requests."""

    def __init__(self) -> None:
        self.requested = asyncio.Event()
        self.signum: int | None = None
        self._on_force: list[Callable[[], None]] = []

    def request(self, signum: int) -> None:
        log = get_logger(signal=signal.Signals(signum).name)
        if self.requested.is_set():
            log.warning("abandoning_requests", hint="their records go back to pending")
            for abandon in self._on_force:
                abandon()
        else:
            log.warning(
                "stopping", hint="finishing the requests under way; signal again to abandon them"
            )
        self.signum = self.signum or signum
        self.requested.set()

    def on_force(self, abandon: Callable[[], None]) -> None:
        """Call ``abandon`` on a second signal: the operator will not wait any longer."""
        self._on_force.append(abandon)

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self.request, signum)

    def uninstall(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)

    async def sleep(self, seconds: float) -> None:
        """Sleep, but wake at once when a shutdown is asked for."""
        if seconds > 0:
            await wait_any([self.requested], seconds)


async def finish_even_if_cancelled(work: Coroutine[Any, Any, None]) -> None:
    """Run ``work`` to its end even if we are cancelled meanwhile, then let the cancel go on.

    A bare ``asyncio.shield`` would let the work run on unawaited after the store
    is closed; here the cancelled task waits for it first.
    """
    task = asyncio.ensure_future(work)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await task
        raise


async def wait_any(events: Sequence[asyncio.Event], seconds: float) -> None:
    """Return when any of ``events`` is set or ``seconds`` have passed."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=max(seconds, 0.0), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


@dataclass
class AccountReport:
    account: str
    sent: int = 0
    stopped: str | None = None  # why the account was stopped, if it was
    blocked_jobs: list[str] = field(default_factory=list)


class AccountDrain:
    """The workers, pacer and bookkeeping of one account."""

    def __init__(
        self,
        *,
        store: Store,
        account: AccountConfig,
        client: CloudAgentClient,
        jobs: Sequence[Job],
        retry: RetryConfig,
        workers: int,
        pacer: Pacer,
        budget: Budget,
        shutdown: Shutdown,
        rng: random.Random | None = None,
        breaker: CircuitBreaker | None = None,
        progress: Progress | None = None,
        guards: Mapping[int, NotFoundWatch] | None = None,
        log_numbers: bool = False,
    ) -> None:
        self.store = store
        self.account = account
        self.client = client
        self.retry = retry
        self.workers = workers
        self.pacer = pacer
        self.budget = budget
        self.shutdown = shutdown
        self.rng = rng or random.Random()
        self.breaker = breaker or CircuitBreaker()
        self.progress = progress
        self.guards = dict(guards or {})
        self.report = AccountReport(account.name)
        self._all_jobs = {job.id: job for job in jobs}
        self._jobs = {job.id: job for job in jobs if job.state == "active"}  # still runnable
        self._turn = 0
        self._in_flight = 0
        self._changed = asyncio.Event()  # set (and replaced) by every settled request
        self._sending: set[asyncio.Future[Reply]] = set()
        self._claimed: deque[Claim] = deque()  # claimed in a batch, not yet handed out
        self._tasks = asyncio.TaskGroup()  # the workers and the commits of their answers
        self._show = (lambda phone: phone) if log_numbers else mask_number
        self.log = get_logger(account=account.name)

    async def run(self) -> AccountReport:
        for job_id, guard in self.guards.items():  # a judgement due before this run
            if (reason := guard.judge()) is not None:
                await self._block(self._all_jobs[job_id], reason)
        self.shutdown.on_force(self._abandon_requests)
        # A TaskGroup: if one task fails (the disk is full), the others are cancelled.
        async with asyncio.TaskGroup() as self._tasks:
            for _ in range(self.workers if self._jobs else 0):
                self._tasks.create_task(self._worker())
        while self._claimed:  # claimed in a batch, never sent: back to pending
            await self.store.release(self._claimed.popleft())
        return self.report

    # -- the worker loop ---------------------------------------------------

    async def _worker(self) -> None:
        while (claim := await self._next_claim()) is not None:
            job = self._all_jobs[claim.job_id]
            try:
                reply = await self._send(job, claim)
            except asyncio.CancelledError:
                await finish_even_if_cancelled(self.store.release(claim))
                raise
            if reply is None:  # abandoned by a second signal
                await self.store.release(claim)
                continue
            decision = self._decide(claim, reply)
            self._apply(job, claim, reply, decision)
            # The answer is committed in the background (with others that arrive
            # meanwhile) while this worker goes on; the record counts as done, and
            # the run ends, only once it is committed.
            self._tasks.create_task(self._record(job, claim, reply, decision))

    async def _send(self, job: Job, claim: Claim) -> Reply | None:
        """The request's answer, or None if a forced stop abandoned it."""
        request = asyncio.ensure_future(self.client.delete(job.campaign, claim.phone, claim.name))
        self._sending.add(request)
        try:
            return await request
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if request.cancelled() and current is not None and not current.cancelling():
                return None
            raise
        finally:
            self._sending.discard(request)

    def _abandon_requests(self) -> None:
        for request in self._sending:
            request.cancel()

    def _active(self) -> bool:
        """False once the account is stopped, out of jobs, or shutting down."""
        return (
            bool(self._jobs)
            and self.report.stopped is None
            and not self.shutdown.requested.is_set()
        )

    def _job_order(self) -> list[int]:
        """Active jobs, starting one further each time, so jobs share the account fairly."""
        ids = list(self._jobs)
        self._turn = (self._turn + 1) % len(ids)
        return ids[self._turn :] + ids[: self._turn]

    async def _next_claim(self) -> Claim | None:
        """The next record to send, returned at the moment its request may start."""
        while self._active() and not self.budget.spent:
            slot = self.pacer.reserve()
            # Claim shortly before the slot (the audit row records the slot as the
            # start), then send at the slot itself.
            await self.shutdown.sleep(slot - CLAIM_LEAD - time.monotonic())
            if not self._active() or not self.budget.take():
                return None
            claim = await self._take_claim()
            if claim is None:
                self.budget.refund()
                if not await self._wait_for_work():
                    return None
                continue
            usable = await self.pacer.wait(slot)
            if not usable or not self._active() or claim.job_id not in self._jobs:
                self.budget.refund()
                await self.store.release(claim)
                continue
            self._in_flight += 1
            self.report.sent += 1
            return dataclasses.replace(claim, started_at=time.time() + (slot - time.monotonic()))
        return None

    async def _take_claim(self) -> Claim | None:
        """The next claimed record, claiming a batch when none is left in hand.

        When the pacer allows more than a request per CLAIM_LEAD, one claim per
        request would cost a database round trip each: claim as many records as
        there are workers at once. At slow rates records are claimed one by one,
        so that ``in_flight`` means "about to be sent".
        """
        if not self._claimed:
            count = self.workers if self.pacer.interval < CLAIM_LEAD else 1
            self._claimed.extend(
                await self.store.claim_many(
                    self._job_order(), self.account.name, count, time.time()
                )
            )
        return self._claimed.popleft() if self._claimed else None

    async def _wait_for_work(self) -> bool:
        """Wait until a record may be due; False when no more work can come."""
        changed = self._changed  # taken before looking, so no wake-up is missed
        due = await self.store.next_due(list(self._jobs))
        if due is None and self._in_flight == 0:
            return False
        timeout = MAX_IDLE_WAIT if due is None else min(MAX_IDLE_WAIT, due - time.time())
        await wait_any([changed, self.shutdown.requested], timeout)
        return True

    # -- after the answer --------------------------------------------------

    def _decide(self, claim: Claim, reply: Reply) -> Decision:
        backoff = backoff_delay(
            claim.attempts + 1,
            self.retry.backoff_initial_seconds,
            self.retry.backoff_max_seconds,
            self.rng,
        )
        return decide(
            reply.verdict, claim.attempts, self.retry.max_attempts, backoff, reply.retry_after
        )

    async def _record(self, job: Job, claim: Claim, reply: Reply, decision: Decision) -> None:
        """Commit an answer, then count it: progress, the not-found guard, idle workers."""
        await self.store.settle(claim, self._settlement(job, reply, decision))
        guard = self.guards.get(job.id)
        if guard is not None and (reason := guard.record(decision.state)) is not None:
            await self._block(job, reason)
        if self.progress is not None:
            self.progress.settled(job.id, decision.state)
        self._in_flight -= 1
        self._changed.set()  # wake idle workers: a retry may now be due
        self._changed = asyncio.Event()

    def _settlement(self, job: Job, reply: Reply, decision: Decision) -> Settlement:
        now = time.time()
        verdict = reply.verdict
        return Settlement(
            state=RecordState(decision.state),
            reason=decision.reason,
            attempts=decision.attempts,
            not_before=now + decision.delay,
            http_status=reply.http_status,
            outcome=verdict.reason,
            message=verdict.message,
            body=reply.body,
            finished_at=now,
            block_job=(
                (BlockReason.INVALID_CAMPAIGN, verdict.message)
                if decision.action is Action.BLOCK_JOB
                else None
            ),
            stop_account=(
                (StopReason.AUTH, verdict.message)
                if decision.action is Action.STOP_ACCOUNT
                else None
            ),
        )

    def _apply(self, job: Job, claim: Claim, reply: Reply, decision: Decision) -> None:
        """In-memory effects and the log line of a settled request."""
        verdict = reply.verdict
        fields = {
            "job": job.name,
            "phone": self._show(claim.phone),
            "reason": verdict.reason,
            "message": verdict.message,
            "http_status": reply.http_status,
        }
        if decision.action is Action.RATE_LIMITED:
            self.pacer.pause(decision.delay)
            self.log.warning("rate_limited", pause_seconds=round(decision.delay, 2), **fields)
            return
        self.pacer.recover()
        cooldown = self.breaker.record(verdict.outcome)
        if cooldown is not None:
            self.pacer.hold(cooldown)
            self.log.warning(
                "circuit_open",
                failures_in_a_row=self.breaker.threshold,
                cooldown_seconds=cooldown,
                **fields,
            )
        if decision.action is Action.STOP_ACCOUNT and self.report.stopped is None:
            self.report.stopped = f"auth: {verdict.message}"
            self.log.error("account_stopped", **fields)
        elif decision.action is Action.BLOCK_JOB:
            self._stop_job(job, fields)
        elif decision.action is Action.RETRY:
            self.log.debug(
                "retry", attempt=decision.attempts, delay=round(decision.delay, 2), **fields
            )
        elif decision.state == "failed":
            self.log.warning("record_failed", attempts=decision.attempts, **fields)

    async def _block(self, job: Job, reason: str) -> None:
        """Block a job for a reason found here (not in an answer), and say so."""
        code, _, message = reason.partition(": ")
        await self.store.block_job(job.id, BlockReason(code), message)
        self._stop_job(job, {"job": job.name, "reason": reason})

    def _stop_job(self, job: Job, fields: dict[str, Any]) -> None:
        """Send nothing more for this job in this run; ``fields`` say why, in the log."""
        if job.id in self._jobs:
            del self._jobs[job.id]
            self.report.blocked_jobs.append(job.name)
            self.log.error("job_blocked", **fields)


async def drain(
    store: Store,
    accounts: dict[str, AccountConfig],
    api_keys: dict[str, str],
    jobs: Sequence[Job],
    *,
    retry: RetryConfig,
    workers: int,
    budget: Budget,
    shutdown: Shutdown,
    log_numbers: bool = False,
    progress: Progress | None = None,
    guards: Mapping[str, NotFoundGuard] | None = None,
) -> list[AccountReport]:
    """Drain every account that has jobs, in parallel, until nothing is runnable.

    ``guards`` maps job names to their not-found guard settings.
    """
    watches = await not_found_watches(store, jobs, guards or {})
    async with contextlib.AsyncExitStack() as stack:
        drains = []
        for name in sorted({job.account for job in jobs}):
            account = accounts[name]
            client = await stack.enter_async_context(
                CloudAgentClient(
                    account.base_url,
                    api_keys[name],
                    account.user_name,
                    account.timeout_seconds,
                    connections=workers,
                )
            )
            drains.append(
                AccountDrain(
                    store=store,
                    account=account,
                    client=client,
                    jobs=[job for job in jobs if job.account == name],
                    retry=retry,
                    workers=workers,
                    pacer=await seeded_pacer(store, account, shutdown),
                    budget=budget,
                    shutdown=shutdown,
                    log_numbers=log_numbers,
                    progress=progress,
                    guards={
                        j.id: watches[j.id] for j in jobs if j.account == name and j.id in watches
                    },
                )
            )
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(d.run()) for d in drains]
        except BaseExceptionGroup as failure:
            raise first_error(failure) from None
        return [task.result() for task in tasks]


async def not_found_watches(
    store: Store, jobs: Sequence[Job], guards: Mapping[str, NotFoundGuard]
) -> dict[int, NotFoundWatch]:
    """A watch per guarded job, counting from its recorded answers."""
    counts = await store.state_counts()
    watches = {}
    for job in jobs:
        guard = guards.get(job.name)
        if guard is None or job.guard_cleared:
            continue
        done = counts.get(job.id, {})
        answered = done.get("deleted", 0) + done.get("not_found", 0)
        watches[job.id] = NotFoundWatch(
            guard.sample, guard.max_ratio, answered, done.get("not_found", 0)
        )
    return watches


async def seeded_pacer(store: Store, account: AccountConfig, shutdown: Shutdown) -> Pacer:
    """A pacer that remembers the account's latest requests, even from a previous run."""
    rate = account.rate_limit
    pacer = Pacer(rate.count, rate.period_seconds, sleep=shutdown.sleep)
    wall_now, mono_now = time.time(), time.monotonic()
    starts = await store.recent_starts(account.name, wall_now - pacer.window, rate.count)
    pacer.remember(mono_now - (wall_now - started) for started in starts)
    return pacer
