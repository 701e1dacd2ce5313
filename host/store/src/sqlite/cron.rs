//! Cron schedules, and firing them once each across daemons.

use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection, SqlitePool};

use super::jobs::insert_jobs;
use crate::Result;
use crate::error::{StoreError, db};
use crate::model::*;

const COLUMNS: &str = "name, expr, job_type, payload, queue, priority, max_attempts, paused, \
                       next_run_at, last_run_at, created_at, timezone, source";

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
            timezone: row.try_get(11)?,
            source: row.try_get(12)?,
        })
    };
    read().map_err(db("reading a schedule"))
}

pub async fn add_schedule(pool: &SqlitePool, s: &CronSchedule) -> Result<()> {
    let done = sqlx::query(&format!(
        "INSERT INTO cron_schedules ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
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
    .bind(&s.timezone)
    .bind(&s.source)
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

/// Makes the plugin's schedules (all of `source`) what the database holds: each one
/// inserted, or updated where it is the plugin's (its next run kept unless its
/// expression or time zone changed, so a firing due is neither lost nor doubled), and
/// the plugin's schedules it no longer declares removed. Returns the names it could not
/// write because a schedule of another source holds them.
pub async fn sync_plugin_schedules(
    conn: &mut SqliteConnection,
    source: &str,
    schedules: &[CronSchedule],
) -> Result<Vec<String>> {
    let names: Vec<&str> = schedules.iter().map(|s| s.name.as_str()).collect();
    sqlx::query("DELETE FROM cron_schedules WHERE source = ?1 AND name NOT IN (SELECT value FROM json_each(?2))")
        .bind(source)
        .bind(serde_json::to_string(&names).unwrap_or_else(|_| "[]".into()))
        .execute(&mut *conn)
        .await
        .map_err(db("removing a plugin's old schedules"))?;
    for s in schedules {
        sqlx::query(&format!(
            "INSERT INTO cron_schedules ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, ?8, NULL, ?9, ?10, ?11) \
             ON CONFLICT (name) DO UPDATE SET expr = excluded.expr, job_type = excluded.job_type, \
             payload = excluded.payload, queue = excluded.queue, priority = excluded.priority, \
             max_attempts = excluded.max_attempts, timezone = excluded.timezone, \
             next_run_at = CASE WHEN cron_schedules.expr IS excluded.expr AND cron_schedules.timezone IS excluded.timezone \
             THEN cron_schedules.next_run_at ELSE excluded.next_run_at END \
             WHERE cron_schedules.source = excluded.source"
        ))
        .bind(&s.name)
        .bind(&s.expr)
        .bind(&s.job_type)
        .bind(&s.payload)
        .bind(&s.queue)
        .bind(s.priority)
        .bind(i64::from(s.max_attempts))
        .bind(s.next_run_at)
        .bind(s.created_at)
        .bind(&s.timezone)
        .bind(source)
        .execute(&mut *conn)
        .await
        .map_err(db("writing a plugin's schedule"))?;
    }
    let held: Vec<String> = sqlx::query_scalar("SELECT name FROM cron_schedules WHERE source <> ?1 AND name IN (SELECT value FROM json_each(?2)) ORDER BY name")
        .bind(source)
        .bind(serde_json::to_string(&names).unwrap_or_else(|_| "[]".into()))
        .fetch_all(&mut *conn)
        .await
        .map_err(db("reading a plugin's schedules"))?;
    Ok(held)
}
