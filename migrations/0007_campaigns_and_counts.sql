-- Issue 17. Written as ALTER/INDEX statements only, so that it applies whether or not
-- an earlier migration rebuilt the records table.

-- "4 Records Deleted Successfully" (the older API's success form): how many the
-- server said it deleted, kept in the audit row and shown by export --requests.
ALTER TABLE requests ADD COLUMN deleted_count INTEGER;

-- One job, many campaigns: every number becomes one record per campaign.
-- jobs.campaign stays the text shown (the campaigns joined by ", "); jobs.campaigns is
-- the JSON list for a job of several campaigns, NULL for a job of one (jobs.campaign).
ALTER TABLE jobs ADD COLUMN campaigns TEXT;
ALTER TABLE records ADD COLUMN campaign TEXT;
-- Existing records keep their job's one campaign.
UPDATE records SET campaign = (SELECT campaign FROM jobs WHERE jobs.id = records.job_id);
-- A record's identity gains the campaign: (job, campaign, number as sent).
DROP INDEX IF EXISTS records_identity;
CREATE UNIQUE INDEX records_identity ON records (job_id, campaign, phone)
 WHERE state != 'invalid';
-- A campaign the API called invalid blocks only its own records in a job of several
-- campaigns (a job of one is blocked as a whole, jobs.state, as before).
CREATE TABLE campaign_blocks (
    job_id   INTEGER NOT NULL REFERENCES jobs (id),
    campaign TEXT    NOT NULL,
    reason   TEXT    NOT NULL,
    message  TEXT,
    PRIMARY KEY (job_id, campaign)
);
