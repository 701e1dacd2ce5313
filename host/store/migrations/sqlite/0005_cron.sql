-- Cron schedules. A daemon fires a due schedule by moving its `next_run_at` on with a
-- conditional UPDATE and inserting the job in the same transaction, so each firing is
-- enqueued once however many daemons share the database.
CREATE TABLE cron_schedules (
    name         TEXT PRIMARY KEY NOT NULL,
    expr         TEXT NOT NULL,
    job_type     TEXT NOT NULL,
    payload      TEXT NOT NULL,
    queue        TEXT NOT NULL,
    priority     INTEGER NOT NULL,
    max_attempts INTEGER NOT NULL,
    paused       INTEGER NOT NULL DEFAULT 0,
    next_run_at  INTEGER NOT NULL,
    last_run_at  INTEGER,
    created_at   INTEGER NOT NULL
);
CREATE INDEX cron_schedules_due ON cron_schedules (next_run_at) WHERE paused = 0;
