-- The queue, its jobs and the audit trail of every HTTP request.
-- Times are Unix seconds (REAL). States are checked so a bug cannot invent one.

CREATE TABLE jobs (
    id             INTEGER PRIMARY KEY,
    name           TEXT    NOT NULL UNIQUE,
    account        TEXT    NOT NULL,
    campaign       TEXT    NOT NULL,
    -- 'done' is derived (nothing pending or in flight), so only these are stored.
    state          TEXT    NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'blocked')),
    blocked_reason TEXT,
    created_at     REAL    NOT NULL
);

-- One row per input file loaded into a job; lets a rerun skip a file it has
-- already loaded unchanged, and gives records their file name cheaply.
CREATE TABLE sources (
    id        INTEGER PRIMARY KEY,
    job_id    INTEGER NOT NULL REFERENCES jobs (id),
    path      TEXT    NOT NULL,
    size      INTEGER NOT NULL,
    mtime_ns  INTEGER NOT NULL,
    loaded_at REAL,
    UNIQUE (job_id, path)
);

CREATE TABLE records (
    id               INTEGER PRIMARY KEY,
    job_id           INTEGER NOT NULL REFERENCES jobs (id),
    source_id        INTEGER NOT NULL REFERENCES sources (id),
    line             INTEGER NOT NULL,
    phone            TEXT    NOT NULL,   -- as it will be sent; the raw text for invalid rows
    name             TEXT,
    state            TEXT    NOT NULL DEFAULT 'pending'
                             CHECK (state IN ('pending', 'in_flight', 'deleted',
                                              'not_found', 'failed', 'invalid')),
    reason           TEXT,
    attempts         INTEGER NOT NULL DEFAULT 0,
    not_before       REAL    NOT NULL DEFAULT 0,
    last_http_status INTEGER,
    last_message     TEXT,
    finished_at      REAL
);

-- A record's identity is (job, number as sent); invalid rows are identified by
-- where they stand, since their text may be empty or repeated.
CREATE UNIQUE INDEX records_identity ON records (job_id, phone) WHERE state != 'invalid';
CREATE UNIQUE INDEX records_invalid_line ON records (job_id, source_id, line) WHERE state = 'invalid';
-- The claim path: the next due pending record of a job.
CREATE INDEX records_runnable ON records (job_id, not_before DESC, id) WHERE state = 'pending';
-- Counting per state for status without touching every row's payload.
CREATE INDEX records_job_state ON records (job_id, state);

CREATE TABLE requests (
    id          INTEGER PRIMARY KEY,
    record_id   INTEGER NOT NULL REFERENCES records (id),
    account     TEXT    NOT NULL,
    started_at  REAL    NOT NULL,
    finished_at REAL,
    http_status INTEGER,
    outcome     TEXT,
    message     TEXT,
    body        TEXT                      -- truncated
);
-- The rate limit across restarts and the recent rate read the latest starts per account.
CREATE INDEX requests_account_started ON requests (account, started_at);
CREATE INDEX requests_record ON requests (record_id);

-- Accounts stopped by an auth answer, for status; cleared when a run starts.
CREATE TABLE account_stops (
    account    TEXT PRIMARY KEY,
    reason     TEXT NOT NULL,
    message    TEXT,
    stopped_at REAL NOT NULL
);
