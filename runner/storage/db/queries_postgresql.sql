-- The PostgreSQL twin of queries.sql: every statement of the queue by the SAME name
-- (loaded by runner/storage/db/queries.py as PQ; used by runner/storage/pg/). Parameters are psycopg's:
-- %(name)s, or %s in the executemany statements. Lists arrive as text[] arrays.
-- Statements that only SQLite needs (PRAGMAs, BEGIN IMMEDIATE) have no twin here;
-- tests/unit/test_pg_queries.py checks the two files name the same statements otherwise.

-- ============================================================== connection

-- schema_table --
-- Whether the migrator's version table exists (readers never create it).
SELECT to_regclass('schema_version') IS NOT NULL

-- create_schema_table --
CREATE TABLE IF NOT EXISTS schema_version (
    version    INTEGER PRIMARY KEY,
    applied_at DOUBLE PRECISION NOT NULL
)

-- user_version --
-- PostgreSQL has no user_version: the latest applied migration, 0 if none.
SELECT COALESCE(MAX(version), 0) FROM schema_version

-- set_user_version --
INSERT INTO schema_version (version, applied_at) VALUES (%(version)s, %(at)s)

-- migration_lock --
-- Two processes starting at once migrate one after the other (released at commit).
SELECT pg_advisory_xact_lock(7301202612040001)

-- read_only --
-- A reader's session cannot write, whatever its role may do.
SET default_transaction_read_only = on

-- ============================================================== account locks (runner/storage/pg/lock.py)

-- lock_keepalives --
-- The lock connection's server side probes an idle client after 10 s, every 5 s, 3
-- times: a host that died releases its accounts' locks within about 25 s.
SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 3

-- try_account_lock --
-- Session-level: held until released or until the session ends (the process or its
-- host dies, or the connection is cut).
SELECT pg_try_advisory_lock(%(key)s)

-- account_unlock --
SELECT pg_advisory_unlock(%(key)s)

-- lock_alive --
SELECT 1

-- account_lock_holder --
-- The server process holding an account's lock (a bigint key shows as classid, objid).
SELECT pid FROM pg_locks
 WHERE locktype = 'advisory' AND granted AND objsubid = 1
   AND classid = %(high)s::bigint::oid AND objid = %(low)s::bigint::oid

-- sender_of --
SELECT pid, host, updated_at FROM senders WHERE account = %(account)s

-- terminate_backend --
-- Ends a hung holder's session, and with it its locks (needs the same role, or
-- membership in pg_signal_backend). Waits up to 5 s for the backend to be gone:
-- without the timeout it only signals, and the lock tried next may still be held.
SELECT pg_terminate_backend(%(pid)s, 5000)

-- ============================================================== loading

-- job_by_name --
SELECT id, account, campaign, number_format, account_identity, state, blocked_reason
  FROM jobs WHERE name = %(name)s

-- job_answered --
SELECT EXISTS (SELECT 1 FROM records WHERE job_id = %(id)s AND state IN ('deleted', 'not_found'))

-- correct_campaign --
UPDATE jobs SET campaign = %(campaign)s, state = 'active', blocked_reason = NULL,
       blocked_message = NULL
 WHERE id = %(id)s

-- correct_campaign_records --
UPDATE records SET campaign = %(campaign)s WHERE job_id = %(id)s AND campaign IS NOT NULL

-- insert_job --
INSERT INTO jobs (name, account, campaign, campaigns, number_format, account_identity,
                  created_at)
VALUES (%(name)s, %(account)s, %(campaign)s, %(campaigns)s, %(number_format)s,
        %(account_identity)s, %(created_at)s)
-- Two hosts loading the same new job at once: the second finds it (runner.storage.pg.store).
ON CONFLICT (name) DO NOTHING
RETURNING id

-- job_campaigns --
SELECT campaign, campaigns FROM jobs WHERE id = %(id)s

-- set_job_guard --
UPDATE jobs SET not_found_guard = %(guard)s WHERE id = %(id)s

-- job_guards --
SELECT id, not_found_guard FROM jobs WHERE not_found_guard IS NOT NULL

-- set_job_identity --
UPDATE jobs SET account_identity = %(account_identity)s WHERE id = %(id)s

-- source_by_path --
SELECT id, size, mtime_ns, loaded_at FROM sources WHERE job_id = %(job_id)s AND path = %(path)s

-- insert_source --
INSERT INTO sources (job_id, path, size, mtime_ns)
VALUES (%(job_id)s, %(path)s, %(size)s, %(mtime_ns)s)
ON CONFLICT (job_id, path) DO NOTHING
RETURNING id

-- mark_source_loaded --
UPDATE sources SET size = %(size)s, mtime_ns = %(mtime_ns)s, loaded_at = %(loaded_at)s
 WHERE id = %(id)s

-- create_load_rows --
-- The rows of one batch are COPYed here, then inserted in one statement that skips the
-- ones already queued (ON CONFLICT DO NOTHING: COPY itself cannot skip).
CREATE TEMPORARY TABLE IF NOT EXISTS load_rows (
    seq      BIGINT NOT NULL,
    line     BIGINT NOT NULL,
    phone    TEXT   NOT NULL,
    name     TEXT,
    state    TEXT   NOT NULL,
    reason   TEXT,
    cell     TEXT,
    campaign TEXT
) ON COMMIT DELETE ROWS

-- copy_load_rows --
COPY load_rows (seq, line, phone, name, state, reason, cell, campaign) FROM STDIN

-- insert_record --
-- The batch's valid rows (one per number and campaign) or its invalid ones, in file
-- order (the first of two equal numbers wins).
INSERT INTO records (job_id, source_id, line, phone, name, state, reason, cell, campaign)
SELECT %(job_id)s, %(source_id)s, line, phone, name, state, reason, cell, campaign
  FROM load_rows WHERE state = %(state)s ORDER BY seq
ON CONFLICT DO NOTHING

-- insert_duplicate --
-- Lines of the batch whose number is already a record of the job, from another line.
INSERT INTO duplicates (job_id, source_id, line, cell, name, record_id)
SELECT %(job_id)s, %(source_id)s, l.line, l.cell, l.name, r.id
  FROM load_rows l JOIN records r
    ON r.job_id = %(job_id)s AND r.phone = l.phone AND r.state != 'invalid'
   AND r.campaign IS NOT DISTINCT FROM l.campaign
   AND NOT (r.source_id = %(source_id)s AND r.line = l.line)
 WHERE l.state = 'pending'
 ORDER BY l.seq
ON CONFLICT DO NOTHING

-- ============================================================== the queue

-- jobs --
SELECT id, name, account, campaign, state, blocked_reason, number_format, guard_cleared,
       account_identity, blocked_message, waiting, campaigns,
       (SELECT json_agg(json_build_array(b.campaign, b.reason, b.message))::text
          FROM campaign_blocks b WHERE b.job_id = jobs.id)
  FROM jobs ORDER BY id

-- claim --
-- SKIP LOCKED: processes on several hosts claim side by side, never the same record.
UPDATE records SET state = 'in_flight' WHERE id IN (
    SELECT id FROM records
     WHERE job_id = %(job_id)s AND state = 'pending' AND not_before <= %(now)s
       AND {{campaign_not_blocked}}
     ORDER BY not_before DESC, id LIMIT %(count)s
       FOR UPDATE SKIP LOCKED
) RETURNING id, job_id, phone, name, attempts, not_before, interrupted, campaign

-- campaign_not_blocked --
NOT EXISTS (SELECT 1 FROM campaign_blocks b
             WHERE b.job_id = records.job_id AND b.campaign = records.campaign)

-- release --
UPDATE records SET state = 'pending' WHERE id = %(id)s AND state = 'in_flight'

-- next_due --
SELECT MIN(not_before) FROM records
 WHERE state = 'pending' AND job_id = ANY(%(job_ids)s::bigint[])
   AND {{campaign_not_blocked}}

-- settle_record --
UPDATE records SET state = %s, reason = %s, attempts = %s, not_before = %s,
       last_http_status = %s, last_message = %s, finished_at = %s
 WHERE id = %s

-- insert_request --
INSERT INTO requests (record_id, job_id, account, started_at, finished_at, http_status,
                      outcome, message, body, deleted_count, campaign)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s,
        COALESCE(%s, (SELECT campaign FROM jobs WHERE id = %s)))

-- block_job --
UPDATE jobs SET state = 'blocked', blocked_reason = %(reason)s, blocked_message = %(message)s
 WHERE id = %(id)s

-- block_campaign --
INSERT INTO campaign_blocks (job_id, campaign, reason, message)
SELECT id, %(campaign)s, %(reason)s, %(message)s FROM jobs
 WHERE id = %(id)s AND campaigns IS NOT NULL
ON CONFLICT (job_id, campaign) DO UPDATE
   SET reason = EXCLUDED.reason, message = EXCLUDED.message

-- block_job_of_one_campaign --
UPDATE jobs SET state = 'blocked', blocked_reason = %(reason)s, blocked_message = %(message)s
 WHERE id = %(id)s AND campaigns IS NULL

-- stop_account --
INSERT INTO account_stops (account, reason, message, stopped_at)
VALUES (%(account)s, %(reason)s, %(message)s, %(stopped_at)s)
ON CONFLICT (account) DO UPDATE
   SET reason = EXCLUDED.reason, message = EXCLUDED.message, stopped_at = EXCLUDED.stopped_at

-- clear_account_stops --
DELETE FROM account_stops

-- clear_account_stop --
-- A shared queue's stops belong to the processes that hold their accounts: a process
-- clears an account's stop when it takes the account, never the others' at start-up.
DELETE FROM account_stops WHERE account = %(account)s

-- audit_interrupted --
INSERT INTO requests (record_id, job_id, account, started_at, outcome, campaign)
SELECT r.id, r.job_id, j.account, %(now)s, 'interrupted', j.campaign
  FROM records r JOIN jobs j ON j.id = r.job_id
 WHERE r.state = 'in_flight' AND (%(account)s::text IS NULL OR j.account = %(account)s)

-- requeue_interrupted --
UPDATE records SET state = 'pending', interrupted = 1
 WHERE state = 'in_flight'
   AND (%(account)s::text IS NULL
        OR job_id IN (SELECT id FROM jobs WHERE account = %(account)s))

-- recent_starts --
SELECT started_at FROM requests
 WHERE account = %(account)s AND started_at >= %(since)s
 ORDER BY started_at DESC LIMIT %(limit)s

-- token_generations --
SELECT generated_at FROM token_generations
 WHERE identity = %(identity)s AND generated_at >= %(since)s ORDER BY generated_at

-- add_token_generation --
INSERT INTO token_generations (identity, generated_at) VALUES (%(identity)s, %(at)s)

-- note_sender --
INSERT INTO senders (account, pid, database, mode, state, note, until, updated_at, since,
                     host)
VALUES (%(account)s, %(pid)s, %(database)s, %(mode)s, %(state)s, %(note)s, %(until)s,
        %(updated_at)s, %(since)s, %(host)s)
ON CONFLICT (account) DO UPDATE
   SET pid = EXCLUDED.pid, database = EXCLUDED.database, mode = EXCLUDED.mode,
       state = EXCLUDED.state, note = EXCLUDED.note, until = EXCLUDED.until,
       updated_at = EXCLUDED.updated_at, since = EXCLUDED.since, host = EXCLUDED.host

-- note_job_waiting --
UPDATE jobs SET waiting = %(why)s WHERE id = %(id)s

-- ============================================================== operator commands

-- retry_failed_records --
UPDATE records SET state = 'pending', reason = NULL, attempts = 0, not_before = 0,
       finished_at = NULL
 WHERE state = 'failed'
   AND (%(job)s::text IS NULL OR job_id = (SELECT id FROM jobs WHERE name = %(job)s))
   AND (%(campaign)s::text IS NULL OR campaign = %(campaign)s)

-- clear_guard --
UPDATE jobs SET guard_cleared = 1
 WHERE state = 'blocked' AND blocked_reason = %(guard)s
   AND (%(job)s::text IS NULL OR name = %(job)s)

-- unblock_jobs --
UPDATE jobs SET state = 'active', blocked_reason = NULL, blocked_message = NULL
 WHERE state = 'blocked' AND (%(job)s::text IS NULL OR name = %(job)s)
   AND (%(campaign)s::text IS NULL OR campaign = %(campaign)s)

-- unblock_campaigns --
DELETE FROM campaign_blocks
 WHERE (%(job)s::text IS NULL OR job_id = (SELECT id FROM jobs WHERE name = %(job)s))
   AND (%(campaign)s::text IS NULL OR campaign = %(campaign)s)

-- cancel_pending --
UPDATE records SET state = 'cancelled', finished_at = %(now)s
 WHERE state = 'pending'
   AND (cardinality(%(jobs)s::text[]) = 0 OR job_id IN (
        SELECT id FROM jobs WHERE name = ANY(%(jobs)s::text[])))
   AND (%(campaign)s::text IS NULL OR campaign = %(campaign)s)

-- retry_cancelled --
UPDATE records SET state = 'pending', finished_at = NULL
 WHERE state = 'cancelled'
   AND (%(job)s::text IS NULL OR job_id = (SELECT id FROM jobs WHERE name = %(job)s))
   AND (%(campaign)s::text IS NULL OR campaign = %(campaign)s)

-- prunable_jobs --
SELECT j.id, j.name FROM jobs j
 WHERE j.state = 'active'
   AND NOT EXISTS (SELECT 1 FROM records r
                    WHERE r.job_id = j.id AND r.state IN ('pending', 'in_flight'))
   AND COALESCE((SELECT MAX(finished_at) FROM records r WHERE r.job_id = j.id),
                j.created_at) < %(before)s
 ORDER BY j.id
   FOR UPDATE OF j

-- keep_pruned_totals --
INSERT INTO pruned_request_totals (account, outcome, http_status, count, pruned_at)
SELECT account, outcome, http_status, COUNT(*), %(now)s FROM requests
 WHERE job_id = ANY(%(ids)s::bigint[])
 GROUP BY account, outcome, http_status

-- prune_requests --
DELETE FROM requests WHERE job_id = ANY(%(ids)s::bigint[])

-- prune_duplicates --
DELETE FROM duplicates WHERE job_id = ANY(%(ids)s::bigint[])

-- prune_records --
DELETE FROM records WHERE job_id = ANY(%(ids)s::bigint[])

-- prune_sources --
DELETE FROM sources WHERE job_id = ANY(%(ids)s::bigint[])

-- prune_jobs --
DELETE FROM jobs WHERE id = ANY(%(ids)s::bigint[])

-- ============================================================== reports

-- state_counts --
SELECT job_id, state, COUNT(*) FROM records GROUP BY job_id, state

-- campaign_counts --
SELECT job_id, campaign, state, COUNT(*) FROM records
 WHERE job_id IN (SELECT id FROM jobs WHERE campaigns IS NOT NULL) AND state != 'invalid'
 GROUP BY job_id, campaign, state

-- failure_reasons --
SELECT job_id, COALESCE(reason, 'unknown'), COUNT(*) FROM records
 WHERE state = 'failed' GROUP BY job_id, reason

-- interrupted_not_found --
SELECT job_id, COUNT(*) FROM records
 WHERE state = 'not_found' AND reason = %(reason)s GROUP BY job_id

-- recent_requests --
SELECT j.id, COUNT(q.id), MIN(q.started_at), MAX(q.started_at)
  FROM jobs j JOIN requests q
    ON q.job_id = j.id AND q.started_at >= %(since)s AND q.finished_at IS NOT NULL
 GROUP BY j.id

-- recent_finished --
SELECT job_id, COUNT(*), MIN(finished_at), MAX(finished_at) FROM records
 WHERE state IN ('deleted', 'not_found', 'failed') AND finished_at >= %(since)s
 GROUP BY job_id

-- request_totals --
SELECT account, outcome, http_status, SUM(n) FROM (
    SELECT account, outcome, http_status, COUNT(*) AS n FROM requests
     GROUP BY account, outcome, http_status
    UNION ALL
    SELECT account, outcome, http_status, count FROM pruned_request_totals
) AS every GROUP BY account, outcome, http_status ORDER BY account, outcome, http_status

-- last_activity --
SELECT id, (SELECT MAX(started_at) FROM requests WHERE job_id = jobs.id) FROM jobs

-- account_stops --
SELECT account, reason, message, stopped_at FROM account_stops ORDER BY account

-- senders --
SELECT account, pid, database, mode, state, note, until, updated_at, since, host
  FROM senders ORDER BY account

-- job_names --
SELECT name FROM jobs ORDER BY id

-- ============================================================== export

-- export_filters --
-- As in queries.sql; each filter a text[] array, empty meaning "any".
 WHERE (cardinality(%(jobs)s::text[]) = 0 OR j.name = ANY(%(jobs)s::text[]))
   AND (cardinality(%(campaigns)s::text[]) = 0
        OR COALESCE(r.campaign, j.campaign) = ANY(%(campaigns)s::text[]))
   AND (cardinality(%(states)s::text[]) = 0 OR r.state = ANY(%(states)s::text[]))
   AND (cardinality(%(phones)s::text[]) = 0 OR EXISTS (
        SELECT 1 FROM unnest(%(phones)s::text[]) AS p (value),
               LATERAL (SELECT ltrim(replace(r.phone, '+', ''), '0') AS digits) AS d
         WHERE right(d.digits, length(p.value)) = p.value
            OR (length(d.digits) >= %(min_digits)s
                AND right(p.value, length(d.digits)) = d.digits)))

-- export_records --
SELECT j.name, COALESCE(r.campaign, j.campaign), s.path, r.line, r.phone, r.state, r.reason,
       r.attempts, r.last_http_status, r.last_message, r.finished_at, r.cell, r.name,
       NULL, NULL
  FROM records r JOIN jobs j ON j.id = r.job_id JOIN sources s ON s.id = r.source_id
{{export_filters}}
 ORDER BY r.job_id, r.id

-- export_duplicates --
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
SELECT j.name, COALESCE(q.campaign, r.campaign, j.campaign), q.account, r.phone, r.state,
       q.started_at, q.finished_at, q.http_status, q.outcome, q.message, q.body,
       q.deleted_count
  FROM requests q JOIN records r ON r.id = q.record_id JOIN jobs j ON j.id = r.job_id
{{export_filters}}
 ORDER BY q.id
