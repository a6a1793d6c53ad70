-- PostgreSQL twin of migrations/0003_status_indexes.sql (no PostgreSQL database predates
-- it, so the back-fill of job_id has nothing to do and is left out).
ALTER TABLE requests ADD COLUMN job_id BIGINT REFERENCES jobs (id);
CREATE INDEX requests_job_started ON requests (job_id, started_at);
CREATE INDEX records_failed ON records (job_id, reason) WHERE state = 'failed';
