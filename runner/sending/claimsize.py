"""How many records the drain claims in one transaction, from the pace it sends at.

A claim is a write transaction; at a lifted limit one per request or per handful
of requests makes the queue, not the API, the bottleneck. At slow paces records
are claimed one by one, so that a crash strands at most one record per worker
(it comes back ``interrupted``) and ``in_flight`` means "about to be sent".
"""

from __future__ import annotations

from typing import Final

# A batch holds the records the pacer starts within this time, never more than MAX_CLAIM.
CLAIM_HORIZON: Final = 0.25
# 512 rather than 32: a transaction's fixed cost (BEGIN, the commit's WAL pages) is
# then shared by sixteen times the records. Measured at a lifted limit: 32 → 256 took
# the drain from 5,400 to 6,000-6,250 requests a second; with answers gathered for
# 50 ms (runner.storage.db.writer), 256 → 512 from 7,200 to 7,600.
MAX_CLAIM: Final = 512


def claim_count(interval: float, workers: int, lead: float) -> int:
    """Records to claim at once when ``interval`` seconds separate two starts: one when
    there is time for a claim before each start (``lead``), else enough for the horizon
    (at least one per worker)."""
    if interval >= lead:
        return 1
    if interval <= 0:
        return MAX_CLAIM
    return max(workers, min(MAX_CLAIM, int(CLAIM_HORIZON / interval)))
