"""The drain loop on an in-memory queue, a scripted sender and a fake clock: no SQLite, no HTTP.

Every pause, backoff and pace is measured on the fake clock, so a five-minute
cool-down costs milliseconds and the gaps asserted are exact.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import random
import signal
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from fakes import (
    DELETED,
    NOT_FOUND,
    SERVER_ERROR,
    Call,
    FakeClock,
    FakeSender,
    Script,
    http_reply,
    make_jwt,
    reply_for,
)

from runner.config import RetryConfig
from runner.core import protocol
from runner.core.lifecycle import Budget, Shutdown
from runner.core.states import BlockReason, JobState, RecordState, StopReason
from runner.sending.client import Reply, TokenReply
from runner.sending.drain import AccountDrain
from runner.sending.limiter import Pacer
from runner.sending.policy import CircuitBreaker, NotFoundWatch
from runner.sending.tokens import TokenProvider
from runner.storage.queue import Job
from runner.testing.memqueue import MemoryQueue

# A guard against a drain that never ends: the test fails instead of hanging.
REAL_TIMEOUT = 20.0
NO_BACKOFF = RetryConfig(max_attempts=8, backoff_initial_seconds=0.0, backoff_max_seconds=0.0)


def phones(count: int, prefix: str = "98765") -> list[str]:
    return [f"{prefix}{i:05d}" for i in range(count)]


class Rig:
    """A drain and everything around it, on one fake clock."""

    def __init__(
        self,
        script: Script | None = None,
        *,
        rate: tuple[int, float] = (60, 60.0),
        workers: int = 1,
        retry: RetryConfig = NO_BACKOFF,
        limit: int | None = None,
        tokens: bool = False,
        queue: MemoryQueue | None = None,
        clock: FakeClock | None = None,  # one fake clock per event loop
        account: str = "main",
        **options: Any,
    ) -> None:
        self.clock = clock or FakeClock()
        self.account = account
        self.queue = queue or MemoryQueue()
        self.sender = FakeSender(self.clock, script or (lambda call, n: DELETED))
        self.shutdown = Shutdown(clock=self.clock)
        self.pacer = Pacer(*rate, clock=self.clock.monotonic, sleep=self.shutdown.sleep)
        self.budget = Budget(limit)
        self.workers = workers
        self.retry = retry
        self.options = options
        self.generated: list[str] = []
        self.tokens = (
            TokenProvider(self._generate, queue=self.queue, identity="id", clock=self.clock)
            if tokens
            else None
        )
        self.drain: AccountDrain | None = None

    async def _generate(self) -> TokenReply:
        token = make_jwt({"exp": self.clock.time() + 3600, "n": len(self.generated) + 1})
        self.generated.append(token)
        return TokenReply(token, 200, "")

    def make(self, jobs: Sequence[Job] | None = None) -> AccountDrain:
        self.drain = AccountDrain(
            queue=self.queue,
            account=self.account,
            sender=self.sender,
            jobs=list(jobs) if jobs is not None else self.own_jobs(),
            retry=self.retry,
            workers=self.workers,
            pacer=self.pacer,
            budget=self.budget,
            shutdown=self.shutdown,
            clock=self.clock,
            tokens=self.tokens,
            rng=self.options.pop("rng", random.Random(1)),
            **self.options,
        )
        return self.drain

    def own_jobs(self) -> list[Job]:
        return [job for job in self.queue.jobs_by_id.values() if job.account == self.account]

    async def run(self, jobs: Sequence[Job] | None = None) -> AccountDrain:
        drain = self.drain or self.make(jobs)
        await asyncio.wait_for(drain.run(), REAL_TIMEOUT)
        return drain

    def states(self, job: Job | None = None) -> list[RecordState]:
        return [r.state for r in self.queue.records.values() if job is None or r.job_id == job.id]

    def attempts(self) -> dict[str, int]:
        return {r.phone: r.attempts for r in self.queue.records.values()}


def gaps(times: Sequence[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


# ---------------------------------------------------------------- the happy path


@pytest.mark.parametrize("workers", [1, 4])
@pytest.mark.parametrize("rate", [(60, 60.0), (1000, 1.0)], ids=["slow", "fast-batched"])
async def test_every_record_is_claimed_sent_and_settled(
    workers: int, rate: tuple[int, float]
) -> None:
    rig = Rig(lambda call, n: NOT_FOUND if call.phone.endswith("3") else DELETED,
              workers=workers, rate=rate)  # fmt: skip
    job = rig.queue.add_job("purge", phones(25))
    drain = await rig.run()

    assert sorted(call.phone for call in rig.sender.calls) == phones(25)  # each exactly once
    assert rig.queue.states() == {
        phone: RecordState.NOT_FOUND if phone.endswith("3") else RecordState.DELETED
        for phone in phones(25)
    }
    assert set(rig.attempts().values()) == {1}
    assert len(rig.queue.requests) == 25
    assert drain.report.sent == 25 and drain.report.stopped is None
    assert drain.report.drained_jobs == {job.id}
    assert {call.campaign for call in rig.sender.calls} == {"Sales"}
    # The pace: one request per interval of the pacer, never faster.
    starts = sorted(c.started_at for c, _ in rig.queue.requests)
    assert min(gaps(starts)) >= rig.pacer.interval - 1e-5  # wall-clock stamps: ulp ~2e-7
    assert max(gaps(starts)) == pytest.approx(rig.pacer.interval, abs=1e-5)


async def test_the_audit_row_records_when_the_request_left() -> None:
    rig = Rig()
    rig.queue.add_job("purge", phones(5))
    await rig.run()
    starts = [c.started_at for c, _ in rig.queue.requests]
    sent = [call.at for call in rig.sender.calls]
    assert starts == pytest.approx(sent, abs=1e-6)


async def test_nothing_to_do_returns_at_once() -> None:
    rig = Rig()
    job = rig.queue.add_job("purge", [])
    drain = await rig.run()
    assert rig.sender.calls == [] and drain.report.sent == 0
    assert drain.report.drained_jobs == {job.id}


async def test_a_blocked_job_is_not_drained() -> None:
    rig = Rig()
    job = rig.queue.add_job("purge", phones(3))
    blocked = dataclasses.replace(job, state=JobState.BLOCKED)
    rig.queue.jobs_by_id[job.id] = blocked
    drain = await rig.run([blocked])
    assert rig.sender.calls == [] and drain.report.drained_jobs == set()


# ---------------------------------------------------------------- retries


async def test_retries_wait_their_backoff_then_succeed() -> None:
    retry = RetryConfig(max_attempts=8, backoff_initial_seconds=10.0, backoff_max_seconds=40.0)
    rig = Rig(lambda call, n: SERVER_ERROR if n < 2 else DELETED, retry=retry, workers=2)
    rig.queue.add_job("purge", phones(4))
    await rig.run()

    assert set(rig.queue.states().values()) == {RecordState.DELETED}
    assert set(rig.attempts().values()) == {3}
    for phone in phones(4):
        settled = [s for c, s in rig.queue.requests if c.phone == phone]
        sent = [call.at for call in rig.sender.sent(phone)]
        assert len(sent) == 3
        # Each retry left no earlier than its not-before time, within the backoff ceiling.
        for first, (settlement, later) in enumerate(zip(settled, sent[1:], strict=False)):
            assert later >= settlement.not_before - 1e-6
            assert settlement.not_before - settlement.finished_at <= 10.0 * 2**first


async def test_a_record_out_of_attempts_fails_with_its_last_error() -> None:
    retry = RetryConfig(max_attempts=3, backoff_initial_seconds=1.0, backoff_max_seconds=1.0)
    rig = Rig(lambda call, n: SERVER_ERROR, retry=retry)
    rig.queue.add_job("purge", phones(1))
    await rig.run()
    (record,) = rig.queue.records.values()
    assert (record.state, record.reason, record.attempts) == (
        RecordState.FAILED,
        "exhausted_retries",
        3,
    )
    assert rig.queue.requests[-1][1].http_status == 503
    assert len(rig.sender.calls) == 3


async def test_the_breaker_pauses_a_failing_account_without_burning_attempts() -> None:
    retry = RetryConfig(max_attempts=7, backoff_initial_seconds=0.0, backoff_max_seconds=0.0)
    breaker = CircuitBreaker(threshold=3, cooldown=20.0, max_cooldown=30.0)
    rig = Rig(lambda call, n: SERVER_ERROR, retry=retry, breaker=breaker)
    rig.queue.add_job("purge", phones(1))
    await rig.run()

    sent = [call.at for call in rig.sender.calls]
    assert len(sent) == 7  # every attempt was made: none burnt by the pauses
    between = gaps(sent)
    interval = rig.pacer.interval
    # After the 3rd and the 6th failure in a row the account cooled down: 20 s, then 30 s.
    assert between[2] == pytest.approx(20.0, abs=1e-3)
    assert between[5] == pytest.approx(30.0, abs=1e-3)
    for i in (0, 1, 3, 4):
        assert between[i] == pytest.approx(interval, abs=1e-3)
    assert list(rig.queue.states().values()) == [RecordState.FAILED]


async def test_a_rate_limited_answer_pauses_and_slows_the_account_using_no_attempt() -> None:
    limited = http_reply(429, "", retry_after=30.0)
    rig = Rig(lambda call, n: limited if len(rig.sender.calls) == 2 else DELETED)
    rig.queue.add_job("purge", phones(5))
    await rig.run()

    assert set(rig.queue.states().values()) == {RecordState.DELETED}
    assert set(rig.attempts().values()) == {1}  # the 429 used up no attempt
    between = gaps([call.at for call in rig.sender.calls])
    interval = rig.pacer.interval
    assert len(rig.sender.calls) == 6
    assert between[0] == pytest.approx(interval, abs=1e-3)
    assert between[1] == pytest.approx(30.0, abs=1e-3)  # Retry-After honoured
    # Then slower than full speed (twice the spacing at first), recovering step by step.
    assert between[2] == pytest.approx(2 * interval, abs=1e-3)
    assert interval * 1.01 < between[4] < between[2]
    rate_limited = [s for _, s in rig.queue.requests if s.outcome == "rate_limited"]
    assert len(rate_limited) == 1 and rate_limited[0].state is RecordState.PENDING


# ---------------------------------------------------------------- blocks and stops


async def test_an_invalid_campaign_blocks_its_job_and_the_others_go_on() -> None:
    bad_answer = reply_for(protocol.CAMPAIGN_INVALID)
    for rate in [(60, 60.0), (1000, 1.0)]:
        rig = Rig(lambda call, n: bad_answer if call.campaign == "Nope" else DELETED,
                  workers=3, rate=rate)  # fmt: skip
        good = rig.queue.add_job("good", phones(10, "91111"))
        bad = rig.queue.add_job("bad", phones(10, "92222"))
        bad = dataclasses.replace(bad, campaign="Nope")
        rig.queue.jobs_by_id[bad.id] = bad
        drain = await rig.run()

        assert set(rig.states(good)) == {RecordState.DELETED}
        assert set(rig.states(bad)) == {RecordState.PENDING}  # in flight ones released too
        assert all(r.attempts == 0 for r in rig.queue.records.values() if r.job_id == bad.id)
        stored = rig.queue.jobs_by_id[bad.id]
        assert stored.state is JobState.BLOCKED
        assert stored.blocked_reason is BlockReason.INVALID_CAMPAIGN
        assert stored.blocked_message == "Passed campaign are invalid"
        assert drain.report.blocked_jobs == ["bad"]
        assert drain.report.stopped is None and rig.queue.stops == {}
        sent_bad = [call for call in rig.sender.calls if call.campaign == "Nope"]
        assert 1 <= len(sent_bad) <= 3  # at most the workers' requests already under way


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (reply_for(protocol.INVALID_USER), StopReason.AUTH),
        (reply_for(protocol.KEY_MISSING), StopReason.AUTH),
        (reply_for(protocol.INVALID_ACTION), StopReason.AUTH_SETTING),
        (reply_for(protocol.INVALID_TOKEN), StopReason.AUTH_SETTING),
        (http_reply(403, "<html>Forbidden</html>"), StopReason.AUTH),
        (Reply(http_reply(302, "").verdict, 302, ""), StopReason.REDIRECT),
    ],
    ids=["invalid-user", "key-missing", "invalid-action", "token-on-basic", "403", "redirect"],
)
@pytest.mark.parametrize("workers", [1, 4])
@pytest.mark.parametrize("rate", [(60, 60.0), (1000, 1.0)], ids=["slow", "fast-batched"])
async def test_an_account_stop_stops_at_once_and_leaves_records_pending(
    answer: Reply, reason: StopReason, workers: int, rate: tuple[int, float]
) -> None:
    # Two good answers, then every answer says the account is refused.
    rig = Rig(lambda call, n: DELETED if len(rig.sender.calls) <= 2 else answer,
              workers=workers, rate=rate)  # fmt: skip
    rig.queue.add_job("one", phones(30, "91111"))
    rig.queue.add_job("two", phones(30, "92222"))
    drain = await rig.run()

    after_first_stop = len(rig.sender.calls) - 3
    assert 0 <= after_first_stop <= 2 * workers
    assert drain.report.stopped is not None and drain.report.stopped[0] is reason
    assert rig.queue.stops["main"][:2] == (reason, answer.verdict.message)
    states = rig.queue.states()
    assert list(states.values()).count(RecordState.DELETED) == 2
    assert set(states.values()) == {RecordState.DELETED, RecordState.PENDING}  # none in flight
    assert all(r.attempts == 0 for r in rig.queue.records.values() if r.state == "pending")


async def test_the_same_unknown_answer_for_20_records_stops_the_account() -> None:
    odd = http_reply(200, '{"status": "Success", "message": "Deleted, kind of"}')

    class Highest(random.Random):
        def uniform(self, a: float, b: float) -> float:
            return b  # retries wait the full backoff: fresh records come first

    retry = RetryConfig(max_attempts=8, backoff_initial_seconds=600.0, backoff_max_seconds=600.0)
    rig = Rig(lambda call, n: odd, retry=retry, rng=Highest())
    rig.queue.add_job("purge", phones(50))
    drain = await rig.run()

    assert len(rig.sender.calls) == 20
    assert len({call.phone for call in rig.sender.calls}) == 20
    assert drain.report.stopped is not None
    code, message = rig.queue.stops["main"][:2]
    assert code is StopReason.UNKNOWN_ANSWERS and "Deleted, kind of" in message
    assert drain.report.stopped == (code, message)
    assert set(rig.queue.states().values()) == {RecordState.PENDING}
    # Unrecognised answers do not pause the account: the breaker never tripped.
    assert max(gaps([call.at for call in rig.sender.calls])) == pytest.approx(
        rig.pacer.interval, abs=1e-3
    )


async def test_the_not_found_guard_blocks_a_job_whose_numbers_are_all_unknown() -> None:
    rig = Rig(lambda call, n: NOT_FOUND, workers=2,
              guards={1: NotFoundWatch(sample=5, max_ratio=0.8)})  # fmt: skip
    job = rig.queue.add_job("purge", phones(20))
    drain = await rig.run()
    stored = rig.queue.jobs_by_id[job.id]
    assert (stored.state, stored.blocked_reason) == (JobState.BLOCKED, BlockReason.NOT_FOUND_GUARD)
    assert stored.blocked_message is not None and "No Record Found" in stored.blocked_message
    assert 5 <= len(rig.sender.calls) <= 5 + 2 * 2
    assert drain.report.blocked_jobs == ["purge"]
    assert RecordState.IN_FLIGHT not in rig.queue.states().values()


# ---------------------------------------------------------------- tokens


async def test_a_refused_token_is_renewed_and_the_record_sent_again() -> None:
    def script(call: Call, n: int) -> Reply:
        # Another process generated a token after the 3rd request: the first is dead.
        if call.token == rig.generated[0] and len(rig.sender.calls) > 3:
            return reply_for(protocol.INVALID_TOKEN, token_auth=True)
        return DELETED

    rig = Rig(script, tokens=True, workers=2)
    rig.queue.add_job("purge", phones(8))
    drain = await rig.run()

    assert set(rig.queue.states().values()) == {RecordState.DELETED}
    assert set(rig.attempts().values()) == {1}  # the refusals used up no attempt
    assert len(rig.generated) == 2 and drain.report.stopped is None
    refused = [call for call in rig.sender.calls if call.token == rig.generated[0]][3:]
    assert refused  # some requests were refused...
    for call in refused:  # ...and each of those records went again with the new token
        assert rig.sender.sent(call.phone)[-1].token == rig.generated[1]
    assert all(call.token is not None for call in rig.sender.calls)


async def test_a_fresh_token_refused_stops_the_account() -> None:
    refused = reply_for(protocol.INVALID_TOKEN, token_auth=True)
    rig = Rig(lambda call, n: refused, tokens=True, workers=2)
    rig.queue.add_job("purge", phones(8))
    drain = await rig.run()
    assert drain.report.stopped is not None and drain.report.stopped[0] is StopReason.AUTH
    assert rig.queue.stops["main"][0] is StopReason.AUTH
    assert len(rig.generated) == 1
    assert set(rig.queue.states().values()) == {RecordState.PENDING}
    assert len(rig.sender.calls) <= 2 * 2


async def test_a_token_that_cannot_be_had_stops_the_account_before_sending() -> None:
    rig = Rig(tokens=True, workers=2)

    async def refuse() -> TokenReply:
        return TokenReply(None, 200, "Invalid userName or apiKey")

    assert rig.tokens is not None
    rig.tokens._generate = refuse
    rig.queue.add_job("purge", phones(4))
    drain = await rig.run()
    assert rig.sender.calls == []
    assert drain.report.stopped is not None and "Invalid userName" in drain.report.stopped[1]
    assert rig.queue.stops["main"][0] is StopReason.AUTH
    assert set(rig.queue.states().values()) == {RecordState.PENDING}


# ---------------------------------------------------------------- shutdown, adopt, limit


@pytest.mark.parametrize("rate", [(60, 60.0), (1000, 1.0)], ids=["slow", "fast-batched"])
async def test_a_shutdown_stops_claiming_and_releases_claims(rate: tuple[int, float]) -> None:
    def script(call: Call, n: int) -> Reply:
        if len(rig.sender.calls) == 5:
            rig.shutdown.request(signal.SIGINT)
        return DELETED

    rig = Rig(script, workers=3, rate=rate)
    rig.queue.add_job("purge", phones(40))
    drain = await rig.run()

    states = list(rig.queue.states().values())
    assert RecordState.IN_FLIGHT not in states
    assert 5 <= states.count(RecordState.DELETED) == len(rig.sender.calls) <= 5 + 3
    assert states.count(RecordState.PENDING) == 40 - len(rig.sender.calls)
    assert rig.shutdown.signum == signal.SIGINT
    assert drain.report.stopped is None


async def test_a_second_signal_abandons_the_requests_under_way() -> None:
    never = asyncio.Event()

    async def hang() -> Reply:
        await never.wait()
        raise AssertionError("never answered")

    def script(call: Call, n: int) -> Any:
        if len(rig.sender.calls) == 3:  # every worker waits for an answer
            loop = asyncio.get_running_loop()
            loop.call_soon(rig.shutdown.request, signal.SIGTERM)
            loop.call_soon(rig.shutdown.request, signal.SIGTERM)
        return hang()

    rig = Rig(script, workers=3, rate=(1000, 1.0))
    rig.queue.add_job("purge", phones(10))
    await rig.run()

    assert len(rig.sender.calls) == 3
    assert set(rig.queue.states().values()) == {RecordState.PENDING}
    assert rig.queue.requests == []  # nothing was settled: the answers never came
    assert rig.shutdown.signum == signal.SIGTERM


async def test_a_job_adopted_mid_run_is_drained_too_sharing_the_account() -> None:
    second: list[Job] = []

    def script(call: Call, n: int) -> Reply:
        if len(rig.sender.calls) == 3:
            job = rig.queue.add_job("later", phones(10, "93333"))
            second.append(job)
            assert rig.drain is not None
            assert rig.drain.adopt(list(rig.queue.jobs_by_id.values())) == [job]
        return DELETED

    rig = Rig(script)
    first = rig.queue.add_job("first", phones(10, "91111"))
    drain = await rig.run()

    assert set(rig.queue.states().values()) == {RecordState.DELETED}
    assert drain.report.drained_jobs == {first.id, second[0].id}
    order = ["first" if call.phone.startswith("91111") else "later" for call in rig.sender.calls]
    assert order[:3] == ["first"] * 3
    # Interleaved: the two jobs take turns while both have work.
    assert order[3:13].count("later") >= 4 and order[3:13].count("first") >= 4
    assert drain.adopt([first]) == []  # adopting a known job again changes nothing


async def test_an_idle_worker_wakes_for_an_adopted_job() -> None:
    def script(call: Call, n: int) -> Reply:
        if len(rig.sender.calls) == 2:  # the first job's last record: the other worker idles
            assert rig.drain is not None
            rig.drain.adopt([rig.queue.add_job("later", phones(3, "93333"))])
        return DELETED

    rig = Rig(script, workers=2)
    rig.queue.add_job("first", phones(2, "91111"))
    await rig.run()
    assert len(rig.sender.calls) == 5
    assert set(rig.queue.states().values()) == {RecordState.DELETED}


@pytest.mark.parametrize("workers", [1, 3])
@pytest.mark.parametrize("rate", [(60, 60.0), (1000, 1.0)], ids=["slow", "fast-batched"])
async def test_the_limit_sends_exactly_that_many_requests(
    workers: int, rate: tuple[int, float]
) -> None:
    rig = Rig(workers=workers, rate=rate, limit=7)
    rig.queue.add_job("purge", phones(20))
    drain = await rig.run()
    assert len(rig.sender.calls) == 7 == drain.report.sent
    states = list(rig.queue.states().values())
    assert states.count(RecordState.DELETED) == 7
    assert states.count(RecordState.PENDING) == 13  # batch claims beyond the limit released
    assert rig.budget.spent


async def test_the_limit_is_shared_by_two_accounts() -> None:
    queue = MemoryQueue()
    queue.add_job("one", phones(10, "91111"), account="main")
    queue.add_job("two", phones(10, "92222"), account="other")
    clock = FakeClock()
    rigs = [Rig(queue=queue, clock=clock, account=name) for name in ("main", "other")]
    budget = Budget(6)
    for rig in rigs:
        rig.budget = budget
    await asyncio.gather(*(rig.run() for rig in rigs))
    assert len(rigs[0].sender.calls) + len(rigs[1].sender.calls) == 6
    assert rigs[0].sender.calls and rigs[1].sender.calls  # both accounts sent
    assert list(queue.states().values()).count(RecordState.DELETED) == 6


async def test_looking_for_work_in_vain_costs_no_budget() -> None:
    # Three records, each answered 503 once: while their retries wait, the workers find
    # nothing to claim, again and again; only requests sent may count against the limit.
    retry = RetryConfig(max_attempts=8, backoff_initial_seconds=10.0, backoff_max_seconds=10.0)
    rig = Rig(lambda call, n: SERVER_ERROR if n == 0 else DELETED, workers=2, retry=retry,
              limit=6)  # fmt: skip
    rig.queue.add_job("purge", phones(3))
    await rig.run()
    assert len(rig.sender.calls) == 6
    assert set(rig.queue.states().values()) == {RecordState.DELETED}


async def test_a_shutdown_does_not_wait_for_a_renewal_held_up_by_the_budget() -> None:
    def script(call: Call, n: int) -> Reply:
        if len(rig.sender.calls) == 1:
            return DELETED  # the token is accepted...
        # ...then refused: renewing it must wait ~an hour for the budget. The operator stops.
        asyncio.get_running_loop().call_soon(rig.shutdown.request, signal.SIGINT)
        return reply_for(protocol.TOKEN_EXPIRED, token_auth=True)

    rig = Rig(script, tokens=True)
    rig.queue.generations["id"] = [rig.clock.time() - 60.0] * 9  # this run makes the 10th
    rig.queue.add_job("purge", phones(5))
    await rig.run()
    assert rig.clock.monotonic() < 60.0  # stopped at once, not after the budget freed
    assert len(rig.generated) == 1


async def test_a_refused_key_is_asked_for_a_token_once() -> None:
    rig = Rig(tokens=True, workers=4, rate=(1000, 1.0))
    asked: list[float] = []

    async def refuse() -> TokenReply:
        asked.append(rig.clock.time())
        await rig.clock.sleep(0.2)
        return TokenReply(None, 200, "Invalid userName or apiKey")

    assert rig.tokens is not None
    rig.tokens._generate = refuse
    rig.queue.add_job("purge", phones(8))
    drain = await rig.run()
    assert drain.report.stopped is not None
    assert len(asked) == 1


async def test_a_job_adopted_with_its_guard_is_guarded() -> None:
    """The guard's settings come with the job: one adopted mid-run is judged like the
    first ones (the adopted-job guard bug: it once had none)."""
    later: list[Job] = []

    def script(call: Call, n: int) -> Reply:
        if len(rig.sender.calls) == 2:
            job = rig.queue.add_job("later", phones(20, "93333"))
            later.append(job)
            assert rig.drain is not None
            rig.drain.adopt([job], {job.id: NotFoundWatch(sample=5, max_ratio=0.8)})
        return NOT_FOUND if call.phone.startswith("93333") else DELETED

    rig = Rig(script)
    rig.queue.add_job("first", phones(10, "91111"))
    drain = await rig.run()

    stored = rig.queue.jobs_by_id[later[0].id]
    assert (stored.state, stored.blocked_reason) == (JobState.BLOCKED, BlockReason.NOT_FOUND_GUARD)
    assert drain.report.blocked_jobs == ["later"]
    assert len([call for call in rig.sender.calls if call.phone.startswith("93333")]) == 5
    # The block was written with the answer that tripped the guard: one settlement.
    tripped = [s for _, s in rig.queue.requests if s.block_job is not None]
    assert len(tripped) == 1 and tripped[0].block_job[0] is BlockReason.NOT_FOUND_GUARD


class LateFirstWrite(FakeSender):
    """Starved for 0.3 s between the pacer and the socket, on its first request only."""

    async def delete(
        self, campaign: str, phone: str, name: str | None = None, *,
        token: str | None = None, sent: Callable[[], None] | None = None,
    ) -> Reply:  # fmt: skip
        if not self.calls:
            await self.clock.sleep(0.3)
        return await super().delete(campaign, phone, name, token=token, sent=sent)


async def test_the_pacer_counts_a_request_from_when_the_sender_wrote_it() -> None:
    rig = Rig(rate=(3, 1.0), workers=3)
    rig.sender = LateFirstWrite(rig.clock)
    rig.queue.add_job("purge", phones(4))
    await rig.run()
    written = [call.at for call in rig.sender.calls]
    # The fourth request leaves a window after the first was written, not after the
    # pacer let it go (0.3 s earlier): the server never sees four in one second.
    assert written[3] >= written[0] + rig.pacer.window
    # The audit rows say when each request was written, the late one too.
    started = sorted(claim.started_at for claim, _ in rig.queue.requests)
    assert started == pytest.approx(written, abs=1e-6)
