"""Bearer tokens as a TOKEN_AUTH CloudAgent account issues them (``--auth token``).

A token is a JWT signed with a random per-process secret. Only the newest one is
valid: generating a token invalidates every earlier one, as the vendor documents.
At most ``budget`` tokens may be generated in any rolling hour.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import secrets
import time
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Final

from runner.core.clock import Ticks
from runner.sandbox.window import SlidingWindow

BUDGET_PERIOD_SECONDS: Final = 3600.0


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _compact(value: Mapping[str, object]) -> bytes:
    return json.dumps(dict(value), separators=(",", ":")).encode()


def make_jwt(claims: Mapping[str, object], secret: bytes) -> str:
    """``header.payload.signature`` in base64url, signed HS256."""
    signing_input = (
        _b64url(_compact({"alg": "HS256", "typ": "JWT"})) + "." + _b64url(_compact(claims))
    )
    signature = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
    return signing_input + "." + _b64url(signature)


def jwt_claims(token: str) -> dict[str, Any]:
    """The (unverified) payload of a JWT, as a client reads its ``exp``."""
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


class TokenCheck(StrEnum):
    """What a delete's bearer token turned out to be."""

    VALID = "valid"
    INVALID = "invalid"  # never issued, or replaced by a newer token
    EXPIRED = "expired"


class TokenIssuer:
    """The account's current token, its expiry and the generation budget.

    Expiry is decided with the injected ``clock`` (monotonic by default, fake in
    tests); the ``iat``/``exp`` claims are that clock shifted to epoch seconds once,
    at start, so ``exp - iat`` is the TTL whatever the clock is.
    """

    def __init__(self, ttl: float, budget: int, clock: Ticks, secret: bytes | None = None) -> None:
        self.ttl = ttl
        self.clock = clock
        self._secret = secret if secret is not None else secrets.token_bytes(32)
        self._epoch_offset = time.time() - clock()
        self._budget = SlidingWindow(BUDGET_PERIOD_SECONDS, budget)
        self._current: str | None = None
        self._deadline = 0.0
        self._issued = 0

    def issue(self, subject: str) -> str | None:
        """A new token (invalidating the previous one), or None when the budget is spent."""
        now = self.clock()
        if not self._budget.try_admit(now):
            return None
        self._issued += 1
        epoch = now + self._epoch_offset
        issued_at = math.floor(epoch)
        # Whole seconds as JWTs usually carry them; a fractional TTL (tests) keeps its fraction.
        expires: float = (
            issued_at + int(self.ttl) if self.ttl.is_integer() else round(epoch + self.ttl, 3)
        )
        # jti keeps two tokens issued in the same second distinct.
        claims = {"sub": subject, "iat": issued_at, "exp": expires, "jti": self._issued}
        self._current = make_jwt(claims, self._secret)
        self._deadline = now + self.ttl
        return self._current

    def budget_wait(self) -> float:
        """Seconds until the budget allows another generation."""
        return self._budget.wait_time(self.clock())

    def check(self, token: str) -> TokenCheck:
        """Whether ``token`` is the current, unexpired token."""
        current = self._current
        if current is None or not hmac.compare_digest(token.encode(), current.encode()):
            return TokenCheck.INVALID
        if self.clock() >= self._deadline:
            return TokenCheck.EXPIRED
        return TokenCheck.VALID

    def invalidate_all(self) -> int:
        """Forget the current token, as another process generating one would; 1 if there was one."""
        had = self._current is not None
        self._current = None
        return int(had)
