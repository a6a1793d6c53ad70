"""Hopeless accounts: no usable answer for too long, named by what the operator sees.

Retries, backoff and the circuit breaker are right for a server that fails now
and then; against a closed port, a captive portal answering HTML or a server
answering 429 for ever they go on for weeks. This watch tells them apart: every
answer is usable (the API said something it documents: deleted, not found, a
refusal, a stop) or one of three hopeless kinds, and an account whose answers
have all been hopeless for ``give_up_after`` seconds is hopeless. A ``run`` then
stops the account (exit 3, records untouched); a ``worker`` keeps probing, at most
one request every PROBE_INTERVAL, and says so in ``runner status``.

Pure: time is passed in, nothing is sent or written here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Final

from runner.core.states import HOPELESS_STATES, StopReason
from runner.sending.classify import Outcome, Verdict

# When not one request of a run has been answered and the server cannot even be
# connected to, the base_url is wrong or the server is down: say so after this long
# rather than after give_up_after_seconds.
FIRST_CONTACT_GRACE: Final = 10.0
# A worker keeps trying a hopeless account, but no more often than this.
PROBE_INTERVAL: Final = 60.0

# No HTTP answer at all.
_UNREACHABLE: Final = frozenset({"timeout", "connection_error"})


def hopeless_kind(verdict: Verdict) -> StopReason | None:
    """The kind of hopeless answer ``verdict`` is, or None when the API answered usably."""
    if verdict.outcome is Outcome.RATE_LIMITED:
        return StopReason.RATE_LIMITED
    if verdict.outcome is Outcome.UNEXPECTED:
        return StopReason.NO_USABLE_ANSWER
    if verdict.outcome is not Outcome.TRANSIENT or verdict.reason == "busy":
        return None  # a documented answer: the server works, whatever it said
    if verdict.reason in _UNREACHABLE:
        return StopReason.UNREACHABLE
    return StopReason.NO_USABLE_ANSWER  # not JSON, or a server error, of any status


@dataclass(frozen=True, slots=True)
class Hopeless:
    """An account's hopeless state: what kind, since when, and the latest words for it."""

    kind: StopReason
    since: float  # epoch seconds of the first answer of the streak
    detail: str

    def message(self, clock_text: str) -> str:
        """``unreachable since 03:12: connection refused`` (``clock_text`` renders ``since``)."""
        return f"{self.kind} since {clock_text}: {self.detail}"


class HopelessWatch:
    """Counts answers; says when an account has had no usable answer for too long."""

    def __init__(self, give_up_after: float, grace: float = FIRST_CONTACT_GRACE) -> None:
        self.give_up_after = give_up_after
        self.grace = min(grace, give_up_after)
        self.answered = False  # a usable answer came in this run
        self._since: float | None = None
        self._kind: StopReason | None = None
        self._detail = ""
        self._only_unreachable = True

    def record(self, verdict: Verdict, now: float) -> None:
        kind = hopeless_kind(verdict)
        if kind is None:
            self.answered = True
            self._since = self._kind = None
            self._only_unreachable = True
            return
        if self._since is None:
            self._since = now
        self._kind = kind
        self._detail = describe(verdict)
        self._only_unreachable &= kind is StopReason.UNREACHABLE

    def deadline(self) -> float | None:
        """When the current streak becomes hopeless (epoch seconds), or None without one."""
        if self._since is None:
            return None
        first_contact = not self.answered and self._only_unreachable
        return self._since + (self.grace if first_contact else self.give_up_after)

    def judge(self, now: float) -> Hopeless | None:
        deadline = self.deadline()
        if deadline is None or now < deadline or self._kind is None or self._since is None:
            return None
        return Hopeless(self._kind, self._since, self._detail)


# Words in aiohttp's and the OS's messages, and what the operator should read.
_WORDS: Final = (
    ("connect call failed", "connection refused"),
    ("connection refused", "connection refused"),
    ("dnserror", "name not found (DNS)"),
    ("name or service not", "name not found (DNS)"),
    ("certificate", "TLS certificate refused"),
    ("sslerror", "TLS handshake failed"),
    ("reset by peer", "connection reset"),
)


def describe(verdict: Verdict) -> str:
    """Short words for the operator: ``connection refused``, ``HTTP 200, body is not JSON``."""
    if verdict.reason == "connection_error":
        lowered = verdict.message.casefold()
        found = next((words for key, words in _WORDS if key in lowered), None)
        return found or verdict.message.split(": ", 1)[-1][:120]
    return verdict.message[:120]


def hopeless_message(state: Hopeless) -> str:
    """``unreachable since 03:12: connection refused``, in local time as status shows it."""
    return state.message(time.strftime("%H:%M", time.localtime(state.since)))


def hopeless_note(
    state: Hopeless | None, stopped: tuple[StopReason, str] | None
) -> tuple[str, str, float | None] | None:
    """(state, note, since) for the senders table when the account is hopeless, or None.

    A worker's probed account says its kind (``unreachable``) with the words; a run
    that gave up says the same word, with the stop's message.
    """
    if state is not None:
        return str(state.kind), state.detail, state.since
    if stopped is not None and stopped[0] in HOPELESS_STATES:
        return str(stopped[0]), stopped[1], None
    return None


class Hope:
    """One account's watch in a drain: its state, the log lines when it changes, a run's stop."""

    def __init__(self, watch: HopelessWatch, give_up: bool, log: Any) -> None:
        self.watch = watch
        self.give_up = give_up
        self.log = log
        self.state: Hopeless | None = None

    def judge(self, now: float) -> tuple[StopReason, str] | None:
        """Update the state; the stop (reason, message) when a run gives up now."""
        state = self.watch.judge(now)
        if state is None:
            if self.state is not None:
                self.log.info("account_recovered", was=str(self.state.kind))
            self.state = None
            return None
        if self.state is None or self.state.kind != state.kind:
            self.log.warning("account_hopeless", state=str(state.kind), since=state.since,
                             detail=state.detail, message=hopeless_message(state))  # fmt: skip
        self.state = state
        if not self.give_up:
            return None
        return state.kind, (
            f"{hopeless_message(state)}; no usable answer for {now - state.since:.0f} s: "
            "check base_url and the server, then run again"
        )
