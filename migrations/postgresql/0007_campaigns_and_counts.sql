-- PostgreSQL twin of migrations/0007_campaigns_and_counts.sql (no PostgreSQL database
-- holds records of an older runner: the back-fill of records.campaign is kept anyway).
ALTER TABLE requests ADD COLUMN deleted_count INTEGER;

ALTER TABLE jobs ADD COLUMN campaigns TEXT;
ALTER TABLE records ADD COLUMN campaign TEXT;
UPDATE records SET campaign = (SELECT campaign FROM jobs WHERE jobs.id = records.job_id);
DROP INDEX IF EXISTS records_identity;
CREATE UNIQUE INDEX records_identity ON records (job_id, campaign, phone)
 WHERE state != 'invalid';

CREATE TABLE campaign_blocks (
    job_id   BIGINT NOT NULL REFERENCES jobs (id),
    campaign TEXT   NOT NULL,
    reason   TEXT   NOT NULL,
    message  TEXT,
    PRIMARY KEY (job_id, campaign)
);
