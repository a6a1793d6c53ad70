"""Bearer tokens: expiry from the JWT, renewal, one generation at a time, the hourly budget."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest
from fakes import FakeClock, make_jwt

from runner.core.states import StopReason
from runner.sending.client import TokenReply
from runner.sending.tokens import (
    BUDGET,
    BUDGET_WINDOW,
    DEFAULT_LIFETIME,
    RETRY_FIRST,
    TokenProvider,
    TokenStop,
    budget_free_at,
    renew_at,
    token_expiry,
)
from runner.testing.memqueue import MemoryQueue

IDENTITY = "account-identity"
NOW = 1_800_000_000.0

# ---------------------------------------------------------------- pure functions


def test_token_expiry_reads_the_jwt_exp() -> None:
    assert token_expiry(make_jwt({"exp": NOW + 1800, "sub": "admin"}), NOW) == NOW + 1800


@pytest.mark.parametrize(
    "token",
    [
        "not-a-jwt",
        "",
        "a.%%%.c",  # payload not base64
        make_jwt(raw_payload="bm90IGpzb24"),  # base64 of "not json"
        make_jwt({"sub": "no exp"}),
        make_jwt({"exp": "soon"}),
        make_jwt({"exp": None}),
        make_jwt(raw_payload="WzFd"),  # base64 of "[1]": not an object
        make_jwt({"exp": NOW - 10}),  # already past: do not trust it
    ],
    ids=["plain", "empty", "bad-b64", "not-json", "no-exp", "exp-text", "exp-null", "list",
         "past"],
)  # fmt: skip
def test_token_expiry_falls_back_to_an_hour(token: str) -> None:
    assert token_expiry(token, NOW) == NOW + DEFAULT_LIFETIME


def test_renewal_is_a_tenth_of_the_lifetime_ahead() -> None:
    assert renew_at(NOW, NOW + 3600) == NOW + 3240
    assert renew_at(NOW, NOW + 600) == NOW + 540


def test_budget_free_at() -> None:
    nine = [NOW - 3000 + i for i in range(9)]
    assert budget_free_at(nine, NOW) is None
    ten = [NOW - 3000 + i * 10 for i in range(10)]
    assert budget_free_at(ten, NOW) == NOW - 3000 + BUDGET_WINDOW
    # Generations older than the window do not count.
    assert budget_free_at([NOW - 4000] * 5 + nine, NOW) is None
    # With more than ten, the window frees when the tenth-latest leaves it.
    many = [NOW - 3500 + i for i in range(15)]
    assert budget_free_at(many, NOW) == many[5] + BUDGET_WINDOW


# ---------------------------------------------------------------- the provider


@dataclass
class Generator:
    """A fake generateToken: answers from a script, then fresh tokens expiring in an hour."""

    clock: FakeClock
    script: list[TokenReply] = field(default_factory=list)
    made: list[str] = field(default_factory=list)
    calls: int = 0
    lifetime: float = 3600.0

    async def __call__(self) -> TokenReply:
        self.calls += 1
        # Let other tasks run meanwhile, as a real request would.
        await self.clock.sleep(0.5)
        if self.script:
            return self.script.pop(0)
        token = make_jwt({"exp": self.clock.time() + self.lifetime, "n": self.calls})
        self.made.append(token)
        return TokenReply(token, 200, "")


@dataclass
class Setup:
    clock: FakeClock
    queue: MemoryQueue
    generator: Generator
    provider: TokenProvider
    waits: list[float | None]


def setup(
    script: list[TokenReply] | None = None,
    *,
    clock: FakeClock | None = None,
    queue: MemoryQueue | None = None,
    identity: str = IDENTITY,
) -> Setup:
    clock = clock or FakeClock()
    queue = queue or MemoryQueue()
    generator = Generator(clock, list(script or []))
    waits: list[float | None] = []

    async def on_wait(until: float | None) -> None:
        waits.append(until)

    provider = TokenProvider(
        generator, queue=queue, identity=identity, clock=clock, on_wait=on_wait
    )
    return Setup(clock, queue, generator, provider, waits)


async def test_first_get_generates_and_later_gets_reuse_it() -> None:
    s = setup()
    token = await s.provider.get()
    assert token == s.generator.made[0]
    assert await s.provider.get() == token
    assert s.generator.calls == 1 == s.provider.generated
    assert len(s.queue.generations[IDENTITY]) == 1


async def test_renews_a_tenth_of_the_lifetime_before_expiry() -> None:
    s = setup()
    s.generator.lifetime = 1000.0
    first = await s.provider.get()  # issued when the answer came: expires 1000 s later
    s.clock.advance(900.0 - 1.0)
    assert await s.provider.get() == first
    s.clock.advance(1.0 + 1e-6)  # 900 s after issue: 100 s (10 %) before expiry
    second = await s.provider.get()
    assert second != first and s.generator.calls == 2


async def test_an_unreadable_exp_renews_after_54_minutes() -> None:
    s = setup([TokenReply("opaque-token", 200, "")])
    assert await s.provider.get() == "opaque-token"
    s.clock.advance(0.9 * DEFAULT_LIFETIME - 1)
    assert await s.provider.get() == "opaque-token"
    s.clock.advance(2)
    assert await s.provider.get() != "opaque-token"


async def test_ten_concurrent_gets_generate_exactly_one_token() -> None:
    s = setup()
    tokens = await asyncio.gather(*(s.provider.get() for _ in range(10)))
    assert s.generator.calls == 1
    assert set(tokens) == {s.generator.made[0]}


async def test_refused_after_acceptance_generates_a_new_token() -> None:
    s = setup()
    first = await s.provider.get()
    s.provider.accepted(first)
    await s.provider.refused(first)
    assert s.generator.calls == 2
    second = await s.provider.get()
    assert second == s.generator.made[1] != first
    assert s.generator.calls == 2


async def test_refused_before_ever_accepted_stops_the_account() -> None:
    s = setup()
    first = await s.provider.get()
    with pytest.raises(TokenStop) as caught:
        await s.provider.refused(first)
    assert caught.value.reason is StopReason.AUTH
    assert "API Authentication" in caught.value.message
    assert s.generator.calls == 1


async def test_a_renewed_token_must_be_accepted_again_before_a_refusal_renews() -> None:
    s = setup()
    first = await s.provider.get()
    s.provider.accepted(first)
    await s.provider.refused(first)
    second = await s.provider.get()
    with pytest.raises(TokenStop):
        await s.provider.refused(second)


async def test_accepting_a_stale_token_does_not_vouch_for_the_current_one() -> None:
    s = setup()
    first = await s.provider.get()
    s.provider.accepted(first)
    await s.provider.refused(first)
    s.provider.accepted(first)  # a late answer for the old token
    with pytest.raises(TokenStop):
        await s.provider.refused(await s.provider.get())


async def test_refusal_of_a_stale_token_does_nothing() -> None:
    s = setup()
    first = await s.provider.get()
    s.provider.accepted(first)
    await s.provider.refused(first)
    # Workers that sent with the old token learn of its refusal afterwards.
    for _ in range(5):
        await s.provider.refused(first)
    assert s.generator.calls == 2


async def test_concurrent_refusals_of_one_token_renew_once() -> None:
    s = setup()
    first = await s.provider.get()
    s.provider.accepted(first)
    await asyncio.gather(*(s.provider.refused(first) for _ in range(8)))
    assert s.generator.calls == 2


async def test_a_spent_budget_waits_until_the_oldest_generation_leaves_the_window() -> None:
    s = setup()
    now = s.clock.time()
    made = [now - 3000 + 100 * i for i in range(BUDGET)]
    s.queue.generations[IDENTITY] = list(made)
    free_at = made[0] + BUDGET_WINDOW  # 600 s from now

    token = await s.provider.get()

    assert s.waits[0] == pytest.approx(free_at)
    assert s.waits[-1] is None  # told that the wait is over
    assert s.generator.calls == 1 and token == s.generator.made[0]
    generated_at = s.queue.generations[IDENTITY][-1]
    assert generated_at >= free_at
    assert generated_at == pytest.approx(free_at, abs=1e-3)
    # Never more than BUDGET generations in any window.
    assert budget_free_at(s.queue.generations[IDENTITY][:-1], generated_at) is None


async def test_generations_before_a_restart_count() -> None:
    s = setup()
    now = s.clock.time()
    # Written by an earlier process: this provider has generated nothing yet.
    s.queue.generations[IDENTITY] = [now - 10.0] * BUDGET
    other = setup(clock=s.clock, queue=s.queue, identity="another-account")
    task = asyncio.ensure_future(s.provider.get())
    await other.provider.get()  # another identity's budget is its own
    assert other.generator.calls == 1 and s.generator.calls == 0
    assert s.clock.time() < now + 1
    await task
    assert s.clock.time() >= now - 10.0 + BUDGET_WINDOW
    assert s.generator.calls == 1


async def test_refused_generation_stops_the_account() -> None:
    s = setup([TokenReply(None, 200, "Invalid userName or apiKey")])
    with pytest.raises(TokenStop) as caught:
        await s.provider.get()
    assert caught.value.reason is StopReason.AUTH
    assert "Invalid userName or apiKey" in caught.value.message
    assert s.generator.calls == 1


@pytest.mark.parametrize(
    "failure",
    [
        TokenReply(None, 503, "HTTP 503"),
        TokenReply(None, 500, "<html>"),
        TokenReply(None, None, "no answer within 30 s"),
        TokenReply(None, 200, "Max limit exceeded"),
    ],
    ids=["503", "500", "timeout", "max-limit"],
)
async def test_server_trouble_is_retried_with_growing_waits(failure: TokenReply) -> None:
    s = setup([failure, failure, failure])
    start = s.clock.monotonic()
    token = await s.provider.get()
    assert token == s.generator.made[0]
    assert s.generator.calls == 4
    # Waits of 2, 4 and 8 s between the tries (plus the fake request time).
    waits = [w for w in s.clock.sleeps if w >= RETRY_FIRST]
    assert waits == [RETRY_FIRST, 2 * RETRY_FIRST, 4 * RETRY_FIRST]
    assert s.clock.monotonic() - start == pytest.approx(14.0 + 4 * 0.5, abs=1e-3)
    # Each try counts against the budget: a lost answer may have generated a token.
    assert len(s.queue.generations[IDENTITY]) == 4


async def test_a_throttled_generation_honours_retry_after() -> None:
    s = setup([TokenReply(None, 429, "Too Many Requests", retry_after=45.0)])
    await s.provider.get()
    assert 45.0 in s.clock.sleeps
    assert s.waits[0] is not None


async def test_the_token_is_never_stored() -> None:
    s = setup()
    token = await s.provider.get()
    s.provider.accepted(token)
    await s.provider.refused(token)
    second = await s.provider.get()
    stored = repr(s.queue)
    assert token not in stored and second not in stored
    assert all(isinstance(at, float) for at in s.queue.generations[IDENTITY])
