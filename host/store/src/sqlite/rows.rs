//! Rows into model values. The column lists live beside the mappers that read them.

use sqlx::Row;
use sqlx::sqlite::SqliteRow;

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

fn get<'r, T>(row: &'r SqliteRow, column: &str) -> Result<T>
where
    T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
{
    row.try_get(column).map_err(db("reading a row"))
}

fn unsigned(row: &SqliteRow, column: &str) -> Result<u32> {
    Ok(get::<i64>(row, column)? as u32)
}

pub fn job(row: &SqliteRow) -> Result<Job> {
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
        fuel_used: get::<i64>(row, "fuel_used")? as u64,
        plugin_digest: get(row, "plugin_digest")?,
        parent_id: get(row, "parent_id")?,
    })
}

pub fn claimed(row: &SqliteRow) -> Result<ClaimedJob> {
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

pub fn attempt(row: &SqliteRow) -> Result<AttemptRecord> {
    Ok(AttemptRecord {
        job_id: get(row, "job_id")?,
        attempt: unsigned(row, "attempt")?,
        worker_id: get(row, "worker_id")?,
        started_at: get(row, "started_at")?,
        finished_at: get(row, "finished_at")?,
        outcome: get(row, "outcome")?,
        error: get(row, "error")?,
        fuel_used: get::<i64>(row, "fuel_used")? as u64,
        plugin_digest: get(row, "plugin_digest")?,
    })
}

pub fn dead(row: &SqliteRow) -> Result<DeadJob> {
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
        fuel_used: get::<i64>(row, "fuel_used")? as u64,
        created_at: get(row, "created_at")?,
        failed_at: get(row, "failed_at")?,
        reviewed: get::<i64>(row, "reviewed")? != 0,
        reviewed_at: get(row, "reviewed_at")?,
        notes: get(row, "notes")?,
        resurrection_count: unsigned(row, "resurrection_count")?,
        replayed_job_id: get(row, "replayed_job_id")?,
        parent_id: get(row, "parent_id")?,
    })
}

pub fn worker(row: &SqliteRow) -> Result<WorkerInfo> {
    Ok(WorkerInfo {
        id: get(row, "id")?,
        host: get(row, "host")?,
        pid: unsigned(row, "pid")?,
        started_at: get(row, "started_at")?,
        heartbeat_at: get(row, "heartbeat_at")?,
    })
}

/// A `COUNT(*)` column.
pub fn count(row: &SqliteRow, column: &str) -> Result<u64> {
    Ok(get::<i64>(row, column)?.max(0) as u64)
}

/// The `id` column of each row.
pub fn ids(found: &[SqliteRow]) -> Result<Vec<String>> {
    found.iter().map(|row| get(row, "id")).collect()
}
