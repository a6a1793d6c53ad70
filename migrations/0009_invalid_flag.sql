-- Issue 21. Whether a record is an invalid line, in a column that never changes after
-- the load (an invalid record keeps its state for good). The record-identity and
-- invalid-line indexes were partial on `state`, so SQLite rewrote both entries at
-- every state change, the claim's and the answer's, although neither index's content
-- changed: on the drain's path that was about half of each write (measured on 20,000
-- records: a claim 9 → 4 µs, an answer's record 10 → 6 µs).
-- The identity's number comes first: a load inserts numbers in random order, and a
-- key that differs at its first column is compared in one step, not three (a load of
-- a million rows: about 8 % less time in SQLite). Only insert_duplicate looks it up,
-- by all three columns.
ALTER TABLE records ADD COLUMN invalid INTEGER NOT NULL DEFAULT 0;
UPDATE records SET invalid = 1 WHERE state = 'invalid';
DROP INDEX IF EXISTS records_identity;
CREATE UNIQUE INDEX records_identity ON records (phone, job_id, campaign) WHERE invalid = 0;
DROP INDEX IF EXISTS records_invalid_line;
CREATE UNIQUE INDEX records_invalid_line ON records (job_id, source_id, line)
 WHERE invalid = 1;
