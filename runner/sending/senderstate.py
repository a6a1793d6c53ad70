"""What a sending process says it does for an account: one word, and a time when known.

"Busy" used to mean "a request is in flight at this instant"; requests take
milliseconds, so an account sending 500 a minute looked idle. The state is now
decided from what the drain *has* to do, not from an instant: ``sending`` while it
has runnable records and paces them, whatever the rate; ``waiting`` (with the time
the wait ends) during a pause, a back-off or a token budget; ``idle`` when nothing
is runnable; ``stopped`` with the stop's reason. The three hopeless states come from
the process's own judgement that an account cannot be served (no answer, no usable
answer, rate-limited for good); ``locked_elsewhere`` when another process sends for
the account. Kept free of imports: status, metrics and the supervisor share it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

SENDING: Final = "sending"
WAITING: Final = "waiting"
IDLE: Final = "idle"
STOPPED: Final = "stopped"
LOCKED_ELSEWHERE: Final = "locked_elsewhere"
# Written by the process when it judges an account cannot be served (with the reason
# in the note); never an ETA for these.
HOPELESS: Final = ("unreachable", "no_usable_answer", "rate_limited")
SENDER_STATES: Final = (SENDING, WAITING, IDLE, STOPPED, *HOPELESS, LOCKED_ELSEWHERE)


@dataclass(frozen=True, slots=True)
class DrainView:
    """What a drain knows about itself at one moment (wall-clock times)."""

    runnable: bool  # it has jobs it may still send for, the account is not stopped
    in_flight: int  # requests under way or about to be
    paused_until: float | None  # a 429 pause or a circuit breaker's cool-down
    due_at: float | None  # the earliest time a pending record of its jobs may be sent


def drain_state(view: DrainView, now: float) -> tuple[str, float | None]:
    """(state, until) of an account with a drain: sending, waiting until, or idle."""
    if not view.runnable:
        return IDLE, None
    if view.paused_until is not None and view.paused_until > now:
        return WAITING, view.paused_until
    if view.in_flight > 0:
        return SENDING, None
    if view.due_at is None:
        return IDLE, None
    if view.due_at > now:
        return WAITING, view.due_at  # every runnable record waits out a back-off
    return SENDING, None


def is_sending(state: str) -> bool:
    """Whether the state means requests are going out for the account."""
    return state == SENDING
