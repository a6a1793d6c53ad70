"""Record, job and stop states, in one place for the store, the drain, the CLI and the reports.

Kept free of imports so the command line can offer them without loading the rest.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class RecordState(StrEnum):
    """Where a record stands (the ``records.state`` column)."""

    PENDING = "pending"  # waiting; a retry waits here with a not-before time
    IN_FLIGHT = "in_flight"  # claimed for a request whose answer is not recorded yet
    DELETED = "deleted"
    NOT_FOUND = "not_found"
    FAILED = "failed"
    INVALID = "invalid"  # rejected at load, never sent
    CANCELLED = "cancelled"  # taken out by `runner cancel`, never sent (`retry --cancelled`)


class JobState(StrEnum):
    """A job's state; ``done`` is derived (nothing pending or in flight), never stored."""

    ACTIVE = "active"
    BLOCKED = "blocked"
    DONE = "done"


class BlockReason(StrEnum):
    """Why a job was blocked: a code; the words that explain it go in ``blocked_message``."""

    INVALID_CAMPAIGN = "invalid_campaign"
    NOT_FOUND_GUARD = "not_found_guard"


class StopReason(StrEnum):
    """Why an account was stopped (exit 3): its records stay pending."""

    AUTH = "auth"  # the key or user was refused
    AUTH_SETTING = "auth_setting"  # the account's API Authentication setting disagrees
    REDIRECT = "redirect"  # base_url answers with a redirect
    UNKNOWN_ANSWERS = "unknown_answers"  # the same unrecognised answer, record after record
    # No usable answer for retry.give_up_after_seconds (runner.sending.hopeless):
    UNREACHABLE = "unreachable"  # connection refused, DNS, TLS, timeouts
    NO_USABLE_ANSWER = "no_usable_answer"  # non-JSON or unrecognised answers, any status
    RATE_LIMITED = "rate_limited"  # 429 or "Max limit exceeded", nothing else


# The stops (and, for a worker, the sender states) of an account with no usable answer.
HOPELESS_STATES: Final = (
    StopReason.UNREACHABLE,
    StopReason.NO_USABLE_ANSWER,
    StopReason.RATE_LIMITED,
)

RECORD_STATES: Final = tuple(state.value for state in RecordState)
# Final states reached by an answer of the API ('invalid' is final too, but never sent).
ANSWERED_STATES: Final = (RecordState.DELETED, RecordState.NOT_FOUND, RecordState.FAILED)
# A not_found whose record had an interrupted request before: probably deleted by it.
AFTER_INTERRUPTED: Final = "after_interrupted"
