"""How often a load commits: short beside another process's drain, longer alone."""

from __future__ import annotations

from runner.storage.db.cadence import LONG, SHORT, choose
from runner.storage.db.connection import Wait, writers_waiting


def test_another_process_draining_the_database_gets_short_transactions() -> None:
    assert choose(sender_pid=4321, own_pid=1234) == SHORT


def test_alone_or_drained_by_this_process_the_load_commits_less_often() -> None:
    assert choose(sender_pid=None, own_pid=1234) == LONG
    assert choose(sender_pid=1234, own_pid=1234) == LONG
    assert LONG.rows > SHORT.rows and LONG.seconds > SHORT.seconds


def test_a_transaction_is_due_by_rows_or_by_time() -> None:
    assert SHORT.due(SHORT.rows, started=10.0, now=10.0)
    assert SHORT.due(1, started=0.0, now=SHORT.seconds)
    assert not SHORT.due(SHORT.rows - 1, started=10.0, now=10.0 + SHORT.seconds / 2)
    # Under a second: a writer of the same process still gets in between.
    assert LONG.seconds < 1.0


def test_beside_a_sender_the_load_checkpoints_after_every_commit() -> None:
    assert SHORT.checkpoint_every == 1
    assert LONG.checkpoint_every > 1


def test_a_writer_waits_from_its_first_refusal_until_it_is_through() -> None:
    """What makes a load of the same process commit at once (runner.storage.db.loading)."""
    assert not writers_waiting()
    with Wait() as first:
        assert not writers_waiting()  # not refused yet
        first.refused()
        first.refused()  # counted once
        with Wait() as second:
            second.refused()
        assert writers_waiting()
    assert not writers_waiting()
