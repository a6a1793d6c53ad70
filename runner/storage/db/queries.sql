-- Every SQL statement of the runner, by name (loaded by runner/storage/db/queries.py).
-- A block starts with a line "-- name --"; comments after it explain the statement.
-- {{name}} includes another block (a fragment) in place.
-- Parameters are named (:name). Lists (export filters) arrive as JSON arrays and are
-- read with json_each(), so each statement's text is fixed.

-- ============================================================== connection

-- busy_timeout --
-- Wait for another connection's write (a load beside a run) instead of failing at once.
PRAGMA busy_timeout = 5000

-- writer_busy_timeout --
-- The writer polls for the write lock itself (runner.storage.db.connection.begin); SQLite's
-- own short wait only smooths the first few milliseconds.
PRAGMA busy_timeout = 20

-- journal_wal --
PRAGMA journal_mode = WAL

-- synchronous_normal --
-- In WAL mode, NORMAL keeps every commit through a process crash.
PRAGMA synchronous = NORMAL

-- foreign_keys_on --
PRAGMA foreign_keys = ON

-- load_cache_size --
-- While a load runs (runner.storage.db.loading): the identity index takes numbers in
-- random order, and each insert into a page not in the cache costs a read, then a write
-- when the page is pushed out again. {kib} is formatted in as an int (KiB).
PRAGMA cache_size = -{kib}

-- default_cache_size --
-- SQLite's default (2 MiB), back after a load: a drain needs no more.
PRAGMA cache_size = -2000

-- load_temp_store --
-- While a load runs: each insert_record statement keeps a journal of the pages it changes
-- (it calls json_extract, which could fail half-way), written to a temporary file by
-- default: a write call per page changed, as many as the inserts. In memory it is a
-- copy, bounded by loading.STATEMENT_ROWS.
PRAGMA temp_store = MEMORY

-- default_temp_store --
PRAGMA temp_store = DEFAULT

-- load_no_autocheckpoint --
-- While a load runs, its connection leaves checkpoints to runner.storage.db.cadence.
PRAGMA wal_autocheckpoint = 0

-- default_autocheckpoint --
PRAGMA wal_autocheckpoint = 1000

-- checkpoint --
-- What an automatic checkpoint does: copy what it can, waiting for no reader or writer.
PRAGMA wal_checkpoint(PASSIVE)

-- checkpoint_truncate --
-- After a load alone: copy everything and empty the WAL file (waits for readers, at most
-- writer_busy_timeout; if one is still reading, as much as PASSIVE and the file stays).
PRAGMA wal_checkpoint(TRUNCATE)

-- foreign_keys_off --
-- Around a migration script only (a no-op inside a transaction): a table rebuilt to
-- change a CHECK constraint is dropped and replaced while others refer to it.
PRAGMA foreign_keys = OFF

-- user_version --
PRAGMA user_version

-- set_user_version --
-- PRAGMA takes no parameters: {version} is formatted in as an int by the migrator.
PRAGMA user_version = {version}

-- begin_immediate --
BEGIN IMMEDIATE

-- commit --
COMMIT

-- rollback --
ROLLBACK

-- ============================================================== loading

-- job_by_name --
SELECT id, account, campaign, number_format, account_identity, state, blocked_reason
  FROM jobs WHERE name = :name

-- job_answered --
-- Whether any record of the job was deleted or not found (its campaign then worked).
SELECT EXISTS (SELECT 1 FROM records WHERE job_id = :id AND state IN ('deleted', 'not_found'))

-- correct_campaign --
-- A job blocked for invalid_campaign, loaded again with another campaign: it takes it
-- and its records are sent again (the requests keep the campaign they were sent for).
UPDATE jobs SET campaign = :campaign, state = 'active', blocked_reason = NULL,
       blocked_message = NULL
 WHERE id = :id

-- correct_campaign_records --
-- ... and so do its records, which carry their campaign (0007); a job of several
-- campaigns is never corrected (its campaigns are blocked one by one instead).
UPDATE records SET campaign = :campaign WHERE job_id = :id AND campaign IS NOT NULL

-- insert_job --
INSERT INTO jobs (name, account, campaign, campaigns, number_format, account_identity,
                  created_at)
VALUES (:name, :account, :campaign, :campaigns, :number_format, :account_identity,
        :created_at)

-- set_job_guard --
-- The not-found guard of the config that loads the job (JSON), NULL for none: like the
-- account identity, it follows the latest config that loads it.
UPDATE jobs SET not_found_guard = :guard
 WHERE id = :id

-- job_guards --
SELECT id, not_found_guard FROM jobs WHERE not_found_guard IS NOT NULL

-- job_campaigns --
-- campaigns: the JSON list of a job of several campaigns; NULL for a job of one.
SELECT campaign, campaigns FROM jobs WHERE id = :id

-- set_job_identity --
-- The account identity of the config that loaded the job last (older jobs had none).
UPDATE jobs SET account_identity = :account_identity
 WHERE id = :id

-- source_by_path --
SELECT id, size, mtime_ns, loaded_at FROM sources WHERE job_id = :job_id AND path = :path

-- insert_source --
INSERT INTO sources (job_id, path, size, mtime_ns) VALUES (:job_id, :path, :size, :mtime_ns)

-- mark_source_loaded --
UPDATE sources SET size = :size, mtime_ns = :mtime_ns, loaded_at = :loaded_at WHERE id = :id

-- insert_record --
-- A whole batch in one statement: :rows is a JSON array of [line, phone, name, cell,
-- campaign], in file order (the first line of a number keeps it). One step per batch,
-- not per row: the statement's set-up (the CHECK's and partial indexes' IN lists) runs
-- once, and the loader's thread holds the GIL once per batch, not once per row.
INSERT OR IGNORE INTO records (job_id, source_id, line, phone, name, cell, campaign)
SELECT :job_id, :source_id, json_extract(value, '$[0]'), json_extract(value, '$[1]'),
       json_extract(value, '$[2]'), json_extract(value, '$[3]'), json_extract(value, '$[4]')
  FROM json_each(:rows)

-- insert_duplicate --
-- A line whose number is already a record of the job, from another line: a duplicate of
-- it (the record's own line loaded again is none). Run only when some insert was ignored.
INSERT OR IGNORE INTO duplicates (job_id, source_id, line, cell, name, record_id)
SELECT :job_id, :source_id, :line, :cell, :name, r.id FROM records r
 WHERE r.job_id = :job_id AND r.phone = :phone AND r.invalid = 0
   AND r.campaign IS :campaign
   AND NOT (r.source_id = :source_id AND r.line = :line)

-- insert_invalid_record --
-- `invalid` marks it for good: the identity and invalid-line indexes are partial on it (0009).
INSERT OR IGNORE INTO records (job_id, source_id, line, phone, state, reason, cell, invalid)
VALUES (?, ?, ?, ?, 'invalid', ?, ?, 1)

-- ============================================================== the queue

-- jobs --
SELECT id, name, account, campaign, state, blocked_reason, number_format, guard_cleared,
       account_identity, blocked_message, waiting, campaigns,
       (SELECT json_group_array(json_array(b.campaign, b.reason, b.message))
          FROM campaign_blocks b WHERE b.job_id = jobs.id)
  FROM jobs ORDER BY id

-- claim --
-- One statement per job, so atomic without a transaction. Due retries (not_before > 0)
-- go before fresh records so a retry is not starved by a long queue; then file order.
-- A campaign blocked alone (campaign_blocks) keeps its records pending and unclaimed.
UPDATE records SET state = 'in_flight' WHERE id IN (
    SELECT id FROM records
     WHERE job_id = :job_id AND state = 'pending' AND not_before <= :now
       AND {{campaign_not_blocked}}
     ORDER BY not_before DESC, id LIMIT :count
) RETURNING id, job_id, phone, name, attempts, not_before, interrupted, campaign

-- campaign_not_blocked --
-- A fragment: the record (of the outer query's "records") is not in a blocked campaign.
NOT EXISTS (SELECT 1 FROM campaign_blocks b
             WHERE b.job_id = records.job_id AND b.campaign = records.campaign)

-- release --
UPDATE records SET state = 'pending' WHERE id = :id AND state = 'in_flight'

-- next_due --
SELECT MIN(not_before) FROM records
 WHERE state = 'pending' AND job_id IN (SELECT value FROM json_each(:job_ids))
   AND {{campaign_not_blocked}}

-- settle_record --
-- A batch of answers in one statement: :rows is a JSON array of [state, reason,
-- attempts, not_before, http_status, message, finished_at, record id]. One step per
-- batch, not per row: the database thread takes the GIL once, not once per row while
-- the event loop needs it for the requests (drainwrites.settlements).
UPDATE records SET state = a.value ->> 0, reason = a.value ->> 1,
       attempts = a.value ->> 2, not_before = a.value ->> 3,
       last_http_status = a.value ->> 4, last_message = a.value ->> 5,
       finished_at = a.value ->> 6
  FROM json_each(:rows) AS a
 WHERE records.id = a.value ->> 7

-- insert_request --
-- The campaign sent for: the record's own (a job may have several), else its job's,
-- which may be corrected after a block (0006).
-- :rows as settle_record's: [record id, job id, account, started_at, finished_at,
-- http_status, outcome, message, body, deleted_count, campaign], in answer order.
INSERT INTO requests (record_id, job_id, account, started_at, finished_at, http_status,
                      outcome, message, body, deleted_count, campaign)
SELECT a.value ->> 0, a.value ->> 1, a.value ->> 2, a.value ->> 3, a.value ->> 4,
       a.value ->> 5, a.value ->> 6, a.value ->> 7, a.value ->> 8, a.value ->> 9,
       COALESCE(a.value ->> 10, (SELECT campaign FROM jobs WHERE id = a.value ->> 1))
  FROM json_each(:rows) AS a
 ORDER BY a.key

-- block_job --
UPDATE jobs SET state = 'blocked', blocked_reason = :reason, blocked_message = :message
 WHERE id = :id

-- block_campaign --
-- A job of several campaigns: only this campaign's records stop (see the claim).
INSERT OR REPLACE INTO campaign_blocks (job_id, campaign, reason, message)
SELECT id, :campaign, :reason, :message FROM jobs WHERE id = :id AND campaigns IS NOT NULL

-- block_job_of_one_campaign --
UPDATE jobs SET state = 'blocked', blocked_reason = :reason, blocked_message = :message
 WHERE id = :id AND campaigns IS NULL

-- stop_account --
INSERT OR REPLACE INTO account_stops (account, reason, message, stopped_at)
VALUES (:account, :reason, :message, :stopped_at)

-- clear_account_stops --
DELETE FROM account_stops

-- audit_interrupted --
-- Whether the request of a record left in flight went out is unknown: an audit row
-- started now counts it against the rate limit from this moment (the safe side).
INSERT INTO requests (record_id, job_id, account, started_at, outcome, campaign)
SELECT r.id, r.job_id, j.account, :now, 'interrupted', j.campaign
  FROM records r JOIN jobs j ON j.id = r.job_id WHERE r.state = 'in_flight'

-- requeue_interrupted --
UPDATE records SET state = 'pending', interrupted = 1 WHERE state = 'in_flight'

-- recent_starts --
SELECT started_at FROM requests
 WHERE account = :account AND started_at >= :since
 ORDER BY started_at DESC LIMIT :limit

-- token_generations --
SELECT generated_at FROM token_generations
 WHERE identity = :identity AND generated_at >= :since ORDER BY generated_at

-- add_token_generation --
INSERT INTO token_generations (identity, generated_at) VALUES (:identity, :at)

-- note_sender --
INSERT OR REPLACE INTO senders (account, pid, database, mode, state, note, until, updated_at,
                                since)
VALUES (:account, :pid, :database, :mode, :state, :note, :until, :updated_at, :since)

-- note_job_waiting --
UPDATE jobs SET waiting = :why WHERE id = :id

-- ============================================================== operator commands

-- retry_failed_records --
UPDATE records SET state = 'pending', reason = NULL, attempts = 0, not_before = 0,
       finished_at = NULL
 WHERE state = 'failed'
   AND (:job IS NULL OR job_id = (SELECT id FROM jobs WHERE name = :job))
   AND (:campaign IS NULL OR campaign = :campaign)

-- clear_guard --
-- The operator has looked at a job the not-found guard stopped: it does not stop it again.
UPDATE jobs SET guard_cleared = 1
 WHERE state = 'blocked' AND blocked_reason = :guard AND (:job IS NULL OR name = :job)

-- unblock_jobs --
UPDATE jobs SET state = 'active', blocked_reason = NULL, blocked_message = NULL
 WHERE state = 'blocked' AND (:job IS NULL OR name = :job)
   AND (:campaign IS NULL OR campaign = :campaign)

-- unblock_campaigns --
DELETE FROM campaign_blocks
 WHERE (:job IS NULL OR job_id = (SELECT id FROM jobs WHERE name = :job))
   AND (:campaign IS NULL OR campaign = :campaign)

-- cancel_pending --
-- `runner cancel`: pending records of the named jobs (or of every job) are never sent.
-- Records in flight finish their request; a claim only takes pending ones.
UPDATE records SET state = 'cancelled', finished_at = :now
 WHERE state = 'pending'
   AND (json_array_length(:jobs) = 0 OR job_id IN (
        SELECT id FROM jobs WHERE name IN (SELECT value FROM json_each(:jobs))))
   AND (:campaign IS NULL OR campaign = :campaign)

-- retry_cancelled --
UPDATE records SET state = 'pending', finished_at = NULL
 WHERE state = 'cancelled'
   AND (:job IS NULL OR job_id = (SELECT id FROM jobs WHERE name = :job))
   AND (:campaign IS NULL OR campaign = :campaign)

-- prunable_jobs --
-- Final jobs (not blocked, nothing pending or in flight) whose last record finished
-- before :before (a job without any finished record: when it was made).
SELECT j.id, j.name FROM jobs j
 WHERE j.state = 'active'
   AND NOT EXISTS (SELECT 1 FROM records r
                    WHERE r.job_id = j.id AND r.state IN ('pending', 'in_flight'))
   AND COALESCE((SELECT MAX(finished_at) FROM records r WHERE r.job_id = j.id),
                j.created_at) < :before
 ORDER BY j.id

-- keep_pruned_totals --
-- What the pruned requests counted stays in runner_requests_total.
INSERT INTO pruned_request_totals (account, outcome, http_status, count, pruned_at)
SELECT account, outcome, http_status, COUNT(*), :now FROM requests
 WHERE job_id IN (SELECT value FROM json_each(:ids))
 GROUP BY account, outcome, http_status

-- prune_requests --
DELETE FROM requests WHERE job_id IN (SELECT value FROM json_each(:ids))

-- prune_duplicates --
DELETE FROM duplicates WHERE job_id IN (SELECT value FROM json_each(:ids))

-- prune_records --
DELETE FROM records WHERE job_id IN (SELECT value FROM json_each(:ids))

-- prune_sources --
DELETE FROM sources WHERE job_id IN (SELECT value FROM json_each(:ids))

-- prune_jobs --
DELETE FROM jobs WHERE id IN (SELECT value FROM json_each(:ids))

-- ============================================================== reports

-- state_counts --
-- Served by the (job_id, state) index.
SELECT job_id, state, COUNT(*) FROM records GROUP BY job_id, state

-- campaign_counts --
-- Only jobs of several campaigns (a job of one has its counts in state_counts); invalid
-- rows belong to no campaign.
SELECT job_id, campaign, state, COUNT(*) FROM records
 WHERE job_id IN (SELECT id FROM jobs WHERE campaigns IS NOT NULL) AND state != 'invalid'
 GROUP BY job_id, campaign, state

-- failure_reasons --
SELECT job_id, COALESCE(reason, 'unknown'), COUNT(*) FROM records
 WHERE state = 'failed' GROUP BY job_id, reason

-- interrupted_not_found --
SELECT job_id, COUNT(*) FROM records
 WHERE state = 'not_found' AND reason = :reason GROUP BY job_id

-- recent_requests --
-- Per job, so each is an index seek on (job_id, started_at); unanswered audit rows
-- (interrupted requests) have no finished_at and are not counted.
SELECT j.id, COUNT(q.id), MIN(q.started_at), MAX(q.started_at)
  FROM jobs j JOIN requests q
    ON q.job_id = j.id AND q.started_at >= :since AND q.finished_at IS NOT NULL
 GROUP BY j.id

-- recent_finished --
-- Records the API finished per job since :since (the ETA's progress: retries are not),
-- from the partial index records_finished (0006).
SELECT job_id, COUNT(*), MIN(finished_at), MAX(finished_at) FROM records
 WHERE state IN ('deleted', 'not_found', 'failed') AND finished_at >= :since
 GROUP BY job_id

-- request_totals --
-- Every request ever answered or cut off, per account, outcome and HTTP status, pruned
-- ones included (runner_requests_total).
SELECT account, outcome, http_status, SUM(n) FROM (
    SELECT account, outcome, http_status, COUNT(*) AS n FROM requests
     GROUP BY account, outcome, http_status
    UNION ALL
    SELECT account, outcome, http_status, count FROM pruned_request_totals
) GROUP BY account, outcome, http_status ORDER BY account, outcome, http_status

-- last_activity --
SELECT id, (SELECT MAX(started_at) FROM requests WHERE job_id = jobs.id) FROM jobs

-- account_stops --
SELECT account, reason, message, stopped_at FROM account_stops ORDER BY account

-- senders --
SELECT account, pid, database, mode, state, note, until, updated_at, since
  FROM senders ORDER BY account

-- job_names --
SELECT name FROM jobs ORDER BY id

-- ============================================================== export

-- export_filters --
-- The WHERE clause of both exports (aliases j = jobs, r = records), included by them.
-- Every filter is a JSON array; an empty one means "any". Phones are significant digits
-- (see runner.reports.export.phone_digits): a record matches when one number ends with the
-- other and the shorter has at least :min_digits digits, so a country code or a trunk 0
-- on one side only does not matter.
 WHERE (json_array_length(:jobs) = 0 OR j.name IN (SELECT value FROM json_each(:jobs)))
   AND (json_array_length(:campaigns) = 0
        OR COALESCE(r.campaign, j.campaign) IN (SELECT value FROM json_each(:campaigns)))
   AND (json_array_length(:states) = 0 OR r.state IN (SELECT value FROM json_each(:states)))
   AND (json_array_length(:phones) = 0 OR EXISTS (
        SELECT 1 FROM json_each(:phones) p
         WHERE substr(ltrim(replace(r.phone, '+', ''), '0'), -length(p.value)) = p.value
            OR (length(ltrim(replace(r.phone, '+', ''), '0')) >= :min_digits
                AND substr(p.value, -length(ltrim(replace(r.phone, '+', ''), '0')))
                    = ltrim(replace(r.phone, '+', ''), '0'))))

-- export_records --
-- One row per record, in job and file order (see runner.storage.db.reader.EXPORT_COLUMNS).
-- A record's campaign is its own (a job may have several); the job's for invalid rows.
SELECT j.name, COALESCE(r.campaign, j.campaign), s.path, r.line, r.phone, r.state, r.reason,
       r.attempts, r.last_http_status, r.last_message, r.finished_at, r.cell, r.name, NULL, NULL
  FROM records r JOIN jobs j ON j.id = r.job_id JOIN sources s ON s.id = r.source_id
{{export_filters}}
 ORDER BY r.job_id, r.id

-- export_duplicates --
-- One row per duplicate input line, in the record export's columns: the number as its
-- record sends it, state 'duplicate', and the file and line of that record.
SELECT j.name, COALESCE(r.campaign, j.campaign), s.path, r.line, r.phone, r.state, NULL, 0,
       NULL, NULL, NULL, r.cell, r.name, rs.path, r.record_line
  FROM (SELECT d.id, d.job_id, d.source_id, d.line, d.cell, d.name, 'duplicate' AS state,
               rec.phone AS phone, rec.campaign AS campaign, rec.source_id AS record_source,
               rec.line AS record_line
          FROM duplicates d JOIN records rec ON rec.id = d.record_id) r
  JOIN jobs j ON j.id = r.job_id JOIN sources s ON s.id = r.source_id
  JOIN sources rs ON rs.id = r.record_source
{{export_filters}}
 ORDER BY r.job_id, r.id

-- export_requests --
-- One row per HTTP request, in the order they were sent; record_state is the record's
-- state now.
SELECT j.name, COALESCE(q.campaign, r.campaign, j.campaign), q.account, r.phone, r.state,
       q.started_at, q.finished_at, q.http_status, q.outcome, q.message, q.body,
       q.deleted_count
  FROM requests q JOIN records r ON r.id = q.record_id JOIN jobs j ON j.id = r.job_id
{{export_filters}}
 ORDER BY q.id
