//! Unique jobs: an insert that the partial unique index `jobs_unique` turns into a
//! lookup of the live job holding the key, and a look for a completed job whose
//! `unique_for` window still keeps the key reserved. That look comes after the insert,
//! in its transaction: a holder that completed before the insert is seen by it (and the
//! new row taken back), and one still live at the insert made the insert conflict.

use std::sync::LazyLock;

use sqlx::{PgConnection, PgPool};

use super::CHANNEL;
use crate::Result;
use crate::error::db;
use crate::model::*;

const INSERT_SQL: &str = "INSERT INTO jobs (id, job_type, queue, payload, priority, status, \
    max_attempts, run_at, created_at, parent_id, unique_key, unique_for) \
    VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, $8, $9, $10, $11) \
    ON CONFLICT (job_type, unique_key) \
    WHERE unique_key IS NOT NULL AND status IN ('pending', 'running') DO NOTHING \
    RETURNING id";

// Inserts and, only when a row went in, notifies the daemons (pg_notify runs once per
// inserted row): one atomic statement.
static INSERT_AND_NOTIFY_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH inserted AS ({INSERT_SQL}) SELECT id, pg_notify('{CHANNEL}', '')::text FROM inserted"
    )
});

/// The holder of a key can end between a refused insert and the lookup; then the
/// insert is tried again. Each round needs another job to take and end the key in
/// between, so a few rounds are plenty.
const ROUNDS: usize = 10;

/// The completed job (other than `except`) whose window still reserves the key at `now`.
async fn reserved_by(
    conn: &mut PgConnection,
    job: &NewJob,
    unique_key: &str,
) -> Result<Option<String>> {
    sqlx::query_scalar(
        "SELECT id FROM jobs WHERE job_type = $1 AND unique_key = $2 AND status = 'completed' \
         AND unique_for IS NOT NULL AND finished_at + unique_for > $3 AND id <> $4 \
         ORDER BY finished_at DESC LIMIT 1",
    )
    .bind(&job.job_type)
    .bind(unique_key)
    .bind(job.created_at)
    .bind(&job.id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db("finding a job that reserves a unique key"))
}

pub async fn enqueue_unique(
    pool: &PgPool,
    job: &NewJob,
    unique_key: &str,
    keep_for: Option<Micros>,
) -> Result<UniqueEnqueue> {
    for _ in 0..ROUNDS {
        let mut tx = pool.begin().await.map_err(db("enqueueing a unique job"))?;
        let inserted: Option<(String, Option<String>)> = sqlx::query_as(&INSERT_AND_NOTIFY_SQL)
            .bind(&job.id)
            .bind(&job.job_type)
            .bind(&job.queue)
            .bind(&job.payload)
            .bind(job.priority)
            .bind(super::rows::int(job.max_attempts))
            .bind(job.run_at)
            .bind(job.created_at)
            .bind(&job.parent_id)
            .bind(unique_key)
            .bind(keep_for)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db("inserting a unique job"))?;
        if let Some(id) = reserved_by(&mut tx, job, unique_key).await? {
            // Rolled back: the new row (if it went in) goes, and so does its notice.
            return Ok(UniqueEnqueue { id, created: false });
        }
        if inserted.is_some() {
            tx.commit().await.map_err(db("committing a unique job"))?;
            return Ok(UniqueEnqueue {
                id: job.id.clone(),
                created: true,
            });
        }
        let holder: Option<String> = sqlx::query_scalar(
            "SELECT id FROM jobs WHERE job_type = $1 AND unique_key = $2 \
             AND status IN ('pending', 'running')",
        )
        .bind(&job.job_type)
        .bind(unique_key)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db("finding the job that holds a unique key"))?;
        tx.commit()
            .await
            .map_err(db("finding the job that holds a unique key"))?;
        if let Some(id) = holder {
            return Ok(UniqueEnqueue { id, created: false });
        }
    }
    Err(crate::StoreError::Contended(format!(
        "the unique key {unique_key:?} of job type {:?} changed hands {ROUNDS} times while \
         enqueueing; try again",
        job.job_type
    )))
}
