-- PostgreSQL twin of migrations/0002_job_format_and_guard.sql.
ALTER TABLE jobs ADD COLUMN number_format TEXT NOT NULL DEFAULT 'as_is';
ALTER TABLE jobs ADD COLUMN guard_cleared INTEGER NOT NULL DEFAULT 0;
