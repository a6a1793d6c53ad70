"""The sandbox's settings, counters and decisions, free of aiohttp so they can be unit-tested.

The server calls these in the order the package docstring describes; each step
either answers (a :class:`HttpAnswer`) or lets the request go on to the next.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final

from runner.core import protocol
from runner.core.clock import Ticks
from runner.sandbox.answers import (
    FileAnswer,
    HttpAnswer,
    forced_reply,
    load_answers,
    nginx_page,
)
from runner.sandbox.presence import NumberList, load_numbers, number_present
from runner.sandbox.settings import AuthMode, Counters, SandboxSettings, TokenHeaders
from runner.sandbox.tokens import TokenCheck, TokenIssuer
from runner.sandbox.window import SlidingWindow, retry_after_header

DEFAULT_WINDOW_SECONDS: Final = 60.0
"""Window used to measure ``max_in_window`` when no rate limit is configured."""

_ERROR_REPLIES: Final = (
    HttpAnswer(500, text=nginx_page(500, "Internal Server Error"), content_type="text/html"),
    HttpAnswer(502, text=nginx_page(502, "Bad Gateway"), content_type="text/html"),
    HttpAnswer(503, text="", content_type="text/html"),
)
_TOKEN_BUDGET_SPENT: Final = ("false", "Max limit exceeded")


class Fault(Enum):
    """What fault injection decided for one admitted request."""

    NONE = "none"
    HANG = "hang"
    ERROR = "error"


@dataclass(frozen=True)
class DeleteRequest:
    """A request that passed validation."""

    campaign: str
    phone: str


_FIELDS: Final = (protocol.USER, protocol.CAMPAIGN, protocol.PHONE)


def bearer_token(authorization: str) -> str:
    """The token of an ``Authorization: Bearer <token>`` value ("" if none)."""
    scheme = protocol.BEARER.strip().lower()
    parts = authorization.strip().split(None, 1)
    if len(parts) == 2 and parts[0].lower() == scheme:
        return parts[1].strip()
    return ""


@dataclass
class SandboxState:
    """All of the sandbox's memory and decisions."""

    settings: SandboxSettings
    clock: Ticks = time.monotonic
    numbers: NumberList | None = None
    answers: dict[str, FileAnswer] | None = None
    counters: Counters = field(default_factory=Counters)
    deleted: dict[str, list[str]] = field(default_factory=dict)
    request_counts: dict[tuple[str, str], int] = field(default_factory=dict)
    windows: dict[str, SlidingWindow] = field(default_factory=dict)
    tokens: TokenIssuer = field(init=False)
    _valid_deletes: int = field(default=0, init=False)
    _open: int = field(default=0, init=False)  # deletes being answered now
    _deleted_set: set[tuple[str, str]] = field(default_factory=set, init=False)
    _labels: dict[str, str] = field(default_factory=dict, init=False)
    _users: dict[str, str] = field(default_factory=dict, init=False)  # apiKey -> userName
    _fault_rng: random.Random = field(init=False)
    _jitter_rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        settings = self.settings
        self._fault_rng = random.Random(settings.seed)
        self._jitter_rng = random.Random(f"jitter-{settings.seed}")
        self._users = settings.credentials()
        for number, key in enumerate(self._users, start=1):
            self._labels[key] = f"key#{number}"  # --users N: key#1 ... key#N, in user order
        self.tokens = TokenIssuer(settings.token_ttl, settings.token_budget, self.clock)
        if self.numbers is None and settings.numbers_file is not None:
            self.numbers = load_numbers(settings.numbers_file)
        if self.answers is None and settings.answers_file is not None:
            self.answers = load_answers(settings.answers_file)

    @property
    def token_mode(self) -> bool:
        return self.settings.auth == AuthMode.TOKEN

    # -- step 1: rate limit
    def bucket(self, key: str, authorization: str | None) -> str:
        """The rate-limit bucket: the API key value ("" when missing or blank).

        In token mode every bearer request is the account's (the configured key's):
        the limit is per account, and a renewed token must not start a fresh window.
        """
        if self.token_mode and authorization is not None:
            return self.settings.api_key
        return key if key.strip() else ""

    def admit(self, bucket: str) -> float | None:
        """Count an arriving delete; None if admitted, else seconds to wait."""
        self.counters.requests += 1
        window = self._window(bucket)
        now = self.clock()
        if window.try_admit(now):
            return None
        self.counters.rate_limited += 1
        return window.wait_time(now)

    def _window(self, key: str) -> SlidingWindow:
        if key not in self.windows:
            limit = self.settings.rate_limit
            period = limit[1] if limit else DEFAULT_WINDOW_SECONDS
            self.windows[key] = SlidingWindow(period, limit[0] if limit else None)
        return self.windows[key]

    # -- step 2: faults
    def roll_fault(self) -> Fault:
        """One draw per admitted request, so a seed replays the same fault pattern."""
        roll = self._fault_rng.random()
        if roll < self.settings.hang_rate:
            self.counters.hangs += 1
            return Fault.HANG
        if roll < self.settings.hang_rate + self.settings.error_rate:
            self.counters.errors += 1
            return Fault.ERROR
        return Fault.NONE

    def pick_error(self) -> HttpAnswer:
        """Which 5xx (and body) an injected error answers with."""
        return self._fault_rng.choice(_ERROR_REPLIES)

    def latency_seconds(self) -> float:
        """Delay for one request: the fixed latency plus uniform jitter."""
        jitter = self._jitter_rng.uniform(0, self.settings.latency_jitter_ms)
        return (self.settings.latency_ms + jitter) / 1000.0

    # -- step 3: validation
    def validate(
        self, key: str, body: bytes, authorization: str | None = None
    ) -> DeleteRequest | HttpAnswer:
        """The request's record, or the documented answer that rejects it."""
        refusal = self._authenticate(key, authorization)
        result = refusal if refusal is not None else self._check_record(body, key)
        if isinstance(result, DeleteRequest):
            return result
        self.counters.invalid += 1
        return HttpAnswer.of(result)

    def _authenticate(self, key: str, authorization: str | None) -> tuple[str, str] | None:
        if not self.token_mode:
            if not key.strip():
                return protocol.KEY_MISSING
            return protocol.INVALID_USER if key not in self._users else None
        if authorization is None and key.strip():
            # A basic-auth call to a TOKEN_AUTH account.
            self.counters.invalid_action += 1
            return protocol.INVALID_ACTION
        refusal = self._token_headers(key)
        if refusal is not None:
            return refusal
        token = bearer_token(authorization or "")
        if not token:
            self.counters.tokens_missing += 1
            return protocol.TOKEN_MISSING
        check = self.tokens.check(token)
        if check is TokenCheck.INVALID:
            self.counters.tokens_invalid += 1
            return protocol.INVALID_TOKEN
        if check is TokenCheck.EXPIRED:
            self.counters.tokens_expired += 1
            return protocol.TOKEN_EXPIRED
        return None

    def _token_headers(self, key: str) -> tuple[str, str] | None:
        """``--token-headers``: the apiKey beside the bearer required, refused or either."""
        if key.strip():
            self.counters.token_with_key += 1
        wanted = self.settings.token_headers
        if wanted == TokenHeaders.BEARER and key.strip():
            self.counters.invalid_action += 1
            return protocol.INVALID_ACTION
        if wanted == TokenHeaders.BOTH and not key.strip():
            return protocol.KEY_MISSING
        if wanted == TokenHeaders.BOTH and key != self.settings.api_key:
            return protocol.INVALID_USER
        return None

    def _check_record(self, body: bytes, key: str) -> DeleteRequest | tuple[str, str]:
        record = _parse_record(body)
        if record is None:
            return protocol.INVALID_JSON
        user, campaign, phone = (record.get(name, "") for name in _FIELDS)
        if not user:
            return protocol.USER_MISSING
        if user != self._users.get(key, self.settings.user_name):  # the key's own user
            return protocol.INVALID_USER
        if not campaign:
            return protocol.CAMPAIGN_MISSING
        if self.settings.campaigns and campaign not in self.settings.campaigns:
            return protocol.CAMPAIGN_INVALID
        if not phone:
            return protocol.PHONE_MISSING
        return DeleteRequest(campaign, phone)

    # -- steps 4 and 5: a forced answer, else the deletion
    def answer(self, request: DeleteRequest, *, credential: str, path: str) -> HttpAnswer:
        """The answer to a valid delete: ``--answers``/``--answer`` if they apply, else delete."""
        ident = (request.campaign, request.phone)
        self.request_counts[ident] = self.request_counts.get(ident, 0) + 1
        forced = self._forced(request, credential, path)
        if forced is not None:
            self.counters.forced_answers += 1
            return forced
        return HttpAnswer.of(self.delete(request))

    def _forced(self, request: DeleteRequest, credential: str, path: str) -> HttpAnswer | None:
        if self.answers is not None and request.phone in self.answers:
            return self.answers[request.phone].reply()
        name = self.settings.answer
        if name is None:
            return None
        self._valid_deletes += 1
        if self._valid_deletes < self.settings.answer_from:
            return None
        return forced_reply(
            name, credential=credential, redirect_to=self.settings.redirect_to, path=path
        )

    def delete(self, request: DeleteRequest) -> tuple[str, str]:
        """Delete the number if it exists and is still there."""
        ident = (request.campaign, request.phone)
        if ident in self._deleted_set:
            self.counters.duplicate_deletes += 1
        elif self.exists(request.campaign, request.phone):
            self._deleted_set.add(ident)
            self.deleted.setdefault(request.campaign, []).append(request.phone)
            self.counters.deleted += 1
            count = self.settings.deleted_count
            return protocol.DELETED if count is None else protocol.deleted_count(count)
        self.counters.not_found += 1
        return protocol.NOT_FOUND

    def exists(self, campaign: str, phone: str) -> bool:
        """Whether the number was ever in the campaign (ignores deletions)."""
        if self.numbers is not None:
            return self.numbers.contains(campaign, phone)
        return number_present(campaign, phone, self.settings.present_ratio)

    # -- generateToken
    def generate_token(self, key: str, body: bytes) -> HttpAnswer:
        """``POST generateToken``: a new token, or the answer that refuses one."""
        if not self.token_mode:
            self.counters.invalid_action += 1
            return HttpAnswer.of(protocol.INVALID_ACTION)
        user = _parse_record(body, (protocol.USER,))
        user_name = user.get(protocol.USER, "") if user is not None else ""
        if not user_name:
            refusal = HttpAnswer.of(protocol.TOKEN_USER_MISSING)
        elif key != self.settings.api_key or user_name != self.settings.user_name:
            refusal = HttpAnswer.of(protocol.TOKEN_REFUSED)
        else:
            token = self.tokens.issue(user_name)
            if token is not None:
                self.counters.token_generations += 1
                return HttpAnswer(payload={protocol.TOKEN: token, "message": ""})
            wait = retry_after_header(self.tokens.budget_wait())
            after = (("Retry-After", wait),)
            refusal = HttpAnswer.of(_TOKEN_BUDGET_SPENT, status=429, headers=after)
        self.counters.token_refused += 1
        return refusal

    def opened(self) -> None:
        """A delete arrived: count it as open until ``closed``."""
        self._open += 1
        self.counters.max_concurrent = max(self.counters.max_concurrent, self._open)

    def closed(self) -> None:
        self._open -= 1

    def invalidate_tokens(self) -> int:
        """Invalidate every current token, as another process generating one would."""
        return self.tokens.invalidate_all()

    # -- reporting
    def label(self, key: str) -> str:
        """A stable stand-in for a key, so reports never echo a secret."""
        if not key:
            return "no-key"
        if key not in self._labels:
            self._labels[key] = f"key#{len(self._labels) + 1}"
        return self._labels[key]

    def stats(self) -> dict[str, Any]:
        """The JSON document of ``GET /_sandbox/stats``."""
        per_key = {self.label(key): window.max_seen for key, window in self.windows.items()}
        limit = self.settings.rate_limit
        return {
            **vars(self.counters),
            "max_in_window": per_key,
            "max_in_window_overall": max(per_key.values(), default=0),
            "rate_limit": {"count": limit[0], "period_seconds": limit[1]} if limit else None,
            "window_seconds": limit[1] if limit else DEFAULT_WINDOW_SECONDS,
        }

    def request_list(self) -> list[dict[str, Any]]:
        """The JSON document of ``GET /_sandbox/requests``."""
        return [
            {"campaign": campaign, "phone": phone, "count": count}
            for (campaign, phone), count in self.request_counts.items()
        ]


def _parse_record(body: bytes, fields: tuple[str, ...] = _FIELDS) -> dict[str, str] | None:
    """One JSON object with its fields as trimmed text, or None if malformed."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    record: dict[str, str] = {}
    for name in fields:
        value = data.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, str | int):
            return None
        record[name] = str(value).strip()
    return record
