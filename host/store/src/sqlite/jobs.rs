//! The hot path: enqueue, claim, settle, rescue. Each function runs inside the caller's
//! `BEGIN IMMEDIATE` transaction, so a batch is all or nothing.

use std::sync::LazyLock;

use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};

use super::rows::{self, CLAIMED_COLUMNS};
use crate::Result;
use crate::error::db;
use crate::model::*;

/// Rows per multi-row INSERT: SQLite binds at most 32,766 parameters per statement.
const INSERT_CHUNK: usize = 500;

pub async fn insert_jobs(conn: &mut SqliteConnection, jobs: &[NewJob]) -> Result<()> {
    for chunk in jobs.chunks(INSERT_CHUNK) {
        let mut insert = QueryBuilder::<Sqlite>::new(
            "INSERT INTO jobs (id, job_type, queue, payload, priority, status, max_attempts, \
             run_at, created_at, parent_id) ",
        );
        insert.push_values(chunk, |mut row, job| {
            row.push_bind(&job.id)
                .push_bind(&job.job_type)
                .push_bind(&job.queue)
                .push_bind(&job.payload)
                .push_bind(job.priority)
                .push_bind("pending")
                .push_bind(job.max_attempts as i64)
                .push_bind(job.run_at)
                .push_bind(job.created_at)
                .push_bind(&job.parent_id);
        });
        insert
            .build()
            .execute(&mut *conn)
            .await
            .map_err(db("inserting jobs"))?;
    }
    Ok(())
}

static CLAIM_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE jobs SET status = 'running', attempt = attempt + 1, locked_by = ?1, started_at = ?2 \
         WHERE id IN (SELECT id FROM jobs WHERE status = 'pending' AND run_at <= ?2 \
                      ORDER BY priority DESC, run_at, created_at LIMIT ?3) \
         RETURNING {CLAIMED_COLUMNS}"
    )
});

pub async fn claim(conn: &mut SqliteConnection, params: &ClaimParams) -> Result<Vec<ClaimedJob>> {
    let found = sqlx::query(&CLAIM_SQL)
        .bind(&params.worker_id)
        .bind(params.now)
        .bind(params.limit as i64)
        .fetch_all(&mut *conn)
        .await
        .map_err(db("claiming jobs"))?;
    let mut claimed = found
        .iter()
        .map(rows::claimed)
        .collect::<Result<Vec<_>>>()?;
    // RETURNING comes back in no particular order: restore the claim order.
    claimed.sort_by(|a, b| {
        b.priority
            .cmp(&a.priority)
            .then(a.run_at.cmp(&b.run_at))
            .then(a.created_at.cmp(&b.created_at))
    });
    Ok(claimed)
}

/// The guard every settlement carries: the job is still this worker's, at this attempt.
const GUARD: &str = "id = ? AND status = 'running' AND locked_by = ? AND attempt = ?";

static COMPLETE_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE jobs SET status = 'completed', result = ?, finished_at = ?, \
         fuel_used = fuel_used + ?, plugin_digest = ?, locked_by = NULL WHERE {GUARD}"
    )
});
static RETRY_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE jobs SET status = 'pending', run_at = ?, last_error = ?, \
         fuel_used = fuel_used + ?, plugin_digest = ?, locked_by = NULL WHERE {GUARD}"
    )
});
static DEAD_LETTER_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO dead_letter_jobs (id, job_type, queue, payload, priority, attempts, \
         max_attempts, reason, last_error, plugin_digest, fuel_used, created_at, failed_at, parent_id) \
         SELECT id, job_type, queue, payload, priority, attempt, max_attempts, ?, ?, ?, \
         fuel_used + ?, created_at, ?, parent_id FROM jobs WHERE {GUARD}"
    )
});
static RELEASE_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE jobs SET status = 'pending', attempt = attempt - 1, locked_by = NULL, \
         started_at = NULL WHERE {GUARD}"
    )
});

pub async fn settle(conn: &mut SqliteConnection, batch: &[Settlement]) -> Result<SettleReport> {
    let mut report = SettleReport::default();
    let mut attempts = Vec::with_capacity(batch.len());
    let mut followups = Vec::new();
    for settlement in batch {
        let r = &settlement.record;
        let fuel = r.fuel_used as i64;
        let query = match &settlement.action {
            SettleAction::Complete { result, .. } => sqlx::query(&COMPLETE_SQL)
                .bind(result)
                .bind(r.finished_at)
                .bind(fuel)
                .bind(&r.plugin_digest),
            SettleAction::Retry { error, run_at } => sqlx::query(&RETRY_SQL)
                .bind(run_at)
                .bind(error)
                .bind(fuel)
                .bind(&r.plugin_digest),
            SettleAction::DeadLetter { reason, error } => sqlx::query(&DEAD_LETTER_SQL)
                .bind(reason.as_str())
                .bind(error)
                .bind(&r.plugin_digest)
                .bind(fuel)
                .bind(r.finished_at),
            SettleAction::Release => sqlx::query(&RELEASE_SQL),
        };
        let applied = query
            .bind(&r.job_id)
            .bind(&r.worker_id)
            .bind(r.attempt as i64)
            .execute(&mut *conn)
            .await
            .map_err(db("settling an attempt"))?
            .rows_affected()
            == 1;
        if !applied {
            report.stale += 1;
            continue;
        }
        report.applied += 1;
        match &settlement.action {
            SettleAction::Complete { followups: f, .. } => followups.extend_from_slice(f),
            SettleAction::DeadLetter { .. } => {
                sqlx::query("DELETE FROM jobs WHERE id = ?")
                    .bind(&r.job_id)
                    .execute(&mut *conn)
                    .await
                    .map_err(db("moving a job to the dead-letter table"))?;
            }
            SettleAction::Retry { .. } | SettleAction::Release => {}
        }
        if settlement.action != SettleAction::Release {
            attempts.push(r);
        }
    }
    insert_attempts(conn, &attempts).await?;
    insert_jobs(conn, &followups).await?;
    Ok(report)
}

async fn insert_attempts(conn: &mut SqliteConnection, attempts: &[&AttemptRecord]) -> Result<()> {
    for chunk in attempts.chunks(INSERT_CHUNK) {
        let mut insert = QueryBuilder::<Sqlite>::new(
            "INSERT INTO job_attempts (job_id, attempt, worker_id, started_at, finished_at, \
             outcome, error, fuel_used, plugin_digest) ",
        );
        insert.push_values(chunk, |mut row, a| {
            row.push_bind(&a.job_id)
                .push_bind(a.attempt as i64)
                .push_bind(&a.worker_id)
                .push_bind(a.started_at)
                .push_bind(a.finished_at)
                .push_bind(&a.outcome)
                .push_bind(&a.error)
                .push_bind(a.fuel_used as i64)
                .push_bind(&a.plugin_digest);
        });
        insert
            .build()
            .execute(&mut *conn)
            .await
            .map_err(db("recording attempts"))?;
    }
    Ok(())
}

/// Running jobs whose worker is no longer registered.
const ORPHANED: &str =
    "status = 'running' AND (locked_by IS NULL OR locked_by NOT IN (SELECT id FROM workers))";

static RESCUE_ATTEMPTS_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO job_attempts (job_id, attempt, worker_id, started_at, finished_at, outcome, \
         error, fuel_used, plugin_digest) \
         SELECT id, attempt, COALESCE(locked_by, ''), COALESCE(started_at, ?1), ?1, 'rescued', \
         'the worker running it (' || COALESCE(locked_by, 'unknown') || ') stopped', 0, NULL \
         FROM jobs WHERE {ORPHANED}"
    )
});
static RESCUE_DEAD_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO dead_letter_jobs (id, job_type, queue, payload, priority, attempts, \
         max_attempts, reason, last_error, plugin_digest, fuel_used, created_at, failed_at, parent_id) \
         SELECT id, job_type, queue, payload, priority, attempt, max_attempts, \
         'max_retries_exceeded', 'the worker running its last attempt (' || \
         COALESCE(locked_by, 'unknown') || ') stopped', plugin_digest, fuel_used, created_at, ?1, \
         parent_id FROM jobs WHERE {ORPHANED} AND attempt >= max_attempts RETURNING id"
    )
});
static RESCUE_DELETE_SQL: LazyLock<String> =
    LazyLock::new(|| format!("DELETE FROM jobs WHERE {ORPHANED} AND attempt >= max_attempts"));
static RESCUE_REQUEUE_SQL: LazyLock<String> = LazyLock::new(|| {
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

    sqlx::query(&RESCUE_ATTEMPTS_SQL)
        .bind(params.now)
        .execute(&mut *conn)
        .await
        .map_err(db("recording rescued attempts"))?;
    let dead = sqlx::query(&RESCUE_DEAD_SQL)
        .bind(params.now)
        .fetch_all(&mut *conn)
        .await
        .map_err(db("dead-lettering rescued jobs"))?;
    report.dead_lettered = ids(&dead)?;
    sqlx::query(&RESCUE_DELETE_SQL)
        .execute(&mut *conn)
        .await
        .map_err(db("dead-lettering rescued jobs"))?;
    let requeued = sqlx::query(&RESCUE_REQUEUE_SQL)
        .fetch_all(&mut *conn)
        .await
        .map_err(db("requeueing rescued jobs"))?;
    report.requeued = ids(&requeued)?;
    Ok(report)
}

fn ids(found: &[sqlx::sqlite::SqliteRow]) -> Result<Vec<String>> {
    found
        .iter()
        .map(|row| row.try_get("id").map_err(db("reading ids")))
        .collect()
}
