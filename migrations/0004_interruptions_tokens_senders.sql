-- A record whose request was cut off by a crash (it was in flight when the runner
-- died): if its resend answers "No Record Found", the cut-off request probably
-- deleted it, and it is reported not_found with the reason after_interrupted.
-- Set when such a record is put back to pending; kept through later retries.
ALTER TABLE records ADD COLUMN interrupted INTEGER NOT NULL DEFAULT 0;
-- Records already put back by an older runner show it by their 'interrupted' audit row.
UPDATE records SET interrupted = 1
 WHERE state IN ('pending', 'in_flight')
   AND id IN (SELECT record_id FROM requests WHERE outcome = 'interrupted');
CREATE INDEX records_after_interrupted ON records (job_id)
 WHERE state = 'not_found' AND reason = 'after_interrupted';

-- blocked_reason becomes a code (invalid_campaign, not_found_guard) that scripts can
-- match; the words explaining it move here. Older runners wrote "code: message".
ALTER TABLE jobs ADD COLUMN blocked_message TEXT;
UPDATE jobs
   SET blocked_reason = substr(blocked_reason, 1, instr(blocked_reason, ': ') - 1),
       blocked_message = substr(blocked_reason, instr(blocked_reason, ': ') + 2)
 WHERE instr(blocked_reason, ': ') > 0;

-- Which account (sha256 of its base_url and user_name) the job was loaded for, so a
-- process draining a database only takes the jobs of the accounts it was given.
-- NULL for jobs loaded before it was recorded; filled in by their next load.
ALTER TABLE jobs ADD COLUMN account_identity TEXT;

-- Why the running process leaves this pending job alone (another account's process
-- has it, its account is stopped...), for `runner status`; NULL when it is drained.
ALTER TABLE jobs ADD COLUMN waiting TEXT;

-- When tokens were generated per account identity (the vendor limits generations per
-- period, across restarts). Only times: a token never reaches the database.
CREATE TABLE token_generations (
    id           INTEGER PRIMARY KEY,
    identity     TEXT NOT NULL,
    generated_at REAL NOT NULL
);
CREATE INDEX token_generations_identity ON token_generations (identity, generated_at);

-- What each process draining an account last said about it (busy, idle, waiting for
-- a token budget, locked elsewhere), so `runner status` can show who sends and why not.
CREATE TABLE senders (
    account    TEXT PRIMARY KEY,
    pid        INTEGER NOT NULL,
    database   TEXT    NOT NULL,
    mode       TEXT    NOT NULL,
    state      TEXT    NOT NULL,
    note       TEXT,
    until      REAL,
    updated_at REAL    NOT NULL
);
