-- Scheduling and flow control: rate and concurrency limits, cron time zones and the
-- schedules plugins declare, and unique keys kept reserved after completion.

-- A limit on one job type or one queue, enforced by every claim on this database. A
-- limited job stays pending (no attempt spent) while its limit holds it back. The rate
-- is a token bucket: `tokens` is what it held at `refilled_at`, and it refills at
-- `rate_per_minute` a minute up to a small burst. Concurrency is checked against the
-- running jobs themselves. `source` is `operator` (the CLI) or `plugin` (a plugin's
-- `describe` and manifest, written when a daemon loads it; never over an operator's).
CREATE TABLE job_limits (
    scope           TEXT NOT NULL,          -- type | queue
    name            TEXT NOT NULL,
    rate_per_minute INTEGER,                -- NULL: no rate limit
    concurrency     INTEGER,                -- NULL: no concurrency limit
    source          TEXT NOT NULL,
    tokens          REAL NOT NULL,
    refilled_at     INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (scope, name)
);

-- The time zone a schedule's expression is read in (an IANA name), and where the
-- schedule came from: `operator` (`cron add`) or `plugin NAME` (declared by a plugin).
ALTER TABLE cron_schedules ADD COLUMN timezone TEXT NOT NULL DEFAULT 'UTC';
ALTER TABLE cron_schedules ADD COLUMN source TEXT NOT NULL DEFAULT 'operator';

-- A unique key kept reserved after its job completed, for this many microseconds
-- (`enqueue --unique-for`); NULL: released when the job stops being pending or running.
-- The index finds a completed holder whose window is still open.
ALTER TABLE jobs ADD COLUMN unique_for INTEGER;
CREATE INDEX jobs_unique_done ON jobs (job_type, unique_key)
    WHERE unique_key IS NOT NULL AND status = 'completed';

-- Payload fields whose values make a job's unique key when its enqueue names none, as
-- a plugin's `describe` declares them for the type: a JSON array, NULL for none.
ALTER TABLE job_types ADD COLUMN unique_key_fields TEXT;
