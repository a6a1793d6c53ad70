-- How a job's numbers are written (phone_format and region) is part of its
-- identity: changing it on a loaded job would enqueue a second spelling of
-- every number. Jobs made before this version could only be 'as_is'.
ALTER TABLE jobs ADD COLUMN number_format TEXT NOT NULL DEFAULT 'as_is';

-- Set by `runner retry` on a job the not-found guard blocked: the operator has
-- looked, so the guard does not block it again.
ALTER TABLE jobs ADD COLUMN guard_cleared INTEGER NOT NULL DEFAULT 0;
