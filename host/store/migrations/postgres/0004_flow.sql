-- Flow control and plugin state.

-- Each plugin's key-value store, keyed by the plugin's declared name (not its digest,
-- so a new version sees the old keys). Written only in the transaction that completes
-- the attempt that wrote it.
CREATE TABLE plugin_kv (
    plugin     TEXT COLLATE "C" NOT NULL,
    key        TEXT COLLATE "C" NOT NULL,
    value      TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (plugin, key)
);

-- Set by `jobs cancel` on a running job; its daemon interrupts the attempt and records
-- the job as cancelled.
ALTER TABLE jobs ADD COLUMN cancel_requested BOOLEAN NOT NULL DEFAULT FALSE;

-- Queues an operator paused: they take new jobs, and no daemon claims from them.
CREATE TABLE paused_queues (
    queue     TEXT COLLATE "C" PRIMARY KEY,
    paused_at BIGINT NOT NULL
);

-- A unique job: while one with this type and key is pending or running, enqueueing
-- another returns the first one's id. The index is what makes that race-free.
ALTER TABLE jobs ADD COLUMN unique_key TEXT COLLATE "C";
CREATE UNIQUE INDEX jobs_unique ON jobs (job_type, unique_key)
    WHERE unique_key IS NOT NULL AND status IN ('pending', 'running');
