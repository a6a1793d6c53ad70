-- Placeholder on branch i17 only, so that 0007 follows 1..n without gaps here.
-- At the merge, delete this file: another branch brings the real 0006.
SELECT 1;
