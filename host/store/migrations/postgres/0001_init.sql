-- jobhost's PostgreSQL schema: the same tables as the SQLite one, so both backends keep
-- the same facts. Every time is a BIGINT count of microseconds since the Unix epoch.
-- Jobs live in `jobs` until they complete or are cancelled (they stay there) or die
-- (they move to `dead_letter_jobs`, in the same transaction).
--
-- Identifiers use the "C" collation: they compare and sort bytewise, as in SQLite,
-- whatever the database's locale, and their indexes are cheaper to walk.

CREATE TABLE jobs (
    id            TEXT COLLATE "C" PRIMARY KEY,
    job_type      TEXT COLLATE "C" NOT NULL,
    queue         TEXT COLLATE "C" NOT NULL,
    payload       TEXT NOT NULL,
    priority      INTEGER NOT NULL,
    status        TEXT NOT NULL
                  CHECK (status IN ('pending', 'running', 'completed', 'cancelled')),
    attempt       INTEGER NOT NULL DEFAULT 0,
    max_attempts  INTEGER NOT NULL,
    run_at        BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    started_at    BIGINT,
    finished_at   BIGINT,
    locked_by     TEXT COLLATE "C",       -- the worker running it
    last_error    TEXT,
    result        TEXT,
    fuel_used     BIGINT NOT NULL DEFAULT 0,
    plugin_digest TEXT COLLATE "C",
    parent_id     TEXT COLLATE "C"
);

-- Claiming walks this index in order and stops at the first due rows it needs. Being
-- partial, it holds only pending jobs: completed rows piling up in `jobs` do not make
-- a claim any slower.
CREATE INDEX jobs_claim ON jobs (priority DESC, run_at, created_at) WHERE status = 'pending';
CREATE INDEX jobs_running ON jobs (locked_by) WHERE status = 'running';
CREATE INDEX jobs_created ON jobs (created_at);
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE status = 'completed';

-- One row per attempt that ended (completed, failed, or rescued from a dead worker).
CREATE TABLE job_attempts (
    job_id        TEXT COLLATE "C" NOT NULL,
    attempt       INTEGER NOT NULL,
    worker_id     TEXT COLLATE "C" NOT NULL,
    started_at    BIGINT NOT NULL,
    finished_at   BIGINT NOT NULL,
    outcome       TEXT NOT NULL,
    error         TEXT,
    fuel_used     BIGINT NOT NULL,
    plugin_digest TEXT COLLATE "C"
);
CREATE INDEX job_attempts_job ON job_attempts (job_id);
CREATE INDEX job_attempts_finished ON job_attempts (finished_at);

CREATE TABLE dead_letter_jobs (
    id                 TEXT COLLATE "C" PRIMARY KEY,  -- the id the job had while alive
    job_type           TEXT COLLATE "C" NOT NULL,
    queue              TEXT COLLATE "C" NOT NULL,
    payload            TEXT NOT NULL,
    priority           INTEGER NOT NULL,
    attempts           INTEGER NOT NULL,
    max_attempts       INTEGER NOT NULL,
    reason             TEXT NOT NULL,
    last_error         TEXT NOT NULL,
    plugin_digest      TEXT COLLATE "C",
    fuel_used          BIGINT NOT NULL,
    created_at         BIGINT NOT NULL,
    failed_at          BIGINT NOT NULL,
    reviewed           BOOLEAN NOT NULL DEFAULT FALSE,
    notes              TEXT,
    resurrection_count INTEGER NOT NULL DEFAULT 0,
    replayed_job_id    TEXT COLLATE "C",
    parent_id          TEXT COLLATE "C"
);
CREATE INDEX dead_letter_jobs_failed ON dead_letter_jobs (failed_at);
CREATE INDEX dead_letter_jobs_type ON dead_letter_jobs (job_type);

CREATE TABLE workers (
    id           TEXT COLLATE "C" PRIMARY KEY,
    host         TEXT NOT NULL,
    pid          BIGINT NOT NULL,
    started_at   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL
);

-- Every plugin load a daemon recorded (or a failed attempt at one), oldest first: the
-- history of which plugin version ran when.
CREATE TABLE plugins (
    seq       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    digest    TEXT COLLATE "C" NOT NULL,
    file      TEXT NOT NULL,
    name      TEXT COLLATE "C" NOT NULL,
    version   TEXT NOT NULL,
    loaded_at BIGINT NOT NULL,
    error     TEXT                    -- why it could not be loaded; NULL for a good load
);
CREATE INDEX plugins_digest ON plugins (digest);

-- The job types each plugin load declared.
CREATE TABLE job_types (
    plugin_seq     BIGINT NOT NULL REFERENCES plugins (seq) ON DELETE CASCADE,
    name           TEXT COLLATE "C" NOT NULL,
    payload_schema TEXT,
    max_attempts   INTEGER,
    PRIMARY KEY (plugin_seq, name)
);
CREATE INDEX job_types_name ON job_types (name);
