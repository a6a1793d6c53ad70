"""Turn one API answer into a verdict: a pure function of (HTTP status, body text).

SPEC §1: match the ``message`` case-insensitively, ignoring surrounding
whitespace and a trailing full stop; judge by the body first, the status second.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum

from runner import protocol


class Outcome(StrEnum):
    DELETED = "deleted"
    NOT_FOUND = "not_found"
    AUTH = "auth"  # stop the whole account; the record stays pending
    INVALID_CAMPAIGN = "invalid_campaign"  # block the job; the record stays pending
    FAILED = "failed"  # this record can never succeed as it is
    RATE_LIMITED = "rate_limited"  # slow down and retry; uses no attempt
    TRANSIENT = "transient"  # retry with backoff
    UNEXPECTED = "unexpected"  # retry with backoff, then fail as unexpected_response


@dataclass(frozen=True, slots=True)
class Verdict:
    outcome: Outcome
    reason: str  # a short slug: "invalid_phone", "http_503", "timeout", ...
    message: str  # what the server said, or what went wrong


def normalise(message: str) -> str:
    """The comparable form of a message: trimmed, case-folded, no trailing full stop."""
    return message.strip().rstrip(".").strip().casefold()


_KNOWN: dict[str, tuple[Outcome, str]] = {
    normalise(protocol.DELETED[1]): (Outcome.DELETED, "deleted"),
    normalise(protocol.NOT_FOUND[1]): (Outcome.NOT_FOUND, "not_found"),
    normalise(protocol.KEY_MISSING[1]): (Outcome.AUTH, "auth"),
    normalise(protocol.INVALID_USER[1]): (Outcome.AUTH, "auth"),
    normalise(protocol.USER_MISSING[1]): (Outcome.AUTH, "auth"),
    normalise(protocol.CAMPAIGN_MISSING[1]): (Outcome.INVALID_CAMPAIGN, "invalid_campaign"),
    normalise(protocol.CAMPAIGN_INVALID[1]): (Outcome.INVALID_CAMPAIGN, "invalid_campaign"),
    normalise(protocol.PHONE_MISSING[1]): (Outcome.FAILED, "invalid_phone"),
    normalise(protocol.INVALID_JSON[1]): (Outcome.FAILED, "invalid_request"),
    normalise(protocol.RATE_LIMITED[1]): (Outcome.RATE_LIMITED, "rate_limited"),
    normalise(protocol.BUSY[1]): (Outcome.TRANSIENT, "busy"),
}

# Phrases other CloudAgent APIs and proxies use when throttling.
_RATE_LIMIT_PHRASES = ("max limit exceeded", "rate limit", "too many requests")


def classify(http_status: int, body: str) -> Verdict:
    """Decide what one HTTP answer means for its record."""
    message = body_message(body)
    if message is not None:
        known = _KNOWN.get(normalise(message))
        if known is not None:
            return Verdict(known[0], known[1], message.strip())
        if any(phrase in normalise(message) for phrase in _RATE_LIMIT_PHRASES):
            return Verdict(Outcome.RATE_LIMITED, "rate_limited", message.strip())
    if http_status == 429:
        return Verdict(Outcome.RATE_LIMITED, "rate_limited", message or "HTTP 429")
    if http_status >= 500:
        return Verdict(Outcome.TRANSIENT, f"http_{http_status}", message or f"HTTP {http_status}")
    if message is None:
        return Verdict(Outcome.TRANSIENT, "not_json", f"HTTP {http_status}, body is not JSON")
    return Verdict(Outcome.UNEXPECTED, "unexpected_response", message.strip() or body.strip())


def body_message(body: str) -> str | None:
    """The ``message`` field of a JSON object body (any key case), else None."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    if not isinstance(parsed, dict):
        return None
    for key, value in parsed.items():
        if isinstance(key, str) and key.casefold() == "message":
            return value if isinstance(value, str) else json.dumps(value)
    return ""


def transport_failure(reason: str, detail: str) -> Verdict:
    """A request that got no HTTP answer (timeout, refused connection, reset)."""
    return Verdict(Outcome.TRANSIENT, reason, detail)
