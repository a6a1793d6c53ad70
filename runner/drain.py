"""Draining one account's queue: paced workers sharing one pacer.

An :class:`AccountDrain` runs ``workers`` coroutines that loop *claim → send →
settle* until nothing runnable is left for its jobs, the account is stopped, the
``--limit`` budget is spent or a shutdown is asked for. Jobs loaded meanwhile are
handed to it with :meth:`AccountDrain.adopt` and share the account fairly. What an
answer means is decided by :mod:`runner.policy`; the drain only carries it out.
It reads time from an injected clock and the queue through the
:class:`runner.queue.Queue` interface, so it runs on a fake clock and an in-memory
queue in unit tests.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from runner.claimsize import claim_count
from runner.classify import Verdict
from runner.client import Reply, Sender
from runner.clock import Clock
from runner.config import RetryConfig
from runner.errors import TokenStop
from runner.hopeless import PROBE_INTERVAL, Hope, Hopeless, HopelessWatch
from runner.lifecycle import Budget, Shutdown, finish_even_if_cancelled, wait_any
from runner.limiter import Pacer
from runner.logs import get_logger
from runner.numbers import mask_number
from runner.policy import (
    CircuitBreaker,
    Decision,
    NotFoundWatch,
    UnknownAnswers,
    backoff_delay,
    decide,
    settlement,
)
from runner.queue import Claim, Job, Queue
from runner.senderstate import DrainView
from runner.states import BlockReason, JobState, RecordState, StopReason
from runner.tokens import TokenProvider

# Idle workers look again at least this often, whatever they wait for.
MAX_IDLE_WAIT = 5.0
# A record is claimed this long before its start slot: time for the claim's commit.
CLAIM_LEAD = 0.05


@dataclass
class AccountReport:
    account: str
    sent: int = 0
    stopped: tuple[StopReason, str] | None = None  # why the account was stopped, if it was
    blocked_jobs: list[str] = field(default_factory=list)
    drained_jobs: set[int] = field(default_factory=set)


class AccountDrain:
    """The workers and bookkeeping of one account."""

    def __init__(
        self,
        *,
        queue: Queue,
        account: str,
        sender: Sender,
        jobs: Sequence[Job],
        retry: RetryConfig,
        workers: int,
        pacer: Pacer,
        budget: Budget,
        shutdown: Shutdown,
        clock: Clock,
        tokens: TokenProvider | None = None,
        rng: random.Random | None = None,
        breaker: CircuitBreaker | None = None,
        unknown: UnknownAnswers | None = None,
        guards: Mapping[int, NotFoundWatch] | None = None,
        on_settled: Callable[[int, RecordState], None] | None = None,
        log_numbers: bool = False,
        hopeless: HopelessWatch | None = None,
        give_up: bool = True,
    ) -> None:
        self.queue = queue
        self.sender = sender
        self.tokens = tokens
        self.retry = retry
        self.workers = workers
        self.pacer = pacer
        self.budget = budget
        self.shutdown = shutdown
        self.clock = clock
        self.rng = rng or random.Random()
        self.breaker = breaker or CircuitBreaker()
        self.unknown = unknown or UnknownAnswers()
        self.guards = dict(guards or {})
        self.on_settled = on_settled
        # No usable answer for too long: a run gives up (stops the account), a worker probes.
        self.hope = Hope(hopeless, give_up, get_logger(account=account)) if hopeless else None
        self._workers_done = asyncio.Event()
        self._halted = asyncio.Event()  # set when the account stops
        self.report = AccountReport(account)
        self._all_jobs: dict[int, Job] = {}
        self._jobs: dict[int, Job] = {}  # still runnable in this drain
        self._turn = 0
        self._in_flight = 0
        self._changed = asyncio.Event()  # set (and replaced) by every settled request
        self._sending: set[asyncio.Future[Reply]] = set()
        self._claimed: deque[Claim] = deque()  # claimed in a batch, not yet handed out
        self._refill: asyncio.Task[None] | None = None  # the next batch, being claimed
        self._ran_short = False  # the last batch came short: nothing more is due yet
        self._due_at: float | None = 0.0  # when idle workers expect work (wall clock)
        self._started: set[int] = set()  # jobs this drain has sent for (job_started logged)
        self._tasks = asyncio.TaskGroup()  # the workers and the commits of their answers
        self._show = (lambda phone: phone) if log_numbers else mask_number
        self.log = get_logger(account=account)
        self.adopt(jobs)

    @property
    def busy(self) -> bool:
        """Requests are under way or about to be."""
        return self._in_flight > 0

    def view(self) -> DrainView:
        """What this drain has to do now, for the account's sender state."""
        paused = self.pacer.paused_until - self.clock.monotonic()
        return DrainView(
            runnable=self._active(),
            in_flight=self._in_flight,
            paused_until=self.clock.time() + paused if paused > 0 else None,
            due_at=self._due_at,
        )

    def adopt(self, jobs: Sequence[Job]) -> list[Job]:
        """Drain these jobs too (loaded while this drain runs); returns the ones new to it."""
        new = [job for job in jobs if job.id not in self._all_jobs]
        for job in new:
            self._all_jobs[job.id] = job
            if job.state == JobState.ACTIVE:
                self._jobs[job.id] = job
                self.report.drained_jobs.add(job.id)
        if new:
            self._wake()
        return new

    async def run(self) -> AccountReport:
        for job_id, guard in self.guards.items():  # a judgement due before this run
            if (block := guard.judge()) is not None and job_id in self._all_jobs:
                await self._block(self._all_jobs[job_id], *block)
        self.shutdown.on_force(self._abandon_requests)
        # A TaskGroup: if one task fails (the disk is full), the others are cancelled.
        async with asyncio.TaskGroup() as self._tasks:
            workers = [self._tasks.create_task(self._worker())
                       for _ in range(self.workers if self._jobs else 0)]  # fmt: skip
            if self.hope is not None and workers:
                self._tasks.create_task(self._watch_deadline())
                self._tasks.create_task(self._after(workers))
        # Claimed in a batch, never sent: back to pending (the store merges the releases).
        unsent, self._claimed = list(self._claimed), deque()
        await asyncio.gather(*(self.queue.release(claim) for claim in unsent))
        return self.report

    # -- the worker loop ---------------------------------------------------

    async def _worker(self) -> None:
        while (claim := await self._next_claim()) is not None:
            job = self._all_jobs[claim.job_id]
            try:
                usable, token = await self._token()
                reply = await self._send(job, claim, token) if usable else None
            except asyncio.CancelledError:
                await finish_even_if_cancelled(self.queue.release(claim))
                raise
            if reply is None:  # abandoned by a second signal, or no token to send with
                await self.queue.release(claim)
                self._in_flight -= 1
                continue
            decision = self._decide(claim, reply)
            stop = self._carry_out(job, claim, reply, decision)
            if token is not None:
                stop = await self._judge_token(token, reply.verdict) or stop
            # The answer is committed in the background (with others that arrive
            # meanwhile) while this worker goes on; the record counts as done, and
            # the run ends, only once it is committed.
            self._tasks.create_task(self._record(job, claim, reply, decision, stop))

    async def _after(self, workers: list[asyncio.Task[None]]) -> None:
        await asyncio.wait(workers)
        self._workers_done.set()

    async def _watch_deadline(self) -> None:
        """Judge the account hopeless when its deadline passes with no answer at all
        (the workers sleep through a breaker's cool-down or a rate-limit pause)."""
        assert self.hope is not None
        while not self._workers_done.is_set() and self.report.stopped is None:
            deadline = self.hope.watch.deadline()
            left = MAX_IDLE_WAIT if deadline is None else deadline - self.clock.time()
            # Past the deadline (a worker's account stays hopeless): look again later.
            wait = min(MAX_IDLE_WAIT, left) if left > 0 else MAX_IDLE_WAIT
            changed = self._changed
            await wait_any(
                [changed, self.shutdown.requested, self._workers_done], wait, self.clock.sleep
            )
            if self.shutdown.requested.is_set():
                return
            stop = self._judge_hopeless()
            if stop is not None:
                await self.queue.stop_account(self.report.account, *stop, self.clock.time())

    async def _token(self) -> tuple[bool, str | None]:
        """(usable, the bearer token to send with: None without TOKEN_AUTH); not usable when
        there is none (the account stopped, or a shutdown came while waiting for it)."""
        if self.tokens is None:
            return True, None
        try:
            token = await self.shutdown.unless_stopping(self.tokens.get())
        except TokenStop as stop:
            self._stop(stop.reason, stop.message, {})
            await self.queue.stop_account(
                self.report.account, stop.reason, stop.message, self.clock.time()
            )
            return False, None
        return token is not None, token

    async def _send(self, job: Job, claim: Claim, token: str | None) -> Reply | None:
        """The request's answer, or None if a forced stop abandoned it."""
        request = asyncio.ensure_future(
            self.sender.delete(
                claim.campaign or job.campaign, claim.phone, claim.name, token=token
            )
        )
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

    async def _judge_token(self, token: str, verdict: Verdict) -> tuple[StopReason, str] | None:
        """Tell the token provider how its token fared; the stop if a fresh one was refused."""
        assert self.tokens is not None
        try:
            # A renewal may wait for the token budget (up to an hour): a stop must not.
            await self.shutdown.unless_stopping(self.tokens.answered(token, verdict.outcome))
        except TokenStop as stop:
            self._stop(stop.reason, stop.message, {})
            return stop.reason, stop.message
        return None

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
            if self.hopeless is not None and self._in_flight > 0:
                # A hopeless account is probed by one request at a time.
                changed = self._changed
                await wait_any([changed, self.shutdown.requested], MAX_IDLE_WAIT, self.clock.sleep)
                continue
            slot = self.pacer.reserve()
            # Claim shortly before the slot (the audit row records the slot as the
            # start), then send at the slot itself.
            # A stop of the account wakes it too: a breaker's cool-down may be minutes long.
            delay = slot - CLAIM_LEAD - self.clock.monotonic()
            if delay > 0:
                await wait_any([self.shutdown.requested, self._halted], delay, self.clock.sleep)
            if not self._active() or not self.budget.take():
                return None
            claim = await self._take_claim()
            if claim is None:
                self.budget.refund()
                if not await self._wait_for_work():
                    return None
                continue
            self._due_at = self.clock.time()  # work is due: the account sends
            usable = await self.pacer.wait(slot)
            if not usable or not self._active() or claim.job_id not in self._jobs:
                self.budget.refund()
                await self.queue.release(claim)
                continue
            self._in_flight += 1
            self.report.sent += 1
            self._announce(claim.job_id)
            started = self.clock.time() + (slot - self.clock.monotonic())
            return dataclasses.replace(claim, started_at=started)
        return None

    def _announce(self, job_id: int) -> None:
        """``job_started`` when this process first sends for a job (adopted ones too)."""
        if job_id not in self._started:
            self._started.add(job_id)
            job = self._all_jobs[job_id]
            self.log.info("job_started", job=job.name, campaign=job.campaign)

    async def _take_claim(self) -> Claim | None:
        """The next claimed record, claiming a batch when none is left in hand.

        How many at once follows the pace (runner.claimsize): many when fast, one
        at a time at slow rates, so that ``in_flight`` means "about to be sent".
        Batches are claimed ahead, once half the batch in hand is handed out, so
        that fast workers never stand still while the next one is committed.
        """
        count = claim_count(self.pacer.interval, self.workers, CLAIM_LEAD)
        if count == 1 and not self._claimed:  # slow: each worker claims for its own slot
            claims = await self._claim(1)
            return claims[0] if claims else None
        if not self._claimed or (len(self._claimed) <= count // 2 and not self._ran_short):
            refill = self._refill or self._claim_ahead(count)
            if not self._claimed:
                await asyncio.shield(refill)  # a cancelled worker leaves it to the others
        return self._claimed.popleft() if self._claimed else None

    def _claim_ahead(self, count: int) -> asyncio.Task[None]:
        """Start claiming the next batch, shared by every worker that runs out."""

        async def claim() -> None:
            try:
                claims = await self._claim(count)
                self._ran_short = len(claims) < count
                self._claimed.extend(claims)
            finally:
                self._refill = None

        self._refill = self._tasks.create_task(claim())
        return self._refill

    async def _claim(self, count: int) -> list[Claim]:
        return await self.queue.claim_many(
            self._job_order(), self.report.account, count, self.clock.time()
        )

    async def _wait_for_work(self) -> bool:
        """Wait until a record may be due; False when no more work can come."""
        changed = self._changed  # taken before looking, so no wake-up is missed
        due = await self.queue.next_due(list(self._jobs))
        self._due_at = due
        if due is None and self._in_flight == 0:
            return False
        wait = MAX_IDLE_WAIT if due is None else min(MAX_IDLE_WAIT, due - self.clock.time())
        await wait_any([changed, self.shutdown.requested], wait, self.clock.sleep)
        return True

    def _wake(self) -> None:
        self._changed.set()  # wake idle workers: a retry may now be due, or a job came
        self._changed = asyncio.Event()

    # -- after the answer --------------------------------------------------

    def _decide(self, claim: Claim, reply: Reply) -> Decision:
        backoff = backoff_delay(
            claim.attempts + 1,
            self.retry.backoff_initial_seconds,
            self.retry.backoff_max_seconds,
            self.rng,
        )
        return decide(reply.verdict, claim, self.retry.max_attempts, backoff, reply.retry_after)

    def _carry_out(
        self, job: Job, claim: Claim, reply: Reply, decision: Decision
    ) -> tuple[StopReason, str] | None:
        """What the decision says, in memory and in the log; returns a streak's stop."""
        verdict = reply.verdict
        hopeless = self._watch_answer(verdict)
        fields: dict[str, Any] = {
            "job": job.name,
            "phone": self._show(claim.phone),
            "reason": verdict.reason,
            "message": verdict.message,
            "http_status": reply.http_status,
        }
        if decision.pause is not None:
            self.pacer.pause(decision.pause)
            self.log.warning("rate_limited", pause_seconds=round(decision.pause, 2), **fields)
            return hopeless
        self.pacer.recover()
        if (cooldown := self.breaker.record(verdict.outcome)) is not None:
            self.pacer.hold(cooldown)
            self.log.warning("circuit_open", failures_in_a_row=self.breaker.threshold,
                             cooldown_seconds=cooldown, **fields)  # fmt: skip
        streak = self.unknown.record(verdict, claim.record_id) or hopeless
        stop = streak or decision.stop
        if stop is not None:
            self._stop(*stop, fields)
        elif decision.block is not None and job.campaigns and claim.campaign:
            # One campaign of several: the queue stops claiming its records, the job goes on.
            self.log.error("campaign_blocked", campaign=claim.campaign, **fields)
        elif decision.block is not None:
            self._stop_job(job, fields)
        elif decision.event == "retry":
            self.log.debug("retry", attempt=decision.attempts,
                           delay=round(decision.delay, 2), **fields)  # fmt: skip
        elif decision.event == "record_failed":
            self.log.warning("record_failed", attempts=decision.attempts, **fields)
        return streak

    def _watch_answer(self, verdict: Verdict) -> tuple[StopReason, str] | None:
        """Count the answer in the hopeless watch; a worker probes a hopeless account slowly."""
        if self.hope is None:
            return None
        self.hope.watch.record(verdict, self.clock.time())
        stop = self._judge_hopeless()
        if self.hope.state is not None and not self.hope.give_up:
            self.pacer.hold(PROBE_INTERVAL)
        return stop

    def _judge_hopeless(self) -> tuple[StopReason, str] | None:
        """A run's stop when the account has become hopeless; a worker only notes it."""
        if self.hope is None or self.report.stopped is not None:
            return None
        stop = self.hope.judge(self.clock.time())
        if stop is not None:
            self._stop(*stop, {})
        return stop

    @property
    def hopeless(self) -> Hopeless | None:
        """The account's hopeless state, while it lasts (for ``runner status``)."""
        return self.hope.state if self.hope is not None else None

    async def _record(
        self,
        job: Job,
        claim: Claim,
        reply: Reply,
        decision: Decision,
        stop: tuple[StopReason, str] | None,
    ) -> None:
        """Commit an answer, then count it: the not-found guard, progress, idle workers."""
        now = self.clock.time()
        await self.queue.settle(
            claim,
            settlement(decision, reply.verdict, reply.http_status, reply.body, now, stop=stop),
        )
        guard = self.guards.get(job.id)
        if guard is not None and (block := guard.record(decision.state)) is not None:
            await self._block(job, *block)
        if self.on_settled is not None:
            self.on_settled(job.id, decision.state)
        self._in_flight -= 1
        self._wake()

    def _stop(self, reason: StopReason, message: str, fields: dict[str, Any]) -> None:
        if self.report.stopped is None:
            self.report.stopped = (reason, message)
            self._halted.set()
            self.log.error("account_stopped", stop_reason=str(reason),
                           **{"message": message, **fields})  # fmt: skip
            self._wake()

    async def _block(self, job: Job, reason: BlockReason, message: str) -> None:
        """Block a job for a reason found here (not in an answer), and say so."""
        await self.queue.block_job(job.id, reason, message)
        self._stop_job(job, {"job": job.name, "reason": str(reason), "message": message})

    def _stop_job(self, job: Job, fields: dict[str, Any]) -> None:
        """Send nothing more for this job in this drain; ``fields`` say why, in the log."""
        if job.id in self._jobs:
            del self._jobs[job.id]
            self.report.blocked_jobs.append(job.name)
            self.log.error("job_blocked", **fields)
