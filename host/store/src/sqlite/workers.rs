//! The registry of running daemons and their heartbeats.

use sqlx::SqlitePool;

use super::rows::{self, WORKER_COLUMNS};
use crate::Result;
use crate::error::{StoreError, db};
use crate::model::*;

pub async fn register_worker(pool: &SqlitePool, w: &WorkerInfo) -> Result<()> {
    sqlx::query(
        "INSERT INTO workers (id, host, pid, started_at, heartbeat_at) VALUES (?, ?, ?, ?, ?) \
         ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid, \
         started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at",
    )
    .bind(&w.id)
    .bind(&w.host)
    .bind(w.pid as i64)
    .bind(w.started_at)
    .bind(w.heartbeat_at)
    .execute(pool)
    .await
    .map_err(db("registering a worker"))?;
    Ok(())
}

pub async fn heartbeat_worker(pool: &SqlitePool, worker_id: &str, now: Micros) -> Result<()> {
    let updated = sqlx::query("UPDATE workers SET heartbeat_at = ? WHERE id = ?")
        .bind(now)
        .bind(worker_id)
        .execute(pool)
        .await
        .map_err(db("recording a heartbeat"))?;
    if updated.rows_affected() == 0 {
        return Err(StoreError::NotFound {
            what: "worker",
            id: worker_id.to_string(),
        });
    }
    Ok(())
}

pub async fn remove_worker(pool: &SqlitePool, worker_id: &str) -> Result<()> {
    sqlx::query("DELETE FROM workers WHERE id = ?")
        .bind(worker_id)
        .execute(pool)
        .await
        .map_err(db("removing a worker"))?;
    Ok(())
}

pub async fn list_workers(pool: &SqlitePool) -> Result<Vec<WorkerInfo>> {
    let sql = format!("SELECT {WORKER_COLUMNS} FROM workers ORDER BY started_at");
    let found = sqlx::query(&sql)
        .fetch_all(pool)
        .await
        .map_err(db("listing workers"))?;
    found.iter().map(rows::worker).collect()
}

/// Counts through the partial index on running jobs, so a table full of finished jobs
/// costs nothing here.
pub async fn worker_loads(pool: &SqlitePool) -> Result<Vec<WorkerLoad>> {
    let sql = "SELECT w.id, w.host, w.pid, w.started_at, w.heartbeat_at, \
               (SELECT COUNT(*) FROM jobs j WHERE j.status = 'running' AND j.locked_by = w.id) \
               AS running FROM workers w ORDER BY w.started_at, w.id";
    let found = sqlx::query(sql)
        .fetch_all(pool)
        .await
        .map_err(db("listing workers and their jobs"))?;
    found
        .iter()
        .map(|row| {
            Ok(WorkerLoad {
                worker: rows::worker(row)?,
                running: rows::count(row, "running")?,
            })
        })
        .collect()
}
