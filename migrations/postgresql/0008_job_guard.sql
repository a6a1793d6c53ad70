-- The twin of ../0008_job_guard.sql: a job's not-found guard belongs to the job, as
-- JSON {"sample": N, "max_ratio": R}; NULL for a job without a guard.
ALTER TABLE jobs ADD COLUMN not_found_guard TEXT;
