"""The sender state is decided by what a drain has to do, never by an instant's in-flight count."""

from __future__ import annotations

from runner.sending.senderstate import SENDER_STATES, DrainView, drain_state

NOW = 1_000.0


def view(**fields: object) -> DrainView:
    values: dict[str, object] = {"runnable": True, "in_flight": 0, "paused_until": None,
                                 "due_at": NOW}  # fmt: skip
    return DrainView(**(values | fields))  # type: ignore[arg-type]


def test_runnable_work_between_two_requests_is_sending_not_idle() -> None:
    # The old "busy" was a request in flight at this instant: at 500/min nearly never.
    assert drain_state(view(in_flight=0, due_at=NOW - 5), NOW) == ("sending", None)
    assert drain_state(view(in_flight=3), NOW) == ("sending", None)


def test_a_pause_is_waiting_until_it_ends_even_with_work_due() -> None:
    assert drain_state(view(paused_until=NOW + 30, in_flight=1), NOW) == ("waiting", NOW + 30)
    assert drain_state(view(paused_until=NOW - 1), NOW) == ("sending", None)


def test_records_waiting_out_a_backoff_are_waiting_until_the_first_is_due() -> None:
    assert drain_state(view(due_at=NOW + 12), NOW) == ("waiting", NOW + 12)


def test_nothing_runnable_is_idle() -> None:
    assert drain_state(view(runnable=False, in_flight=2), NOW) == ("idle", None)
    assert drain_state(view(due_at=None), NOW) == ("idle", None)


def test_the_vocabulary_holds_the_hopeless_states_of_the_other_issue() -> None:
    for word in ("sending", "waiting", "idle", "stopped", "unreachable", "no_usable_answer",
                 "rate_limited"):  # fmt: skip
        assert word in SENDER_STATES
