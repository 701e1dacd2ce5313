//! Cron schedules, and firing them once each across daemons.

use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection, SqlitePool};

use super::jobs::insert_jobs;
use crate::Result;
use crate::error::{StoreError, db};
use crate::model::*;

const COLUMNS: &str = "name, expr, job_type, payload, queue, priority, max_attempts, paused, \
                       next_run_at, last_run_at, created_at";

fn schedule(row: &SqliteRow) -> Result<CronSchedule> {
    let read = || -> std::result::Result<CronSchedule, sqlx::Error> {
        Ok(CronSchedule {
            name: row.try_get(0)?,
            expr: row.try_get(1)?,
            job_type: row.try_get(2)?,
            payload: row.try_get(3)?,
            queue: row.try_get(4)?,
            priority: row.try_get(5)?,
            max_attempts: row.try_get::<i64, _>(6)? as u32,
            paused: row.try_get::<i64, _>(7)? != 0,
            next_run_at: row.try_get(8)?,
            last_run_at: row.try_get(9)?,
            created_at: row.try_get(10)?,
        })
    };
    read().map_err(db("reading a schedule"))
}

pub async fn add_schedule(pool: &SqlitePool, s: &CronSchedule) -> Result<()> {
    let done = sqlx::query(&format!(
        "INSERT INTO cron_schedules ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
         ON CONFLICT (name) DO NOTHING"
    ))
    .bind(&s.name)
    .bind(&s.expr)
    .bind(&s.job_type)
    .bind(&s.payload)
    .bind(&s.queue)
    .bind(s.priority)
    .bind(i64::from(s.max_attempts))
    .bind(i64::from(s.paused))
    .bind(s.next_run_at)
    .bind(s.last_run_at)
    .bind(s.created_at)
    .execute(pool)
    .await
    .map_err(db("adding a schedule"))?;
    if done.rows_affected() == 0 {
        return Err(StoreError::Exists {
            what: "schedule",
            name: s.name.clone(),
        });
    }
    Ok(())
}

pub async fn list_schedules(pool: &SqlitePool) -> Result<Vec<CronSchedule>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM cron_schedules ORDER BY name"
    ))
    .fetch_all(pool)
    .await
    .map_err(db("listing schedules"))?;
    rows.iter().map(schedule).collect()
}

pub async fn remove_schedule(pool: &SqlitePool, name: &str) -> Result<bool> {
    let done = sqlx::query("DELETE FROM cron_schedules WHERE name = ?")
        .bind(name)
        .execute(pool)
        .await
        .map_err(db("removing a schedule"))?;
    Ok(done.rows_affected() == 1)
}

pub async fn set_schedule_paused(
    pool: &SqlitePool,
    name: &str,
    paused: bool,
    next_run_at: Micros,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE cron_schedules SET paused = ?, \
         next_run_at = CASE WHEN ? THEN next_run_at ELSE ? END WHERE name = ?",
    )
    .bind(i64::from(paused))
    .bind(paused)
    .bind(next_run_at)
    .bind(name)
    .execute(pool)
    .await
    .map_err(db("pausing or resuming a schedule"))?;
    Ok(done.rows_affected() == 1)
}

pub async fn due_schedules(pool: &SqlitePool, now: Micros) -> Result<Vec<CronSchedule>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM cron_schedules WHERE paused = 0 AND next_run_at <= ? \
         ORDER BY next_run_at"
    ))
    .bind(now)
    .fetch_all(pool)
    .await
    .map_err(db("finding due schedules"))?;
    rows.iter().map(schedule).collect()
}

pub async fn fire_schedule(conn: &mut SqliteConnection, p: &FireParams) -> Result<bool> {
    let moved = sqlx::query(
        "UPDATE cron_schedules SET next_run_at = ?, last_run_at = ? \
         WHERE name = ? AND next_run_at = ? AND paused = 0",
    )
    .bind(p.next_run_at)
    .bind(p.due_at)
    .bind(&p.name)
    .bind(p.due_at)
    .execute(&mut *conn)
    .await
    .map_err(db("firing a schedule"))?;
    if moved.rows_affected() == 0 {
        return Ok(false);
    }
    insert_jobs(conn, &[&p.job]).await?;
    Ok(true)
}
