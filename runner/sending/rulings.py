"""Carrying out the judge's rulings in a drain: the pacer, the log lines, and the
account's and jobs' stops as this drain keeps them (the queue writes them with the
answer's settlement, :meth:`runner.sending.judge.Ruling.settlement`), a token
provider's stops too.

:class:`CarriesOut` is the part of :class:`runner.sending.drain.AccountDrain` that acts on a
:class:`runner.sending.judge.Ruling`; the drain itself paces, claims, sends and settles.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from runner.core.clock import Clock
from runner.core.errors import TokenStop
from runner.core.lifecycle import Flag, Shutdown
from runner.core.states import BlockReason, StopReason
from runner.sending.classify import Verdict
from runner.sending.client import Reply
from runner.sending.hopeless import PROBE_INTERVAL, Hopeless
from runner.sending.judge import Judge, Ruling, Stop
from runner.sending.limiter import Pacer
from runner.sending.tokens import TokenProvider
from runner.storage.queue import Claim, Job, Queue


@dataclass
class AccountReport:
    account: str
    sent: int = 0
    stopped: tuple[StopReason, str] | None = None  # why the account was stopped, if it was
    blocked_jobs: list[str] = field(default_factory=list)
    drained_jobs: set[int] = field(default_factory=set)


class CarriesOut:
    """What a drain does with a ruling, and with a token provider's stop; the drain sets
    these attributes."""

    queue: Queue
    clock: Clock
    shutdown: Shutdown
    tokens: TokenProvider | None
    pacer: Pacer
    judge: Judge
    log: Any
    report: AccountReport
    _jobs: dict[int, Job]  # still runnable in this drain
    _halted: Flag
    _show: Callable[[str], str]

    def _wake(self) -> None:
        raise NotImplementedError

    def _carry_out(self, job: Job, claim: Claim, ruling: Ruling) -> None:
        """What the ruling says, in memory and in the log (the queue writes it later)."""
        decision, reply = ruling.decision, ruling.reply
        if ruling.hopeless_stop is not None:
            self._stop(*ruling.hopeless_stop, {})
        if ruling.probe:
            self.pacer.hold(PROBE_INTERVAL)
        if decision.pause is not None:
            self.pacer.pause(decision.pause)
            self.log.warning("rate_limited", pause_seconds=round(decision.pause, 2),
                             **self._fields(job, claim, reply))  # fmt: skip
        else:
            self.pacer.recover()
            if not ruling.quiet:  # most answers: their log fields are not even built
                self._say(job, claim, ruling, self._fields(job, claim, reply))
        if ruling.guard_block is not None:
            reason, message = ruling.guard_block
            self._stop_job(job, {"job": job.name, "reason": str(reason), "message": message})

    def _fields(self, job: Job, claim: Claim, reply: Reply) -> dict[str, Any]:
        """What every log line about an answer says."""
        verdict = reply.verdict
        return {"job": job.name, "phone": self._show(claim.phone), "reason": verdict.reason,
                "message": verdict.message, "http_status": reply.http_status}  # fmt: skip

    def _say(self, job: Job, claim: Claim, ruling: Ruling, fields: dict[str, Any]) -> None:
        decision = ruling.decision
        if ruling.cooldown is not None:
            self.pacer.hold(ruling.cooldown)
            self.log.warning("circuit_open", failures_in_a_row=self.judge.breaker.threshold,
                             cooldown_seconds=ruling.cooldown, **fields)  # fmt: skip
        if ruling.stop is not None:
            self._stop(*ruling.stop, fields)
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

    def _judge_hopeless(self) -> Stop | None:
        """A run's stop when the account has become hopeless; a worker only notes it."""
        stop = self.judge.hopeless_stop(self.clock.time())
        if stop is not None:
            self._stop(*stop, {})
        return stop

    @property
    def hopeless(self) -> Hopeless | None:
        """The account's hopeless state, while it lasts (for ``runner status``)."""
        return self.judge.hopeless

    def _stop(self, reason: StopReason, message: str, fields: dict[str, Any]) -> None:
        if self.report.stopped is None:
            self.report.stopped = (reason, message)
            self.judge.stopped = True
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
