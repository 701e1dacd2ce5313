//! Rows into model values, and model values into the column types PostgreSQL keeps.
//! The column lists live beside the mappers that read them.

use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::Result;
use crate::error::{StoreError, db};
use crate::model::*;

pub const JOB_COLUMNS: &str = "id, job_type, queue, payload, priority, status, attempt, \
    max_attempts, run_at, created_at, started_at, finished_at, locked_by, last_error, result, \
    fuel_used, plugin_digest, parent_id";

pub const CLAIMED_COLUMNS: &str =
    "id, job_type, queue, payload, priority, attempt, max_attempts, created_at, run_at";

pub const ATTEMPT_COLUMNS: &str =
    "job_id, attempt, worker_id, started_at, finished_at, outcome, error, fuel_used, plugin_digest";

pub const DEAD_COLUMNS: &str = "id, job_type, queue, payload, priority, attempts, max_attempts, \
    reason, last_error, plugin_digest, fuel_used, created_at, failed_at, reviewed, reviewed_at, \
    notes, resurrection_count, replayed_job_id, parent_id";

pub const WORKER_COLUMNS: &str = "id, host, pid, started_at, heartbeat_at";

/// A count for an `INTEGER` column. Counts past `i32::MAX` (no job has that many
/// attempts) are kept as `i32::MAX`.
pub fn int(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Fuel for a `BIGINT` column.
pub fn fuel(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn get<'r, T>(row: &'r PgRow, column: &str) -> Result<T>
where
    T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    row.try_get(column).map_err(db("reading a row"))
}

fn unsigned(row: &PgRow, column: &str) -> Result<u32> {
    Ok(get::<i32>(row, column)?.max(0) as u32)
}

fn fuel_of(row: &PgRow, column: &str) -> Result<u64> {
    Ok(get::<i64>(row, column)?.max(0) as u64)
}

pub fn job(row: &PgRow) -> Result<Job> {
    let status: String = get(row, "status")?;
    Ok(Job {
        id: get(row, "id")?,
        job_type: get(row, "job_type")?,
        queue: get(row, "queue")?,
        payload: get(row, "payload")?,
        priority: get(row, "priority")?,
        status: JobStatus::parse(&status).ok_or_else(|| StoreError::Corrupt {
            table: "jobs",
            reason: format!("unknown status {status:?}"),
        })?,
        attempt: unsigned(row, "attempt")?,
        max_attempts: unsigned(row, "max_attempts")?,
        run_at: get(row, "run_at")?,
        created_at: get(row, "created_at")?,
        started_at: get(row, "started_at")?,
        finished_at: get(row, "finished_at")?,
        locked_by: get(row, "locked_by")?,
        last_error: get(row, "last_error")?,
        result: get(row, "result")?,
        fuel_used: fuel_of(row, "fuel_used")?,
        plugin_digest: get(row, "plugin_digest")?,
        parent_id: get(row, "parent_id")?,
    })
}

pub fn claimed(row: &PgRow) -> Result<ClaimedJob> {
    Ok(ClaimedJob {
        id: get(row, "id")?,
        job_type: get(row, "job_type")?,
        queue: get(row, "queue")?,
        payload: get(row, "payload")?,
        priority: get(row, "priority")?,
        attempt: unsigned(row, "attempt")?,
        max_attempts: unsigned(row, "max_attempts")?,
        created_at: get(row, "created_at")?,
        run_at: get(row, "run_at")?,
    })
}

pub fn attempt(row: &PgRow) -> Result<AttemptRecord> {
    Ok(AttemptRecord {
        job_id: get(row, "job_id")?,
        attempt: unsigned(row, "attempt")?,
        worker_id: get(row, "worker_id")?,
        started_at: get(row, "started_at")?,
        finished_at: get(row, "finished_at")?,
        outcome: get(row, "outcome")?,
        error: get(row, "error")?,
        fuel_used: fuel_of(row, "fuel_used")?,
        plugin_digest: get(row, "plugin_digest")?,
    })
}

pub fn dead(row: &PgRow) -> Result<DeadJob> {
    let reason: String = get(row, "reason")?;
    Ok(DeadJob {
        id: get(row, "id")?,
        job_type: get(row, "job_type")?,
        queue: get(row, "queue")?,
        payload: get(row, "payload")?,
        priority: get(row, "priority")?,
        attempts: unsigned(row, "attempts")?,
        max_attempts: unsigned(row, "max_attempts")?,
        reason: DeadReason::parse(&reason).ok_or_else(|| StoreError::Corrupt {
            table: "dead_letter_jobs",
            reason: format!("unknown reason {reason:?}"),
        })?,
        last_error: get(row, "last_error")?,
        plugin_digest: get(row, "plugin_digest")?,
        fuel_used: fuel_of(row, "fuel_used")?,
        created_at: get(row, "created_at")?,
        failed_at: get(row, "failed_at")?,
        reviewed: get(row, "reviewed")?,
        reviewed_at: get(row, "reviewed_at")?,
        notes: get(row, "notes")?,
        resurrection_count: unsigned(row, "resurrection_count")?,
        replayed_job_id: get(row, "replayed_job_id")?,
        parent_id: get(row, "parent_id")?,
    })
}

pub fn worker(row: &PgRow) -> Result<WorkerInfo> {
    Ok(WorkerInfo {
        id: get(row, "id")?,
        host: get(row, "host")?,
        pid: get::<i64>(row, "pid")? as u32,
        started_at: get(row, "started_at")?,
        heartbeat_at: get(row, "heartbeat_at")?,
    })
}

/// A `COUNT(*)` column.
pub fn count(row: &PgRow, column: &str) -> Result<u64> {
    Ok(get::<i64>(row, column)?.max(0) as u64)
}

/// The `id` column of each row.
pub fn ids(found: &[PgRow]) -> Result<Vec<String>> {
    found.iter().map(|row| get(row, "id")).collect()
}
