-- Workflows: a job may wait on others (`enqueue --after ID`, or a follow-up's `after`).
-- Such a job is `waiting` (never claimed: the claim index holds pending rows only) until
-- every job it names completed, and `blocked` while one of them is dead-lettered or
-- cancelled. A job with no dependencies costs nothing here: `has_dependents` tells the
-- settle code which finishing jobs have waiters to look at, and it is false for them.
ALTER TABLE jobs DROP CONSTRAINT jobs_status_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_status_check
    CHECK (status IN ('pending', 'running', 'completed', 'cancelled', 'waiting', 'blocked'));
ALTER TABLE jobs ADD COLUMN has_dependents BOOLEAN NOT NULL DEFAULT FALSE;

-- One row per (waiting job, job it waits on). Kept after the wait is over, so
-- `jobs show` can draw the workflow; a replay of a dead prerequisite points the rows
-- at the new job.
CREATE TABLE job_dependencies (
    job_id     TEXT COLLATE "C" NOT NULL,   -- the waiting job
    depends_on TEXT COLLATE "C" NOT NULL,   -- the job it waits on
    state      TEXT NOT NULL CHECK (state IN ('waiting', 'done', 'failed')),
    PRIMARY KEY (job_id, depends_on)
);
CREATE INDEX job_dependencies_on ON job_dependencies (depends_on);

-- Children of a job (its follow-ups), for `jobs show`. Partial: jobs without a parent,
-- the bulk, add no entry.
CREATE INDEX jobs_parent ON jobs (parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX dead_letter_jobs_parent ON dead_letter_jobs (parent_id) WHERE parent_id IS NOT NULL;
