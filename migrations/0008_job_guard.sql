-- Issue 19. A job's not-found guard belongs to the job: the settings of the config that
-- loaded it last, as JSON {"sample": N, "max_ratio": R}; NULL for a job without a guard.
-- A process adopting a job loaded by another config (`load` beside a worker, a
-- hand-over) guards it with these, not with its own config's (which may not name it).
ALTER TABLE jobs ADD COLUMN not_found_guard TEXT;
