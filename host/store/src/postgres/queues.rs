//! Pausing and resuming queues, and listing them. A paused queue is a row in
//! `paused_queues`, which the claim statement consults.

use sqlx::{PgPool, Row};

use super::NOTIFY_SQL;

use crate::Result;
use crate::error::db;
use crate::model::*;

pub async fn pause_queue(pool: &PgPool, queue: &str, now: Micros) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO paused_queues (queue, paused_at) VALUES ($1, $2) ON CONFLICT (queue) DO NOTHING",
    )
    .bind(queue)
    .bind(now)
    .execute(pool)
    .await
    .map_err(db("pausing a queue"))?;
    Ok(done.rows_affected() == 1)
}

/// Wakes the daemons when the queue was paused: its jobs are claimable now.
pub async fn resume_queue(pool: &PgPool, queue: &str) -> Result<bool> {
    let mut tx = pool.begin().await.map_err(db("resuming a queue"))?;
    let done = sqlx::query("DELETE FROM paused_queues WHERE queue = $1")
        .bind(queue)
        .execute(&mut *tx)
        .await
        .map_err(db("resuming a queue"))?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    // Delivered when the transaction commits.
    sqlx::query(NOTIFY_SQL)
        .execute(&mut *tx)
        .await
        .map_err(db("notifying daemons of a resumed queue"))?;
    tx.commit().await.map_err(db("committing a resume"))?;
    Ok(true)
}

pub async fn list_queues(pool: &PgPool) -> Result<Vec<QueueInfo>> {
    let rows = sqlx::query(
        "WITH counts AS ( \
           SELECT queue, COUNT(*) FILTER (WHERE status = 'pending') AS pending, \
           COUNT(*) FILTER (WHERE status = 'running') AS running \
           FROM jobs WHERE status IN ('pending', 'running') GROUP BY queue), \
         names AS (SELECT queue FROM counts UNION SELECT queue FROM paused_queues) \
         SELECT names.queue, COALESCE(counts.pending, 0), COALESCE(counts.running, 0), \
           paused_queues.paused_at \
         FROM names LEFT JOIN counts ON counts.queue = names.queue \
         LEFT JOIN paused_queues ON paused_queues.queue = names.queue \
         ORDER BY names.queue",
    )
    .fetch_all(pool)
    .await
    .map_err(db("listing queues"))?;
    rows.iter()
        .map(|row| {
            let paused_at: Option<Micros> = row.try_get(3)?;
            Ok(QueueInfo {
                queue: row.try_get(0)?,
                pending: row.try_get::<i64, _>(1)? as u64,
                running: row.try_get::<i64, _>(2)? as u64,
                paused: paused_at.is_some(),
                paused_at,
            })
        })
        .collect::<std::result::Result<_, sqlx::Error>>()
        .map_err(db("reading queues"))
}
