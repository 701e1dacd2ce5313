-- Cron schedules. A daemon fires a due schedule by moving its `next_run_at` on with a
-- conditional UPDATE and inserting the job in the same transaction, so each firing is
-- enqueued once however many daemons share the database.
CREATE TABLE cron_schedules (
    name         TEXT COLLATE "C" PRIMARY KEY,
    expr         TEXT NOT NULL,
    job_type     TEXT COLLATE "C" NOT NULL,
    payload      TEXT NOT NULL,
    queue        TEXT COLLATE "C" NOT NULL,
    priority     INTEGER NOT NULL,
    max_attempts INTEGER NOT NULL,
    paused       BOOLEAN NOT NULL DEFAULT FALSE,
    next_run_at  BIGINT NOT NULL,
    last_run_at  BIGINT,
    created_at   BIGINT NOT NULL
);
CREATE INDEX cron_schedules_due ON cron_schedules (next_run_at) WHERE NOT paused;
