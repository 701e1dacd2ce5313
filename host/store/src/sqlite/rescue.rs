//! Rescuing the jobs of workers that stopped: in one transaction, forget the dead and
//! silent workers, then every running job that no registered worker holds goes back
//! to pending, or to the dead-letter table when it has no attempts left. Each rescued
//! attempt is recorded with the outcome `rescued`.

use std::sync::LazyLock;

use sqlx::SqliteConnection;

use super::rows::ids;
use crate::Result;
use crate::error::db;
use crate::model::*;

/// Running jobs whose worker is no longer registered: those of the workers just
/// removed, and any a worker left behind without ever being registered.
const ORPHANED: &str =
    "status = 'running' AND (locked_by IS NULL OR locked_by NOT IN (SELECT id FROM workers))";

static RECORD_ATTEMPTS_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO job_attempts (job_id, attempt, worker_id, started_at, finished_at, outcome, \
         error, fuel_used, plugin_digest) \
         SELECT id, attempt, COALESCE(locked_by, ''), COALESCE(started_at, ?1), ?1, 'rescued', \
         'the worker running it (' || COALESCE(locked_by, 'unknown') || ') stopped', 0, NULL \
         FROM jobs WHERE {ORPHANED}"
    )
});
static DEAD_LETTER_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO dead_letter_jobs (id, job_type, queue, payload, priority, attempts, \
         max_attempts, reason, last_error, plugin_digest, fuel_used, created_at, failed_at, parent_id) \
         SELECT id, job_type, queue, payload, priority, attempt, max_attempts, \
         'max_retries_exceeded', 'the worker running its last attempt (' || \
         COALESCE(locked_by, 'unknown') || ') stopped', plugin_digest, fuel_used, created_at, ?1, \
         parent_id FROM jobs WHERE {ORPHANED} AND attempt >= max_attempts RETURNING id"
    )
});
static DELETE_DEAD_SQL: LazyLock<String> =
    LazyLock::new(|| format!("DELETE FROM jobs WHERE {ORPHANED} AND attempt >= max_attempts"));
static REQUEUE_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE jobs SET status = 'pending', last_error = 'the worker running it (' || \
         COALESCE(locked_by, 'unknown') || ') stopped', locked_by = NULL WHERE {ORPHANED} \
         RETURNING id"
    )
});

pub async fn rescue(conn: &mut SqliteConnection, params: &RescueParams) -> Result<RescueReport> {
    let mut report = RescueReport::default();
    for id in &params.dead_workers {
        let removed = sqlx::query("DELETE FROM workers WHERE id = ? RETURNING id")
            .bind(id)
            .fetch_all(&mut *conn)
            .await
            .map_err(db("removing dead workers"))?;
        report.workers_removed.extend(ids(&removed)?);
    }
    let silent = sqlx::query("DELETE FROM workers WHERE heartbeat_at < ? RETURNING id")
        .bind(params.stale_before)
        .fetch_all(&mut *conn)
        .await
        .map_err(db("removing silent workers"))?;
    report.workers_removed.extend(ids(&silent)?);

    sqlx::query(&RECORD_ATTEMPTS_SQL)
        .bind(params.now)
        .execute(&mut *conn)
        .await
        .map_err(db("recording rescued attempts"))?;
    let dead = sqlx::query(&DEAD_LETTER_SQL)
        .bind(params.now)
        .fetch_all(&mut *conn)
        .await
        .map_err(db("dead-lettering rescued jobs"))?;
    report.dead_lettered = ids(&dead)?;
    sqlx::query(&DELETE_DEAD_SQL)
        .execute(&mut *conn)
        .await
        .map_err(db("dead-lettering rescued jobs"))?;
    let dead_ids: Vec<&str> = report.dead_lettered.iter().map(String::as_str).collect();
    super::flow::propagate(conn, &dead_ids).await?;
    let requeued = sqlx::query(&REQUEUE_SQL)
        .fetch_all(&mut *conn)
        .await
        .map_err(db("requeueing rescued jobs"))?;
    report.requeued = ids(&requeued)?;

    // RETURNING comes back in no particular order.
    report.workers_removed.sort();
    report.dead_lettered.sort();
    report.requeued.sort();
    Ok(report)
}
