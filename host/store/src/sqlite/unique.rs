//! Unique jobs: an insert that the partial unique index `jobs_unique` turns into a
//! lookup of the live job holding the key. The write transaction makes the two one step.

use sqlx::SqliteConnection;

use crate::Result;
use crate::error::db;
use crate::model::*;

pub async fn enqueue_unique(
    conn: &mut SqliteConnection,
    job: &NewJob,
    unique_key: &str,
) -> Result<UniqueEnqueue> {
    let inserted = sqlx::query(
        "INSERT INTO jobs (id, job_type, queue, payload, priority, status, max_attempts, \
         run_at, created_at, parent_id, unique_key) \
         VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?) \
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
