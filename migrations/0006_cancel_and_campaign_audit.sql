-- `runner cancel` puts pending records in a new final state, 'cancelled' (never sent;
-- `runner retry --cancelled` brings them back). SQLite cannot alter a CHECK constraint:
-- the records table is rebuilt, every column copied and every index recreated. The
-- migrator turns foreign keys off around every script (SQLite's documented procedure for
-- such a rebuild): dropping the old table then deletes nothing the requests point at,
-- and their references name the new table once it takes the old one's name.
CREATE TABLE records_new (
    id               INTEGER PRIMARY KEY,
    job_id           INTEGER NOT NULL REFERENCES jobs (id),
    source_id        INTEGER NOT NULL REFERENCES sources (id),
    line             INTEGER NOT NULL,
    phone            TEXT    NOT NULL,   -- as it will be sent; the raw text for invalid rows
    name             TEXT,
    state            TEXT    NOT NULL DEFAULT 'pending'
                             CHECK (state IN ('pending', 'in_flight', 'deleted',
                                              'not_found', 'failed', 'invalid',
                                              'cancelled')),
    reason           TEXT,
    attempts         INTEGER NOT NULL DEFAULT 0,
    not_before       REAL    NOT NULL DEFAULT 0,
    last_http_status INTEGER,
    last_message     TEXT,
    finished_at      REAL,
    interrupted      INTEGER NOT NULL DEFAULT 0,
    cell             TEXT                -- the phone cell as it stood in the file (0006)
);
INSERT INTO records_new (id, job_id, source_id, line, phone, name, state, reason, attempts,
                         not_before, last_http_status, last_message, finished_at, interrupted)
SELECT id, job_id, source_id, line, phone, name, state, reason, attempts,
       not_before, last_http_status, last_message, finished_at, interrupted
  FROM records;
DROP TABLE records;
ALTER TABLE records_new RENAME TO records;

CREATE UNIQUE INDEX records_identity ON records (job_id, phone) WHERE state != 'invalid';
CREATE UNIQUE INDEX records_invalid_line ON records (job_id, source_id, line) WHERE state = 'invalid';
CREATE INDEX records_runnable ON records (job_id, not_before DESC, id) WHERE state = 'pending';
CREATE INDEX records_job_state ON records (job_id, state);
CREATE INDEX records_failed ON records (job_id, reason) WHERE state = 'failed';
CREATE INDEX records_after_interrupted ON records (job_id)
 WHERE state = 'not_found' AND reason = 'after_interrupted';
-- The ETA counts records finished recently (not requests, which include retries).
CREATE INDEX records_finished ON records (finished_at, job_id)
 WHERE state IN ('deleted', 'not_found', 'failed');

-- A job blocked for invalid_campaign may be loaded again with the corrected campaign:
-- each request keeps the campaign it was sent for, so the audit still shows the
-- mistyped one. Older requests were all sent for their job's campaign of the time.
ALTER TABLE requests ADD COLUMN campaign TEXT;
UPDATE requests SET campaign = (SELECT campaign FROM jobs WHERE jobs.id = requests.job_id);

-- `runner prune` removes final jobs with their requests; what their requests counted
-- stays here, so runner_requests_total (a Prometheus counter) never goes down.
CREATE TABLE pruned_request_totals (
    account     TEXT    NOT NULL,
    outcome     TEXT,
    http_status INTEGER,
    count       INTEGER NOT NULL,
    pruned_at   REAL    NOT NULL
);

-- Input lines whose number is already a record of the job (a duplicate), kept so that an
-- export reconciles with the input line by line: each points at the record it repeats.
-- Never sent. Lines loaded before 0006 were only counted.
CREATE TABLE duplicates (
    id        INTEGER PRIMARY KEY,
    job_id    INTEGER NOT NULL REFERENCES jobs (id),
    source_id INTEGER NOT NULL REFERENCES sources (id),
    line      INTEGER NOT NULL,
    cell      TEXT,
    name      TEXT,
    record_id INTEGER NOT NULL REFERENCES records (id),
    UNIQUE (job_id, source_id, line)
);
