"""Turn one API answer into a verdict: a pure function of (HTTP status, body, auth mode).

The rules: match the ``message`` case-insensitively, ignoring surrounding
whitespace and a trailing full stop; judge by the body first, the HTTP status
second. A body is JSON after dropping a UTF-8 BOM, and a JSON *string* holding a
JSON object (the vendor's documentation shows such double-encoded answers) is
read as that object. A redirect is an answer, never followed: the key would
travel to wherever ``Location`` points.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import StrEnum

from runner.core import protocol
from runner.core.states import StopReason


class Outcome(StrEnum):
    DELETED = "deleted"
    NOT_FOUND = "not_found"
    STOP = "stop"  # stop the whole account (Verdict.stop says why); the record stays pending
    TOKEN_REFUSED = "token_refused"  # TOKEN_AUTH: renew the token and send again
    INVALID_CAMPAIGN = "invalid_campaign"  # block the job; the record stays pending
    FAILED = "failed"  # this record can never succeed as it is
    RATE_LIMITED = "rate_limited"  # slow down and retry; uses no attempt
    TRANSIENT = "transient"  # retry with backoff (server trouble: feeds the breaker)
    UNEXPECTED = "unexpected"  # an answer nobody documented: retry, then fail


@dataclass(frozen=True, slots=True)
class Verdict:
    outcome: Outcome
    reason: str  # a short slug: "invalid_phone", "http_503", "timeout", ...
    message: str  # what the server said, or what went wrong
    stop: StopReason | None = None  # with Outcome.STOP
    count: int | None = None  # "4 Records Deleted Successfully": how many the server deleted


def normalise(message: str) -> str:
    """The comparable form of a message: trimmed, case-folded, no trailing full stop."""
    return message.strip().rstrip(".").strip().casefold()


_KNOWN: dict[str, tuple[Outcome, str]] = {
    normalise(protocol.DELETED[1]): (Outcome.DELETED, "deleted"),
    normalise(protocol.NOT_FOUND[1]): (Outcome.NOT_FOUND, "not_found"),
    normalise(protocol.CAMPAIGN_MISSING[1]): (Outcome.INVALID_CAMPAIGN, "invalid_campaign"),
    normalise(protocol.CAMPAIGN_INVALID[1]): (Outcome.INVALID_CAMPAIGN, "invalid_campaign"),
    normalise(protocol.PHONE_MISSING[1]): (Outcome.FAILED, "invalid_phone"),
    normalise(protocol.INVALID_JSON[1]): (Outcome.FAILED, "invalid_request"),
    normalise(protocol.RATE_LIMITED[1]): (Outcome.RATE_LIMITED, "rate_limited"),
    normalise(protocol.BUSY[1]): (Outcome.TRANSIENT, "busy"),
}
_AUTH = {
    normalise(answer[1])
    for answer in (protocol.KEY_MISSING, protocol.INVALID_USER, protocol.USER_MISSING)
}
_TOKEN = {
    normalise(answer[1])
    for answer in (protocol.INVALID_TOKEN, protocol.TOKEN_EXPIRED, protocol.TOKEN_MISSING)
}
_INVALID_ACTION = normalise(protocol.INVALID_ACTION[1])

# The older API's success, still possible: "4 Records Deleted Successfully" (one number
# matched several leads), "1 record deleted successfully!", "0 Records Deleted".
_COUNTED = re.compile(r"(\d{1,9})\s+records?\s+deleted(?:\s+successfully)?[\s.!]*")

# Phrases other CloudAgent APIs and proxies use when throttling.
_RATE_LIMIT_PHRASES = ("max limit exceeded", "rate limit", "too many requests")

SETTING_HINT = (
    "check the account's API Authentication setting: BASIC_AUTH goes with `auth: basic`, "
    "TOKEN_AUTH with `auth: token`"
)

# With auth: token the runner sends the apiKey beside the bearer, as the vendor's example
# does; an account that refuses the pair may answer "Invalid action." to it.
_PAIR_HINT = "; if it is TOKEN_AUTH, set `token_with_key: false` to send the bearer alone"


def classify(
    http_status: int, body: str, *, token_auth: bool = False, location: str | None = None
) -> Verdict:
    """Decide what one HTTP answer means for its record."""
    if 300 <= http_status < 400:
        where = location or "(no Location header)"
        return Verdict(
            Outcome.STOP,
            "redirect",
            f"HTTP {http_status} redirect to {where}; redirects are never followed: "
            "fix base_url",
            StopReason.REDIRECT,
        )
    message = body_message(body)
    if message is not None:
        verdict = _by_message(message.strip(), token_auth)
        if verdict is not None:
            return verdict
    if http_status == 429:
        return Verdict(Outcome.RATE_LIMITED, "rate_limited", message or "HTTP 429")
    if http_status >= 500:
        return Verdict(Outcome.TRANSIENT, f"http_{http_status}", message or f"HTTP {http_status}")
    if http_status in (401, 403):
        shown = (message or body).strip()[:200] or "(empty body)"
        return Verdict(
            Outcome.STOP, f"http_{http_status}", f"HTTP {http_status}: {shown}", StopReason.AUTH
        )
    if message is None:
        return Verdict(Outcome.TRANSIENT, "not_json", f"HTTP {http_status}, body is not JSON")
    return Verdict(Outcome.UNEXPECTED, "unexpected_response", message.strip() or body.strip())


def _by_message(message: str, token_auth: bool) -> Verdict | None:
    """The verdict for a documented message, or None for one nobody documented."""
    key = normalise(message)
    known = _KNOWN.get(key)
    if known is not None:
        return Verdict(known[0], known[1], message)
    counted = _counted(key, message)
    if counted is not None:
        return counted
    if key in _AUTH:
        return Verdict(Outcome.STOP, "auth", message, StopReason.AUTH)
    if key == _INVALID_ACTION:
        hint = SETTING_HINT + (_PAIR_HINT if token_auth else "")
        return Verdict(Outcome.STOP, "auth_setting", f"{message} — {hint}", StopReason.AUTH_SETTING)
    if key in _TOKEN:
        if token_auth:
            return Verdict(Outcome.TOKEN_REFUSED, "token_refused", message)
        return Verdict(
            Outcome.STOP,
            "auth_setting",
            f"{message} — the account asks for a token (TOKEN_AUTH): set `auth: token`, or "
            f"{SETTING_HINT}",
            StopReason.AUTH_SETTING,
        )
    if any(phrase in key for phrase in _RATE_LIMIT_PHRASES):
        return Verdict(Outcome.RATE_LIMITED, "rate_limited", message)
    return None


def _counted(key: str, message: str) -> Verdict | None:
    """``N Records Deleted Successfully``: deleted (N kept) when N >= 1, not_found when 0."""
    match = _COUNTED.fullmatch(key)
    if match is None:
        return None
    count = int(match.group(1))
    if count == 0:
        return Verdict(Outcome.NOT_FOUND, "not_found", message, count=0)
    return Verdict(Outcome.DELETED, "deleted", message, count=count)


def parse_body(body: str) -> object:
    """The JSON value of a body: BOM dropped, a string holding an object read as that object.

    Raises ValueError when the body is not JSON.
    """
    parsed = json.loads(body.lstrip("\ufeff"))
    if isinstance(parsed, str):
        try:
            inner = json.loads(parsed.strip().lstrip("\ufeff"))
        except ValueError:
            return parsed
        if isinstance(inner, dict):
            return inner
    return parsed


def body_object(body: str) -> dict[str, object] | None:
    """The body as a JSON object, or None when it is not one."""
    try:
        parsed = parse_body(body)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def field(obj: dict[str, object], name: str) -> str | None:
    """A field of a JSON object in any key case, as text (JSON text if not a string)."""
    for key, value in obj.items():
        if key.casefold() == name.casefold():
            return value if isinstance(value, str) else json.dumps(value)
    return None


def body_message(body: str) -> str | None:
    """The ``message`` of a JSON object body (any key case): "" if it has none,
    None when the body is not a JSON object."""
    obj = body_object(body)
    if obj is None:
        return None
    return field(obj, "message") or ""


def transport_failure(reason: str, detail: str) -> Verdict:
    """A request that got no HTTP answer (timeout, refused connection, reset)."""
    return Verdict(Outcome.TRANSIENT, reason, detail)
