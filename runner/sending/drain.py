"""Draining one account's queue: paced workers sharing one pacer.

An :class:`AccountDrain` runs ``workers`` coroutines that loop *claim → send →
settle* until nothing runnable is left for its jobs, the account is stopped, the
``--limit`` budget is spent or a shutdown is asked for. Jobs loaded meanwhile are
handed to it with :meth:`AccountDrain.adopt` and share the account fairly. What an
answer means is judged once, by the account's :class:`runner.sending.judge.Judge`; the drain
paces, claims, sends, and carries the ruling out.
It reads time from an injected clock and the queue through the
:class:`runner.storage.queue.Queue` interface, so it runs on a fake clock and an in-memory
queue in unit tests.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any

from runner.config import RetryConfig
from runner.core.clock import Clock
from runner.core.lifecycle import Budget, Flag, Shutdown, finish_even_if_cancelled, wait_any
from runner.core.logs import get_logger
from runner.core.states import JobState, RecordState
from runner.intake.numbers import mask_number
from runner.sending.claimbatch import ClaimBatches
from runner.sending.claimsize import claim_count
from runner.sending.client import Reply, Sender
from runner.sending.hopeless import HopelessWatch
from runner.sending.judge import Judge
from runner.sending.limiter import Departure, Pacer
from runner.sending.policy import CircuitBreaker, NotFoundWatch, UnknownAnswers
from runner.sending.rulings import AccountReport, CarriesOut
from runner.sending.senderstate import DrainView
from runner.sending.settler import Answer, Settler
from runner.sending.tokens import TokenProvider
from runner.storage.queue import Claim, Job, Queue

# Idle workers look again at least this often, whatever they wait for.
MAX_IDLE_WAIT = 5.0
# A record is claimed this long before its start slot: time for the claim's commit.
CLAIM_LEAD = 0.05


class AccountDrain(CarriesOut):
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
        self.workers = workers
        self.pacer = pacer
        self.budget = budget
        self.shutdown = shutdown
        self.clock = clock
        self.log = get_logger(account=account)
        self.judge = Judge(retry, rng=rng, breaker=breaker, unknown=unknown, guards=guards,
                           hopeless=hopeless, give_up=give_up, log=self.log)  # fmt: skip
        self.on_settled = on_settled
        self._workers_done = Flag()
        self._halted = Flag()  # set when the account stops
        self.report = AccountReport(account)
        self._all_jobs: dict[int, Job] = {}
        self._jobs: dict[int, Job] = {}  # still runnable in this drain
        self._turn = 0
        self._in_flight = 0
        self._changed = Flag()  # set (and replaced) by every settled request
        self._streak_began = Flag()  # set (and replaced) when failures start a deadline
        # Workers waiting for an answer, and those of them a forced stop cancelled.
        self._sending, self._abandoned = set[asyncio.Task[None]](), set[asyncio.Task[None]]()
        self._batches = ClaimBatches(self._claim, self._spawn)
        self._settler = Settler(queue.settle_many, self._spawn, self._settled)
        self._due_at: float | None = 0.0  # when idle workers expect work (wall clock)
        self._started: set[int] = set()  # jobs this drain has sent for (job_started logged)
        self._tasks = asyncio.TaskGroup()  # the workers and the commits of their answers
        self._show = (lambda phone: phone) if log_numbers else mask_number
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

    def adopt(
        self, jobs: Sequence[Job], guards: Mapping[int, NotFoundWatch] | None = None
    ) -> list[Job]:
        """Drain these jobs too (loaded while this drain runs), each with its not-found
        guard, if it has one; returns the ones new to it."""
        new = [job for job in jobs if job.id not in self._all_jobs]
        for job in new:
            self.judge.guard(job.id, (guards or {}).get(job.id))
            self._all_jobs[job.id] = job
            if job.state == JobState.ACTIVE:
                self._jobs[job.id] = job
                self.report.drained_jobs.add(job.id)
        if new:
            self._wake()
        return new

    async def run(self) -> AccountReport:
        for job_id, block in self.judge.due_blocks(set(self._all_jobs)):
            await self._block(self._all_jobs[job_id], *block)  # due before: no answer to write
        self.shutdown.on_force(self._abandon_requests)
        # A TaskGroup: if one task fails (the disk is full), the others are cancelled.
        async with asyncio.TaskGroup() as self._tasks:
            workers = [self._tasks.create_task(self._worker())
                       for _ in range(self.workers if self._jobs else 0)]  # fmt: skip
            if self.judge.hope is not None and workers:
                self._tasks.create_task(self._watch_deadline())
                self._tasks.create_task(self._after(workers))
        # Claimed in a batch, never sent: back to pending (the store merges the releases).
        unsent = self._batches.drop_unsent()
        await asyncio.gather(*(self.queue.release(claim) for claim in unsent))
        return self.report

    # -- the worker loop ---------------------------------------------------

    async def _worker(self) -> None:
        while (taken := await self._next_claim()) is not None:
            claim, departure = taken
            job = self._all_jobs[claim.job_id]
            try:
                usable, token = await self._token()
                reply = await self._send(job, claim, token, departure) if usable else None
            except asyncio.CancelledError:
                await finish_even_if_cancelled(self.queue.release(claim))
                raise
            if reply is None:  # abandoned by a second signal, or no token to send with
                await self.queue.release(claim)
                self._in_flight -= 1
                continue
            # The audit row's start: when the request was written (wall clock).
            claim = claim.starting_at(self.clock.time() - self.clock.monotonic() + departure.at)
            had_deadline = self._has_deadline()
            ruling = self.judge.answer(claim, reply, self.clock.time())
            if not had_deadline and self._has_deadline():
                self._streak_began.set()  # the deadline watcher has a deadline to wait for
            self._carry_out(job, claim, ruling)
            token_stop = None if token is None else await self._judge_token(token, reply.verdict)
            # Committed in the background with the answers that arrive meanwhile
            # (runner.sending.settler); counted once committed.
            self._settler.add(claim, ruling.settlement(self.clock.time(), token_stop))

    async def _after(self, workers: list[asyncio.Task[None]]) -> None:
        await asyncio.wait(workers)
        self._workers_done.set()

    async def _watch_deadline(self) -> None:
        """Judge the account hopeless when its deadline passes with no answer at all
        (the workers sleep through a breaker's cool-down or a rate-limit pause)."""
        hope = self.judge.hope
        assert hope is not None
        while not self._workers_done.is_set() and self.report.stopped is None:
            deadline = hope.watch.deadline()
            left = MAX_IDLE_WAIT if deadline is None else deadline - self.clock.time()
            # Past the deadline (a worker's account stays hopeless): look again later.
            wait = min(MAX_IDLE_WAIT, left) if left > 0 else MAX_IDLE_WAIT
            # Not woken by every answer: an answer only moves a deadline later or clears
            # it; only the first failure of a streak brings one sooner than `wait`.
            began = self._streak_began
            await wait_any(
                [began, self.shutdown.requested, self._workers_done], wait, self.clock.sleep
            )
            if began.is_set():
                self._streak_began = Flag()
            if self.shutdown.requested.is_set():
                return
            stop = self._judge_hopeless()
            if stop is not None:
                await self.queue.stop_account(self.report.account, *stop, self.clock.time())

    def _has_deadline(self) -> bool:
        return self.judge.hope is not None and self.judge.hope.watch.deadline() is not None

    async def _send(
        self, job: Job, claim: Claim, token: str | None, departure: Departure
    ) -> Reply | None:
        """The request's answer, or None if a forced stop abandoned it: that cancels the
        worker waiting here (no task per request: 5 % of a lifted-limit drain), and only
        that cancellation is taken back."""
        worker = asyncio.current_task()
        assert worker is not None
        self._sending.add(worker)
        try:
            campaign = claim.campaign or job.campaign
            # The pacer counts the request as gone when its bytes are written (`sent`).
            return await self.sender.delete(
                campaign, claim.phone, claim.name, token=token, sent=departure.sent
            )
        except asyncio.CancelledError:
            if worker in self._abandoned and worker.uncancel() == 0:
                return None
            raise
        finally:
            self._sending.discard(worker)
            self._abandoned.discard(worker)

    def _abandon_requests(self) -> None:
        for worker in self._sending:
            self._abandoned.add(worker)
            worker.cancel()

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

    async def _next_claim(self) -> tuple[Claim, Departure] | None:
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
            # How many records a claim takes follows the pace (runner.sending.claimbatch).
            claim = await self._batches.take(
                claim_count(self.pacer.interval, self.workers, CLAIM_LEAD)
            )
            if claim is None:
                self.budget.refund()
                if not await self._wait_for_work():
                    return None
                continue
            self._due_at = self.clock.time()  # work is due: the account sends
            departure = await self.pacer.wait(slot)
            if departure is None or not self._active() or claim.job_id not in self._jobs:
                self.budget.refund()
                await self.queue.release(claim)
                continue
            self._in_flight += 1
            self.report.sent += 1
            self._announce(claim.job_id)
            return claim, departure
        return None

    def _announce(self, job_id: int) -> None:
        """``job_started`` when this process first sends for a job (adopted ones too)."""
        if job_id not in self._started:
            self._started.add(job_id)
            job = self._all_jobs[job_id]
            self.log.info("job_started", job=job.name, campaign=job.campaign)

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

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """A task of this drain's task group (claims ahead, commits of answers)."""
        return self._tasks.create_task(work)

    def _wake(self) -> None:
        self._changed.set()  # wake idle workers: a retry may now be due, or a job came
        self._changed = Flag()

    # -- after the answer --------------------------------------------------

    def _settled(self, answers: list[Answer]) -> None:
        """These answers are committed: count them, and wake idle workers."""
        if self.on_settled is not None:
            for claim, settlement in answers:
                self.on_settled(claim.job_id, settlement.state)
        self._in_flight -= len(answers)
        self._wake()
