-- PLACEHOLDER so that 0006 applies on this branch (migrations are numbered 1..n without
-- gaps). Number 0005 belongs to issue 15's migration: delete this file when merging it.
SELECT 1;
