-- A completed attempt is no longer a row in `job_attempts`: the job row already holds its
-- start, end, plugin digest and (by difference) fuel, and one insert with two index
-- updates less per job is a tenth of the settle cost. Only the worker was missing.
ALTER TABLE jobs ADD COLUMN completed_by TEXT;
