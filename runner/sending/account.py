"""What a sending process keeps for each account across its drains, and the state it
reports for it in ``runner status`` (:mod:`runner.sending.senderstate`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from runner.config import AccountConfig
from runner.core.clock import Ticks
from runner.sending import senderstate
from runner.sending.accountlock import AnyLock
from runner.sending.client import CloudAgentClient
from runner.sending.drain import AccountDrain
from runner.sending.hopeless import hopeless_note
from runner.sending.limiter import Pacer, Sleep
from runner.sending.rulings import AccountReport
from runner.sending.tokens import TokenProvider


@dataclass
class Account:
    """What this process keeps for one account across its drains."""

    config: AccountConfig
    pacer: Pacer
    client: CloudAgentClient
    tokens: TokenProvider | None
    lock: AnyLock
    ready: bool = False  # client open, pacer seeded, token provider made
    drain: AccountDrain | None = None
    waiting_until: float | None = None
    said: str | None = None  # the state last logged
    reports: list[AccountReport] = field(default_factory=list)


def new_account(
    config: AccountConfig, api_key: str, connections: int, lock: AnyLock, *, ticks: Ticks,
    sleep: Sleep,
) -> Account:  # fmt: skip
    """An account's client and pacer, kept for the process's lifetime; the token provider
    is made when the account is first entered."""
    client = CloudAgentClient(
        config.base_url,
        api_key,
        config.user_name,
        config.timeout_seconds,
        token_auth=config.auth == "token",
        token_with_key=config.token_with_key,
        connections=connections,
    )
    rate = config.rate_limit
    pacer = Pacer(rate.count, rate.period_seconds, clock=ticks, sleep=sleep)
    return Account(config, pacer, client, None, lock)


def sender_state(
    account: Account, now: float
) -> tuple[str, str | None, float | None, float | None]:
    """(state, note, until, since) of an account this process has (runner.sending.senderstate);
    ``since`` is when a hopeless state began (runner.sending.hopeless)."""
    drain = account.drain
    stopped = account.reports[-1].stopped if account.reports else None
    hopeless = hopeless_note(drain.hopeless if drain is not None else None, stopped)
    if hopeless is not None:
        state, note, since = hopeless
        return state, note, None, since
    if stopped is not None:
        return senderstate.STOPPED, f"{stopped[0]}: {stopped[1]}", None, None
    if not account.lock.held:
        return senderstate.LOCKED_ELSEWHERE, account.lock.refusal(), None, None
    if account.waiting_until is not None:
        return senderstate.WAITING, "token budget spent", account.waiting_until, None
    if drain is None:
        return senderstate.IDLE, None, None, None
    state, until = senderstate.drain_state(drain.view(), now)
    return state, None, until, None
