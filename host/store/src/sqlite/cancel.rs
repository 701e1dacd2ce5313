//! Cancelling jobs: at once when pending (or waiting, or blocked), by a mark the running
//! daemon reads when running.

use sqlx::{SqliteConnection, SqlitePool};

use super::rows::ids;
use crate::Result;
use crate::error::db;
use crate::model::*;

pub async fn cancel_job(
    conn: &mut SqliteConnection,
    id: &str,
    now: Micros,
) -> Result<CancelOutcome> {
    let cancelled = sqlx::query(
        "UPDATE jobs SET status = 'cancelled', finished_at = ?2 \
         WHERE id = ?1 AND status IN ('pending', 'waiting', 'blocked') RETURNING id",
    )
    .bind(id)
    .bind(now)
    .fetch_all(&mut *conn)
    .await
    .map_err(db("cancelling a pending job"))?;
    if !cancelled.is_empty() {
        // Whatever waited on it is blocked now.
        super::flow::propagate(conn, &[id]).await?;
        return Ok(CancelOutcome::Cancelled);
    }
    let requested = sqlx::query(
        "UPDATE jobs SET cancel_requested = 1 WHERE id = ? AND status = 'running' RETURNING id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await
    .map_err(db("asking for a running job to be cancelled"))?;
    if !requested.is_empty() {
        return Ok(CancelOutcome::Requested);
    }
    let status: Option<String> = sqlx::query_scalar("SELECT status FROM jobs WHERE id = ?")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db("reading a job's status"))?;
    Ok(match status.as_deref().and_then(JobStatus::parse) {
        Some(status) => CancelOutcome::AlreadyEnded(status),
        None => CancelOutcome::NotFound,
    })
}

pub async fn cancel_requests(pool: &SqlitePool, worker_id: &str) -> Result<Vec<String>> {
    let rows = sqlx::query(
        "SELECT id FROM jobs WHERE status = 'running' AND locked_by = ? AND cancel_requested <> 0",
    )
    .bind(worker_id)
    .fetch_all(pool)
    .await
    .map_err(db("reading the cancel requests"))?;
    ids(&rows)
}
