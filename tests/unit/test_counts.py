"""A job's counts after one answer."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from runner.core.states import RecordState
from runner.storage.counts import Counts

counts = st.builds(Counts, *[st.integers(0, 10**6)] * len(RecordState))


@given(counts, st.sampled_from(RecordState))
def test_an_answer_moves_one_record_from_pending_into_its_state(
    before: Counts, state: RecordState
) -> None:
    after = before.settled(state)
    if state is RecordState.PENDING:  # retried: still pending
        assert after == before
        return
    assert after.pending == before.pending - 1
    assert after[state] == before[state] + 1
    others = [s for s in RecordState if s not in (state, RecordState.PENDING)]
    assert [after[s] for s in others] == [before[s] for s in others]
    assert after.total == before.total
