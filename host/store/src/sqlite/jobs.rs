//! Putting jobs in and taking them out: enqueue and claim. Each function runs inside
//! the caller's `BEGIN IMMEDIATE` transaction, so a batch is all or nothing.

use std::sync::LazyLock;

use sqlx::{SqliteConnection, SqlitePool};

use super::batch::for_chunks;
use super::rows::{self, CLAIMED_COLUMNS};
use crate::Result;
use crate::error::{StoreError, db};
use crate::model::*;

/// Inserts new pending jobs (enqueued ones and follow-ups), many per statement.
pub async fn insert_jobs(conn: &mut SqliteConnection, jobs: &[&NewJob]) -> Result<()> {
    for_chunks(
        conn,
        "inserting jobs",
        jobs,
        "INSERT INTO jobs (id, job_type, queue, payload, priority, status, max_attempts, \
         run_at, created_at, parent_id) ",
        "",
        |row, job| {
            row.push_bind(&job.id)
                .push_bind(&job.job_type)
                .push_bind(&job.queue)
                .push_bind(&job.payload)
                .push_bind(job.priority)
                .push_bind("pending")
                .push_bind(i64::from(job.max_attempts))
                .push_bind(job.run_at)
                .push_bind(job.created_at)
                .push_bind(&job.parent_id);
        },
    )
    .await
}

// The subquery walks the partial index `jobs_claim` in claim order and yields rowids,
// so the UPDATE reaches each row without a second lookup through the id index. A row of
// a paused queue is passed over by a lookup in `paused_queues`, which is small. It takes
// nothing while any rate or concurrency limit exists (a check SQLite makes once per
// statement): then `limits::claim_limited` claims instead.
static CLAIM_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE jobs SET status = 'running', attempt = attempt + 1, locked_by = ?1, started_at = ?2 \
         WHERE rowid IN (SELECT rowid FROM jobs WHERE status = 'pending' AND run_at <= ?2 \
                         AND NOT EXISTS (SELECT 1 FROM paused_queues p WHERE p.queue = jobs.queue) \
                         AND NOT EXISTS (SELECT 1 FROM job_limits) \
                         ORDER BY priority DESC, run_at, created_at LIMIT ?3) \
         RETURNING {CLAIMED_COLUMNS}"
    )
});

/// One statement moves the jobs to `running` and returns them: no job can be handed
/// to two callers, whatever the number of connections or processes. When it finds
/// nothing and limits exist, the limited claim runs in the same transaction.
pub async fn claim(conn: &mut SqliteConnection, params: &ClaimParams) -> Result<Claim> {
    let found = sqlx::query(&CLAIM_SQL)
        .bind(&params.worker_id)
        .bind(params.now)
        .bind(i64::from(params.limit))
        .fetch_all(&mut *conn)
        .await
        .map_err(db("claiming jobs"))?;
    let mut claim = Claim {
        jobs: found
            .iter()
            .map(rows::claimed)
            .collect::<Result<Vec<_>>>()?,
        held_back: false,
    };
    if claim.jobs.is_empty() && params.limit > 0 {
        let limits = super::limits::read_limits(conn).await?;
        if !limits.is_empty() {
            claim = super::limits::claim_limited(conn, params, limits).await?;
        }
    }
    in_claim_order(&mut claim.jobs);
    Ok(claim)
}

/// Through the partial index on running jobs: a worker runs few. `known` travels as one
/// JSON array.
pub async fn lost_claims(
    pool: &SqlitePool,
    worker_id: &str,
    known: &[String],
) -> Result<Vec<ClaimedJob>> {
    let sql = format!(
        "SELECT {CLAIMED_COLUMNS} FROM jobs WHERE status = 'running' AND locked_by = ?1 \
         AND id NOT IN (SELECT value FROM json_each(?2)) \
         ORDER BY priority DESC, run_at, created_at"
    );
    let known = serde_json::to_string(known).map_err(|e| StoreError::Corrupt {
        table: "jobs",
        reason: e.to_string(),
    })?;
    let found = sqlx::query(&sql)
        .bind(worker_id)
        .bind(known)
        .fetch_all(pool)
        .await
        .map_err(db("looking for claims whose answer was lost"))?;
    found.iter().map(rows::claimed).collect()
}
