-- `runner status` on a database of a million records must stay well under a
-- second: each request row names its job, so a job's latest and recent requests
-- are an index seek away, and failed records have an index of their own.
ALTER TABLE requests ADD COLUMN job_id INTEGER REFERENCES jobs (id);
UPDATE requests SET job_id = (SELECT job_id FROM records WHERE records.id = requests.record_id);
CREATE INDEX requests_job_started ON requests (job_id, started_at);
CREATE INDEX records_failed ON records (job_id, reason) WHERE state = 'failed';
