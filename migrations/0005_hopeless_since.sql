-- When an account's hopeless state (unreachable, no_usable_answer, rate_limited)
-- began, for `runner status`: "unreachable since 03:12: connection refused".
ALTER TABLE senders ADD COLUMN since REAL;
