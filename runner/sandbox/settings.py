"""What the sandbox can be told (its settings) and what it counts (its counters)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from runner.sandbox.answers import BodyEncoding, ForcedAnswer


class AuthMode(StrEnum):
    """The account's "API Authentication" setting the sandbox plays (``--auth``)."""

    BASIC = "basic"  # BASIC_AUTH: the apiKey header on every delete
    TOKEN = "token"  # TOKEN_AUTH: Authorization: Bearer <token from generateToken>


class TokenHeaders(StrEnum):
    """Which headers a TOKEN_AUTH delete must carry (``--token-headers``)."""

    EITHER = "either"  # the bearer, with or without the apiKey header
    BOTH = "both"  # the bearer and a valid apiKey, as the vendor's example request sends
    BEARER = "bearer"  # the bearer alone: an apiKey beside it gets "Invalid action."


@dataclass(frozen=True)
class SandboxSettings:
    """Everything the sandbox can be told; defaults match ``runner sandbox``."""

    host: str = "127.0.0.1"
    port: int = 8080
    api_key: str = "sandbox-key"
    user_name: str = "sandbox"
    campaigns: frozenset[str] = frozenset()  # empty: every campaign is valid
    numbers_file: Path | None = None  # overrides present_ratio when given
    present_ratio: float = 1.0
    rate_limit: tuple[int, float] | None = None  # (count, period in seconds)
    error_rate: float = 0.0
    latency_ms: int = 0
    latency_jitter_ms: int = 0
    hang_rate: float = 0.0
    seed: int = 0
    body_encoding: BodyEncoding = BodyEncoding.PLAIN
    answer: ForcedAnswer | None = None
    answer_from: int = 1  # the first valid delete (1-based) that gets ``answer``
    redirect_to: str | None = None
    answers_file: Path | None = None
    auth: AuthMode = AuthMode.BASIC
    token_ttl: float = 3600.0
    token_budget: int = 10
    token_headers: TokenHeaders = TokenHeaders.EITHER
    deleted_count: int | None = None  # answer "N Records Deleted Successfully" instead
    users: int = 1  # --users N: N accounts, see ``credentials``

    def credentials(self) -> dict[str, str]:
        """Each valid apiKey and the userName it belongs to, the configured pair first.

        ``--users N`` adds ``<key>-2``/``<user>-2`` ... ``<key>-N``/``<user>-N``: one key per
        account, as the vendor gives each account its own, so each has its own rate window.
        """
        extra = {f"{self.api_key}-{n}": f"{self.user_name}-{n}" for n in range(2, self.users + 1)}
        return {self.api_key: self.user_name} | extra


@dataclass
class Counters:
    """The numbers ``/_sandbox/stats`` reports."""

    requests: int = 0  # every DELETE on the API path
    deleted: int = 0
    not_found: int = 0
    rate_limited: int = 0
    errors: int = 0
    hangs: int = 0
    invalid: int = 0  # deletes refused by validation, authentication included
    duplicate_deletes: int = 0
    forced_answers: int = 0  # valid deletes given the --answer / --answers answer
    token_generations: int = 0
    token_refused: int = 0  # generateToken calls that got no token (token mode)
    tokens_expired: int = 0
    tokens_invalid: int = 0
    tokens_missing: int = 0
    invalid_action: int = 0  # calls the account's auth setting does not allow
    # Most deletes the sandbox was answering at one moment: what `--workers N` decides.
    max_concurrent: int = 0
    token_with_key: int = 0  # token-mode deletes that carried the apiKey header too
