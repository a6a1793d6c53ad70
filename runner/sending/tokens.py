"""Bearer tokens of one TOKEN_AUTH account: generated, renewed, budgeted — never stored.

CloudAgent accounts set to TOKEN_AUTH take ``Authorization: Bearer <token>``. A
token comes from ``generateToken`` (with the key), lives 60 minutes (its JWT
``exp`` claim says exactly), and generating one invalidates every earlier one;
at most 10 may be generated an hour. So the provider:

* generates before the first delete, and renews a tenth of the lifetime ahead of
  expiry, under a lock, so concurrent workers never generate two at once;
* renews once when a delete is answered Invalid Token or Token Expired (another
  process generated one, or the clock drifted); a token refused before it was
  ever accepted stops the account;
* counts generations in the queue (times only, never the token), so a restart
  counts too, and waits when 10 were made in the last hour, saying until when.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from typing import Any

from runner.core.clock import Clock, iso_ms
from runner.core.errors import TokenStop
from runner.core.logs import get_logger, redactor
from runner.core.states import StopReason
from runner.sending.classify import Outcome
from runner.sending.client import TokenReply
from runner.storage.queue import Queue

DEFAULT_LIFETIME = 3600.0  # when the token's exp cannot be read
RENEW_SHARE = 0.1  # renew this share of the lifetime before expiry
BUDGET = 10  # generations...
BUDGET_WINDOW = 3600.0  # ...in any window this long
# Waiting after a generation that got no usable answer (server error, throttled).
RETRY_FIRST, RETRY_MAX = 2.0, 300.0
MAX_TRANSIENT_TRIES = 30
# Answers that say nothing about whether the API took the token.
NOT_ABOUT_THE_TOKEN = (Outcome.TRANSIENT, Outcome.RATE_LIMITED, Outcome.STOP)


def token_expiry(token: str, now: float) -> float:
    """When ``token`` expires (epoch seconds): its JWT ``exp``, else an hour from ``now``."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        exp = float(claims["exp"])
    except (IndexError, KeyError, TypeError, ValueError, binascii.Error):
        return now + DEFAULT_LIFETIME
    return exp if exp > now else now + DEFAULT_LIFETIME


def renew_at(issued: float, expires: float) -> float:
    """When to renew a token valid from ``issued`` to ``expires``: ahead by a share of it."""
    return expires - (expires - issued) * RENEW_SHARE


def budget_free_at(generations: list[float], now: float) -> float | None:
    """None when a token may be generated now; else the time the budget allows one."""
    recent = sorted(at for at in generations if at > now - BUDGET_WINDOW)
    if len(recent) < BUDGET:
        return None
    return recent[-BUDGET] + BUDGET_WINDOW


def is_refusal(reply: TokenReply) -> bool:
    """An answer that says the key or user is wrong (no use asking again)."""
    status = reply.http_status
    if status is None or status >= 500 or status == 429:
        return False
    return "max limit" not in reply.message.casefold() and "rate limit" not in (
        reply.message.casefold()
    )


Waiting = Callable[[float | None], Awaitable[None]]


class TokenProvider:
    """The current token of one account, and its renewals."""

    def __init__(
        self,
        generate: Callable[[], Awaitable[TokenReply]],
        *,
        queue: Queue,
        identity: str,
        clock: Clock,
        on_wait: Waiting | None = None,
        log: Any = None,
    ) -> None:
        self._generate = generate
        self._queue = queue
        self._identity = identity
        self._clock = clock
        self._on_wait = on_wait
        self._log = log if log is not None else get_logger()
        self._lock = asyncio.Lock()
        self._token: str | None = None
        self._renew_at = 0.0
        self._accepted = False
        self._stopped: TokenStop | None = None  # a refusal is final: asked once, not per worker
        self.generated = 0  # in this process

    async def get(self) -> str:
        """A token to send with, generating or renewing it when due."""
        async with self._lock:
            if self._token is None or self._clock.time() >= self._renew_at:
                await self._new_token()
            assert self._token is not None
            return self._token

    async def answered(self, token: str, outcome: Outcome) -> None:
        """How a delete sent with ``token`` fared: renews it if the API refused it."""
        if outcome is Outcome.TOKEN_REFUSED:
            await self.refused(token)
        elif outcome not in NOT_ABOUT_THE_TOKEN:
            self.accepted(token)

    def accepted(self, token: str) -> None:
        """A delete sent with ``token`` got an answer that was not about the token."""
        if token == self._token:
            self._accepted = True

    async def refused(self, token: str) -> None:
        """A delete sent with ``token`` was answered Invalid Token / Token Expired / empty."""
        async with self._lock:
            if token != self._token:
                return  # another worker renewed it meanwhile: just send again
            if not self._accepted:
                raise TokenStop(
                    StopReason.AUTH,
                    "a freshly generated token was refused; check the account's API "
                    "Authentication setting and that no other process generates tokens for it",
                )
            self._log.info("token_renewing", why="the API refused the current token")
            await self._new_token()

    async def _new_token(self) -> None:
        if self._stopped is not None:
            raise self._stopped
        try:
            await self._generate_with_retries()
        except TokenStop as stop:
            self._stopped = stop
            raise

    async def _generate_with_retries(self) -> None:
        delay, tries = RETRY_FIRST, 0
        while True:
            now = self._clock.time()
            made = await self._queue.token_generations(self._identity, now - BUDGET_WINDOW)
            free_at = budget_free_at(made, now)
            if free_at is not None:
                await self._wait(free_at - now, free_at, "token_budget_spent")
                continue
            # Counted before sending: a generation whose answer is lost may still count.
            await self._queue.add_token_generation(self._identity, now)
            reply = await self._generate()
            if reply.token:
                issued = self._clock.time()
                redactor.add(reply.token)  # a credential: masked in every log line
                self._token, self._accepted = reply.token, False
                self._renew_at = renew_at(issued, token_expiry(reply.token, issued))
                self.generated += 1
                if self._on_wait is not None:
                    await self._on_wait(None)
                return
            if is_refusal(reply):
                raise TokenStop(StopReason.AUTH, f"generateToken refused: {reply.message}")
            tries += 1
            if tries >= MAX_TRANSIENT_TRIES:
                raise TokenStop(StopReason.AUTH, f"no token after {tries} tries: {reply.message}")
            pause = reply.retry_after if reply.retry_after is not None else delay
            delay = min(delay * 2, RETRY_MAX)
            await self._wait(pause, self._clock.time() + pause, "token_retry",
                             message=reply.message)  # fmt: skip

    async def _wait(self, seconds: float, until: float, event: str, **fields: object) -> None:
        self._log.warning(event, until=iso_ms(until), **fields)
        if self._on_wait is not None:
            await self._on_wait(until)
        await self._clock.sleep(max(seconds, 0.0))
