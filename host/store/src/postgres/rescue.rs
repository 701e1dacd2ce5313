//! Rescuing the jobs of workers that stopped: in one transaction, forget the dead and
//! silent workers, then every running job that no registered worker holds goes back
//! to pending, or to the dead-letter table when it has no attempts left. Each rescued
//! attempt is recorded with the outcome `rescued`.
//!
//! Several daemons may sweep at once: a transaction-scoped advisory lock makes them
//! take turns, and the orphaned jobs are locked (in id order, as a settlement locks
//! them) before anything is written, so a settlement racing the rescue either lands
//! first, and the job is no longer orphaned, or finds the job rescued and is stale.

use sqlx::PgConnection;

use super::NOTIFY_SQL;
use super::rows::ids;
use crate::Result;
use crate::error::db;
use crate::model::*;

/// The advisory lock that serializes rescues: "jobhost" in ASCII.
const RESCUE_LOCK: i64 = 0x006a_6f62_686f_7374;

const LOCK_ORPHANS_SQL: &str = "SELECT id FROM jobs WHERE status = 'running' \
    AND NOT EXISTS (SELECT 1 FROM workers WHERE workers.id = jobs.locked_by) \
    ORDER BY id FOR UPDATE";

const RECORD_ATTEMPTS_SQL: &str = "INSERT INTO job_attempts (job_id, attempt, worker_id, \
    started_at, finished_at, outcome, error, fuel_used, plugin_digest) \
    SELECT id, attempt, COALESCE(locked_by, ''), COALESCE(started_at, $2), $2, 'rescued', \
    'the worker running it (' || COALESCE(locked_by, 'unknown') || ') stopped', 0, NULL \
    FROM jobs WHERE id = ANY($1::text[])";

const DEAD_LETTER_SQL: &str = "WITH moved AS ( \
      DELETE FROM jobs WHERE id = ANY($1::text[]) AND attempt >= max_attempts \
      RETURNING id, job_type, queue, payload, priority, attempt, max_attempts, \
        'max_retries_exceeded'::text, 'the worker running its last attempt (' || \
        COALESCE(locked_by, 'unknown') || ') stopped', plugin_digest, fuel_used, created_at, \
        $2::int8, parent_id) \
    INSERT INTO dead_letter_jobs (id, job_type, queue, payload, priority, attempts, \
      max_attempts, reason, last_error, plugin_digest, fuel_used, created_at, failed_at, \
      parent_id) \
    SELECT * FROM moved RETURNING id";

// Runs after the dead-lettered jobs left `jobs`: what is left of the orphans has
// attempts to spare.
const REQUEUE_SQL: &str = "UPDATE jobs SET status = 'pending', last_error = \
    'the worker running it (' || COALESCE(locked_by, 'unknown') || ') stopped', \
    locked_by = NULL WHERE id = ANY($1::text[]) RETURNING id";

pub async fn rescue(conn: &mut PgConnection, params: &RescueParams) -> Result<RescueReport> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(RESCUE_LOCK)
        .execute(&mut *conn)
        .await
        .map_err(db("waiting for another rescue to finish"))?;

    let mut report = RescueReport::default();
    if !params.dead_workers.is_empty() {
        let removed = sqlx::query("DELETE FROM workers WHERE id = ANY($1::text[]) RETURNING id")
            .bind(&params.dead_workers)
            .fetch_all(&mut *conn)
            .await
            .map_err(db("removing dead workers"))?;
        report.workers_removed.extend(ids(&removed)?);
    }
    let silent = sqlx::query("DELETE FROM workers WHERE heartbeat_at < $1 RETURNING id")
        .bind(params.stale_before)
        .fetch_all(&mut *conn)
        .await
        .map_err(db("removing silent workers"))?;
    report.workers_removed.extend(ids(&silent)?);

    let orphans = sqlx::query(LOCK_ORPHANS_SQL)
        .fetch_all(&mut *conn)
        .await
        .map_err(db("finding the jobs of stopped workers"))?;
    let orphans = ids(&orphans)?;
    if !orphans.is_empty() {
        sqlx::query(RECORD_ATTEMPTS_SQL)
            .bind(&orphans)
            .bind(params.now)
            .execute(&mut *conn)
            .await
            .map_err(db("recording rescued attempts"))?;
        let dead = sqlx::query(DEAD_LETTER_SQL)
            .bind(&orphans)
            .bind(params.now)
            .fetch_all(&mut *conn)
            .await
            .map_err(db("dead-lettering rescued jobs"))?;
        report.dead_lettered = ids(&dead)?;
        let dead_ids: Vec<&str> = report.dead_lettered.iter().map(String::as_str).collect();
        super::flow::propagate(conn, &dead_ids).await?;
        let requeued = sqlx::query(REQUEUE_SQL)
            .bind(&orphans)
            .fetch_all(&mut *conn)
            .await
            .map_err(db("requeueing rescued jobs"))?;
        report.requeued = ids(&requeued)?;
    }
    if !report.requeued.is_empty() {
        sqlx::query(NOTIFY_SQL)
            .execute(&mut *conn)
            .await
            .map_err(db("notifying daemons of rescued jobs"))?;
    }

    // RETURNING comes back in no particular order.
    report.workers_removed.sort();
    report.dead_lettered.sort();
    report.requeued.sort();
    Ok(report)
}
