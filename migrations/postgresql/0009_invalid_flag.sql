-- The twin of ../0009_invalid_flag.sql, which changes nothing here. SQLite rewrote the
-- identity and invalid-line index entries at every state change only because those
-- indexes were partial on `state`; PostgreSQL writes a new entry in every index of the
-- table whenever an indexed column changes (no HOT update once `state`, which
-- records_job_state holds, changes), so the same flag would save it nothing.
SELECT 1;
