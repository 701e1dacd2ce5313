-- jobhost's SQLite schema. Every time is an integer count of microseconds since the Unix
-- epoch. Jobs live in `jobs` until they complete or are cancelled (they stay there) or
-- die (they move to `dead_letter_jobs`, in the same transaction).

CREATE TABLE jobs (
    id            TEXT PRIMARY KEY NOT NULL,
    job_type      TEXT NOT NULL,
    queue         TEXT NOT NULL,
    payload       TEXT NOT NULL,
    priority      INTEGER NOT NULL,
    status        TEXT NOT NULL,          -- pending | running | completed | cancelled
    attempt       INTEGER NOT NULL DEFAULT 0,
    max_attempts  INTEGER NOT NULL,
    run_at        INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    started_at    INTEGER,
    finished_at   INTEGER,
    locked_by     TEXT,                   -- the worker running it
    last_error    TEXT,
    result        TEXT,
    fuel_used     INTEGER NOT NULL DEFAULT 0,
    plugin_digest TEXT,
    parent_id     TEXT
);

-- Claiming walks this index in order and stops at the first due rows it needs.
CREATE INDEX jobs_claim ON jobs (priority DESC, run_at, created_at) WHERE status = 'pending';
CREATE INDEX jobs_running ON jobs (locked_by) WHERE status = 'running';
CREATE INDEX jobs_created ON jobs (created_at);
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE status = 'completed';

-- One row per attempt that ended (completed, failed, or rescued from a dead worker).
CREATE TABLE job_attempts (
    job_id        TEXT NOT NULL,
    attempt       INTEGER NOT NULL,
    worker_id     TEXT NOT NULL,
    started_at    INTEGER NOT NULL,
    finished_at   INTEGER NOT NULL,
    outcome       TEXT NOT NULL,
    error         TEXT,
    fuel_used     INTEGER NOT NULL,
    plugin_digest TEXT
);
CREATE INDEX job_attempts_job ON job_attempts (job_id);
CREATE INDEX job_attempts_finished ON job_attempts (finished_at);

CREATE TABLE dead_letter_jobs (
    id                 TEXT PRIMARY KEY NOT NULL,  -- the id the job had while alive
    job_type           TEXT NOT NULL,
    queue              TEXT NOT NULL,
    payload            TEXT NOT NULL,
    priority           INTEGER NOT NULL,
    attempts           INTEGER NOT NULL,
    max_attempts       INTEGER NOT NULL,
    reason             TEXT NOT NULL,
    last_error         TEXT NOT NULL,
    plugin_digest      TEXT,
    fuel_used          INTEGER NOT NULL,
    created_at         INTEGER NOT NULL,
    failed_at          INTEGER NOT NULL,
    reviewed           INTEGER NOT NULL DEFAULT 0,
    notes              TEXT,
    resurrection_count INTEGER NOT NULL DEFAULT 0,
    replayed_job_id    TEXT,
    parent_id          TEXT
);
CREATE INDEX dead_letter_jobs_failed ON dead_letter_jobs (failed_at);
CREATE INDEX dead_letter_jobs_type ON dead_letter_jobs (job_type);

CREATE TABLE workers (
    id           TEXT PRIMARY KEY NOT NULL,
    host         TEXT NOT NULL,
    pid          INTEGER NOT NULL,
    started_at   INTEGER NOT NULL,
    heartbeat_at INTEGER NOT NULL
);

-- Every plugin load a daemon recorded (or a failed attempt at one), oldest first: the
-- history of which plugin version ran when.
CREATE TABLE plugins (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    digest    TEXT NOT NULL,
    file      TEXT NOT NULL,
    name      TEXT NOT NULL,
    version   TEXT NOT NULL,
    loaded_at INTEGER NOT NULL,
    error     TEXT                    -- why it could not be loaded; NULL for a good load
);
CREATE INDEX plugins_digest ON plugins (digest);

-- The job types each plugin load declared.
CREATE TABLE job_types (
    plugin_seq     INTEGER NOT NULL REFERENCES plugins (seq) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    payload_schema TEXT,
    max_attempts   INTEGER,
    PRIMARY KEY (plugin_seq, name)
);
CREATE INDEX job_types_name ON job_types (name);
