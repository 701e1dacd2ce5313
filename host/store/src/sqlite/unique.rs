//! Unique jobs: an insert that the partial unique index `jobs_unique` turns into a
//! lookup of the live job holding the key, after a look for a completed job whose
//! `unique_for` window still keeps the key reserved. The write transaction makes the
//! steps one.

use sqlx::SqliteConnection;

use crate::Result;
use crate::error::db;
use crate::model::*;

/// The completed job whose window still reserves the key at `now`.
async fn reserved_by(
    conn: &mut SqliteConnection,
    job_type: &str,
    unique_key: &str,
    now: Micros,
) -> Result<Option<String>> {
    sqlx::query_scalar(
        "SELECT id FROM jobs WHERE job_type = ? AND unique_key = ? AND status = 'completed' \
         AND unique_for IS NOT NULL AND finished_at + unique_for > ? \
         ORDER BY finished_at DESC LIMIT 1",
    )
    .bind(job_type)
    .bind(unique_key)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db("finding a job that reserves a unique key"))
}

pub async fn enqueue_unique(
    conn: &mut SqliteConnection,
    job: &NewJob,
    unique_key: &str,
    keep_for: Option<Micros>,
) -> Result<UniqueEnqueue> {
    if let Some(id) = reserved_by(conn, &job.job_type, unique_key, job.created_at).await? {
        return Ok(UniqueEnqueue { id, created: false });
    }
    let inserted = sqlx::query(
        "INSERT INTO jobs (id, job_type, queue, payload, priority, status, max_attempts, \
         run_at, created_at, parent_id, unique_key, unique_for) \
         VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?) \
         ON CONFLICT (job_type, unique_key) \
         WHERE unique_key IS NOT NULL AND status IN ('pending', 'running') DO NOTHING",
    )
    .bind(&job.id)
    .bind(&job.job_type)
    .bind(&job.queue)
    .bind(&job.payload)
    .bind(job.priority)
    .bind(i64::from(job.max_attempts))
    .bind(job.run_at)
    .bind(job.created_at)
    .bind(&job.parent_id)
    .bind(unique_key)
    .bind(keep_for)
    .execute(&mut *conn)
    .await
    .map_err(db("inserting a unique job"))?;
    if inserted.rows_affected() == 1 {
        return Ok(UniqueEnqueue {
            id: job.id.clone(),
            created: true,
        });
    }
    let id: String = sqlx::query_scalar(
        "SELECT id FROM jobs WHERE job_type = ? AND unique_key = ? \
         AND status IN ('pending', 'running')",
    )
    .bind(&job.job_type)
    .bind(unique_key)
    .fetch_one(&mut *conn)
    .await
    .map_err(db("finding the job that holds a unique key"))?;
    Ok(UniqueEnqueue { id, created: false })
}
