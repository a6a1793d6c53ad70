"""The drain loop with a scripted client and a real store: what the e2e tests cannot time."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from dbhelpers import insert_rows

from runner.classify import Outcome, Verdict
from runner.client import Reply
from runner.config import AccountConfig, RetryConfig
from runner.drain import AccountDrain, Budget, Shutdown
from runner.inputs import Row
from runner.limiter import Pacer
from runner.policy import CircuitBreaker
from runner.store import Store

ACCOUNT = AccountConfig.model_validate(
    {"name": "main", "base_url": "http://127.0.0.1:1", "api_key_env": "K", "user_name": "u",
     "rate_limit": "1000/s"}
)  # fmt: skip


class FailingClient:
    """Answers every request with a 503 and remembers when each one was sent."""

    def __init__(self) -> None:
        self.sent: list[float] = []

    async def delete(self, campaign: str, phone: str, name: str | None = None) -> Reply:
        self.sent.append(time.monotonic())
        return Reply(Verdict(Outcome.TRANSIENT, "http_503", "HTTP 503"), 503, "")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with await Store.open(tmp_path / "runner.db") as store:
        yield store


async def test_the_breaker_pauses_a_failing_account_without_burning_attempts(
    store: Store, tmp_path: Path
) -> None:
    job_id = await store.ensure_job("purge", "main", "Sales")
    (tmp_path / "in.txt").write_text("")
    source_id, _ = await store.source(job_id, tmp_path / "in.txt")
    await insert_rows(store, job_id, source_id, [Row(1, "9876543210", None)])
    client = FailingClient()
    drain = AccountDrain(
        store=store,
        account=ACCOUNT,
        client=client,  # type: ignore[arg-type]
        jobs=await store.jobs(),
        retry=RetryConfig(max_attempts=7, backoff_initial_seconds=0.0, backoff_max_seconds=0.0),
        workers=1,
        pacer=Pacer(1000, 1.0),
        budget=Budget(None),
        shutdown=Shutdown(),
        breaker=CircuitBreaker(threshold=3, cooldown=0.2, max_cooldown=0.3),
    )

    await drain.run()

    gaps = [b - a for a, b in zip(client.sent, client.sent[1:], strict=False)]
    assert len(client.sent) == 7  # every attempt was made: none burnt by the pause
    # After the 3rd and 6th failure in a row the account cooled down (0.2 s, then 0.3 s).
    assert gaps[2] >= 0.2 and gaps[5] >= 0.3
    counts = await store.state_counts()
    assert counts[job_id] == {"failed": 1}
