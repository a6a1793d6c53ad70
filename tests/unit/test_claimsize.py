"""How many records the drain claims at once, from its pace."""

from __future__ import annotations

from runner.sending.claimsize import CLAIM_HORIZON, MAX_CLAIM, claim_count

LEAD = 0.05


def test_slow_paces_claim_one_record_at_a_time() -> None:
    assert claim_count(60 / 100, workers=4, lead=LEAD) == 1  # 100/min
    assert claim_count(LEAD, workers=4, lead=LEAD) == 1


def test_a_lifted_limit_claims_the_most_per_transaction() -> None:
    assert claim_count(1e-5, workers=4, lead=LEAD) == MAX_CLAIM
    assert claim_count(0.0, workers=4, lead=LEAD) == MAX_CLAIM


def test_fast_paces_claim_the_horizon_but_at_least_a_record_per_worker() -> None:
    interval = CLAIM_HORIZON / 10
    assert claim_count(interval, workers=4, lead=interval * 2) == 10
    assert claim_count(interval, workers=16, lead=interval * 2) == 16
