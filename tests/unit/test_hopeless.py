"""Hopeless accounts (runner.sending.hopeless): the watch's rules, the drain giving up or probing.

On a fake clock: a ten-minute give-up costs milliseconds and the gaps are exact.
"""

from __future__ import annotations

import itertools

import pytest
from fakes import DELETED, SERVER_ERROR, http_reply
from test_drain import Rig, phones

from runner.config import RetryConfig
from runner.core.states import RecordState, StopReason
from runner.sending.classify import Verdict, transport_failure
from runner.sending.client import Reply
from runner.sending.hopeless import (
    FIRST_CONTACT_GRACE,
    PROBE_INTERVAL,
    HopelessWatch,
    describe,
    hopeless_kind,
    hopeless_note,
)

REFUSED = Reply(
    transport_failure(
        "connection_error",
        "ClientConnectorError: Cannot connect to host 127.0.0.1:9 ssl:default "
        "[Connect call failed ('127.0.0.1', 9)]",
    )
)
TIMEOUT = Reply(transport_failure("timeout", "no answer within 30 s"))
PORTAL = http_reply(200, "<html><body>Please log in to the Wi-Fi</body></html>")
WRONG_METHOD = http_reply(405, "Method Not Allowed")
TOO_MANY = http_reply(429, "Too Many Requests", retry_after=0.0)
MAX_LIMIT = http_reply(200, '{"status": "error", "message": "Max limit exceeded"}')
ODD_JSON = http_reply(200, '{"status": "false", "message": "Something new"}')
BUSY = http_reply(
    200,
    '{"status": "false", '
    '"message": "Already one process is running please try after some time"}',
)
PATIENT = RetryConfig(max_attempts=1000, backoff_initial_seconds=1.0, backoff_max_seconds=5.0)


@pytest.mark.parametrize(
    ("reply", "kind"),
    [(REFUSED, StopReason.UNREACHABLE), (TIMEOUT, StopReason.UNREACHABLE),
     (PORTAL, StopReason.NO_USABLE_ANSWER), (WRONG_METHOD, StopReason.NO_USABLE_ANSWER),
     (SERVER_ERROR, StopReason.NO_USABLE_ANSWER), (ODD_JSON, StopReason.NO_USABLE_ANSWER),
     (TOO_MANY, StopReason.RATE_LIMITED), (MAX_LIMIT, StopReason.RATE_LIMITED),
     (DELETED, None), (BUSY, None)],
)  # fmt: skip
def test_each_answer_has_its_kind(reply: Reply, kind: StopReason | None) -> None:
    assert hopeless_kind(reply.verdict) is kind


def test_the_words_say_what_the_operator_sees() -> None:
    assert describe(REFUSED.verdict) == "connection refused"
    dns = "ClientConnectorDNSError: Cannot connect to host x.invalid:443 ssl:default [Name...]"
    assert describe(transport_failure("connection_error", dns)) == "name not found (DNS)"
    assert describe(PORTAL.verdict) == "HTTP 200, body is not JSON"


def test_the_first_contact_that_never_connects_gets_a_short_grace() -> None:
    watch = HopelessWatch(600.0)
    watch.record(REFUSED.verdict, 1000.0)
    assert watch.judge(1000.0 + FIRST_CONTACT_GRACE - 0.1) is None
    state = watch.judge(1000.0 + FIRST_CONTACT_GRACE)
    assert state is not None
    assert (state.kind, state.since, state.detail) == (
        StopReason.UNREACHABLE, 1000.0, "connection refused"
    )


def test_after_a_usable_answer_the_full_time_applies_and_a_usable_answer_resets() -> None:
    watch = HopelessWatch(600.0)
    watch.record(DELETED.verdict, 0.0)
    watch.record(REFUSED.verdict, 10.0)
    assert watch.judge(10.0 + FIRST_CONTACT_GRACE) is None
    assert watch.judge(609.9) is None
    assert watch.judge(610.0) is not None
    watch.record(DELETED.verdict, 611.0)
    assert watch.judge(5000.0) is None and watch.deadline() is None


def test_a_server_that_answers_gets_the_full_time_even_at_first_contact() -> None:
    watch = HopelessWatch(600.0)
    watch.record(PORTAL.verdict, 0.0)
    watch.record(REFUSED.verdict, 5.0)
    assert watch.judge(599.0) is None
    state = watch.judge(600.0)
    assert state is not None and state.kind is StopReason.UNREACHABLE  # the latest kind
    assert state.since == 0.0


def test_the_note_for_status() -> None:
    watch = HopelessWatch(60.0)
    watch.record(TOO_MANY.verdict, 100.0)
    state = watch.judge(160.0)
    assert hopeless_note(state, None) == ("rate_limited", "HTTP 429", 100.0)
    assert hopeless_note(None, (StopReason.UNREACHABLE, "why")) == ("unreachable", "why", None)
    assert hopeless_note(None, (StopReason.AUTH, "why")) is None


# ---------------------------------------------------------------- the drain


@pytest.mark.parametrize(
    ("reply", "kind", "after"),
    [(REFUSED, StopReason.UNREACHABLE, FIRST_CONTACT_GRACE),
     (PORTAL, StopReason.NO_USABLE_ANSWER, 600.0),
     (WRONG_METHOD, StopReason.NO_USABLE_ANSWER, 600.0),
     (TOO_MANY, StopReason.RATE_LIMITED, 600.0)],
)  # fmt: skip
async def test_a_run_gives_up_with_the_reason_and_leaves_the_records_pending(
    reply: Reply, kind: StopReason, after: float
) -> None:
    rig = Rig(lambda call, n: reply, workers=4, retry=PATIENT,
              hopeless=HopelessWatch(600.0), give_up=True)  # fmt: skip
    rig.queue.add_job("purge", phones(30))
    start = rig.clock.time()
    drain = await rig.run()

    assert drain.report.stopped is not None and drain.report.stopped[0] is kind
    assert rig.queue.stops["main"][0] is kind
    assert f"{kind} since " in rig.queue.stops["main"][1]
    stopped_at = rig.queue.stops["main"][2]
    # Judged at the deadline, not at the end of a 30 s (or longer) circuit-breaker pause.
    assert after <= stopped_at - start <= after + rig.pacer.interval * 4 + 1.0
    assert set(rig.states()) == {RecordState.PENDING}


async def test_a_deadline_sooner_than_the_idle_wait_is_judged_on_time() -> None:
    """The watcher is not woken by every answer, only by the one that starts a streak:
    a 2 s give-up must not wait for its next 5 s look (nor the 30 s pause)."""
    pause = http_reply(429, "Too Many Requests", retry_after=30.0)
    rig = Rig(lambda call, n: pause, workers=1, retry=PATIENT,
              hopeless=HopelessWatch(2.0, grace=2.0), give_up=True)  # fmt: skip
    rig.queue.add_job("purge", phones(5))
    start = rig.clock.time()
    drain = await rig.run()

    assert drain.report.stopped is not None
    assert drain.report.stopped[0] is StopReason.RATE_LIMITED
    assert 2.0 <= rig.queue.stops["main"][2] - start <= 2.0 + rig.pacer.interval + 0.1


async def test_without_the_watch_the_drain_retries_as_before() -> None:
    rig = Rig(lambda call, n: REFUSED if n < 3 else DELETED, retry=PATIENT)
    rig.queue.add_job("purge", phones(3))
    drain = await rig.run()
    assert drain.report.stopped is None
    assert set(rig.states()) == {RecordState.DELETED}


async def test_a_worker_never_gives_up_but_probes_at_most_once_a_minute() -> None:
    rig = Rig(lambda call, n: TOO_MANY, workers=4, retry=PATIENT, limit=40,
              hopeless=HopelessWatch(120.0), give_up=False)  # fmt: skip
    rig.queue.add_job("purge", phones(30))
    start = rig.clock.time()
    drain = await rig.run()

    assert drain.report.stopped is None and rig.queue.stops == {}
    sent = [call.at - start for call in rig.sender.calls]
    assert len(sent) == 40  # the budget, spent slowly
    hopeless_from = next(i for i, at in enumerate(sent) if at >= 120.0)
    later = sent[hopeless_from:]
    assert len(later) >= 3
    assert all(b - a >= PROBE_INTERVAL - 1e-6 for a, b in itertools.pairwise(later))
    assert drain.hopeless is not None and drain.hopeless.kind is StopReason.RATE_LIMITED


async def test_a_worker_recovers_when_the_server_answers() -> None:
    rig = Rig(lambda call, n: REFUSED if call.at < 1_000_000_000 + 200 else DELETED,
              retry=PATIENT, hopeless=HopelessWatch(30.0), give_up=False)  # fmt: skip
    rig.queue.add_job("purge", phones(3))
    drain = await rig.run()
    assert set(rig.states()) == {RecordState.DELETED}
    assert drain.hopeless is None


def test_verdict_type_is_used() -> None:
    assert isinstance(REFUSED.verdict, Verdict)
