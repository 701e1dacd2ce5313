//! Cron schedules, and firing them once each across daemons.

use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Row};

use super::jobs::insert_jobs;
use crate::Result;
use crate::error::{StoreError, db};
use crate::model::*;

const COLUMNS: &str = "name, expr, job_type, payload, queue, priority, max_attempts, paused, \
                       next_run_at, last_run_at, created_at, timezone, source";

fn schedule(row: &PgRow) -> Result<CronSchedule> {
    let read = || -> std::result::Result<CronSchedule, sqlx::Error> {
        Ok(CronSchedule {
            name: row.try_get(0)?,
            expr: row.try_get(1)?,
            job_type: row.try_get(2)?,
            payload: row.try_get(3)?,
            queue: row.try_get(4)?,
            priority: row.try_get(5)?,
            max_attempts: row.try_get::<i32, _>(6)? as u32,
            paused: row.try_get(7)?,
            next_run_at: row.try_get(8)?,
            last_run_at: row.try_get(9)?,
            created_at: row.try_get(10)?,
            timezone: row.try_get(11)?,
            source: row.try_get(12)?,
        })
    };
    read().map_err(db("reading a schedule"))
}

pub async fn add_schedule(pool: &PgPool, s: &CronSchedule) -> Result<()> {
    let done = sqlx::query(&format!(
        "INSERT INTO cron_schedules ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
         ON CONFLICT (name) DO NOTHING"
    ))
    .bind(&s.name)
    .bind(&s.expr)
    .bind(&s.job_type)
    .bind(&s.payload)
    .bind(&s.queue)
    .bind(s.priority)
    .bind(super::rows::int(s.max_attempts))
    .bind(s.paused)
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

pub async fn list_schedules(pool: &PgPool) -> Result<Vec<CronSchedule>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM cron_schedules ORDER BY name"
    ))
    .fetch_all(pool)
    .await
    .map_err(db("listing schedules"))?;
    rows.iter().map(schedule).collect()
}

pub async fn remove_schedule(pool: &PgPool, name: &str) -> Result<bool> {
    let done = sqlx::query("DELETE FROM cron_schedules WHERE name = $1")
        .bind(name)
        .execute(pool)
        .await
        .map_err(db("removing a schedule"))?;
    Ok(done.rows_affected() == 1)
}

pub async fn set_schedule_paused(
    pool: &PgPool,
    name: &str,
    paused: bool,
    next_run_at: Micros,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE cron_schedules SET paused = $1, \
         next_run_at = CASE WHEN $1 THEN next_run_at ELSE $2 END WHERE name = $3",
    )
    .bind(paused)
    .bind(next_run_at)
    .bind(name)
    .execute(pool)
    .await
    .map_err(db("pausing or resuming a schedule"))?;
    Ok(done.rows_affected() == 1)
}

pub async fn due_schedules(pool: &PgPool, now: Micros) -> Result<Vec<CronSchedule>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM cron_schedules WHERE NOT paused AND next_run_at <= $1 \
         ORDER BY next_run_at"
    ))
    .bind(now)
    .fetch_all(pool)
    .await
    .map_err(db("finding due schedules"))?;
    rows.iter().map(schedule).collect()
}

pub async fn fire_schedule(conn: &mut PgConnection, p: &FireParams) -> Result<bool> {
    let moved = sqlx::query(
        "UPDATE cron_schedules SET next_run_at = $1, last_run_at = $2 \
         WHERE name = $3 AND next_run_at = $2 AND NOT paused",
    )
    .bind(p.next_run_at)
    .bind(p.due_at)
    .bind(&p.name)
    .execute(&mut *conn)
    .await
    .map_err(db("firing a schedule"))?;
    if moved.rows_affected() == 0 {
        return Ok(false);
    }
    insert_jobs(conn, &[&p.job], true).await?;
    Ok(true)
}

/// Makes the plugin's schedules (all of `source`) what the database holds: each one
/// inserted, or updated where it is the plugin's (its next run kept unless its
/// expression or time zone changed, so a firing due is neither lost nor doubled), and
/// the plugin's schedules it no longer declares removed. Returns the names it could not
/// write because a schedule of another source holds them.
pub async fn sync_plugin_schedules(
    conn: &mut PgConnection,
    source: &str,
    schedules: &[CronSchedule],
) -> Result<Vec<String>> {
    let names: Vec<&str> = schedules.iter().map(|s| s.name.as_str()).collect();
    sqlx::query("DELETE FROM cron_schedules WHERE source = $1 AND name <> ALL($2::text[])")
        .bind(source)
        .bind(&names)
        .execute(&mut *conn)
        .await
        .map_err(db("removing a plugin's old schedules"))?;
    for s in schedules {
        sqlx::query(&format!(
            "INSERT INTO cron_schedules ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, FALSE, $8, NULL, $9, $10, $11) \
             ON CONFLICT (name) DO UPDATE SET expr = excluded.expr, job_type = excluded.job_type, \
             payload = excluded.payload, queue = excluded.queue, priority = excluded.priority, \
             max_attempts = excluded.max_attempts, timezone = excluded.timezone, \
             next_run_at = CASE WHEN cron_schedules.expr = excluded.expr AND cron_schedules.timezone = excluded.timezone \
             THEN cron_schedules.next_run_at ELSE excluded.next_run_at END \
             WHERE cron_schedules.source = excluded.source"
        ))
        .bind(&s.name)
        .bind(&s.expr)
        .bind(&s.job_type)
        .bind(&s.payload)
        .bind(&s.queue)
        .bind(s.priority)
        .bind(super::rows::int(s.max_attempts))
        .bind(s.next_run_at)
        .bind(s.created_at)
        .bind(&s.timezone)
        .bind(source)
        .execute(&mut *conn)
        .await
        .map_err(db("writing a plugin's schedule"))?;
    }
    let held: Vec<String> = sqlx::query_scalar("SELECT name FROM cron_schedules WHERE source <> $1 AND name = ANY($2::text[]) ORDER BY name")
        .bind(source)
        .bind(&names)
        .fetch_all(&mut *conn)
        .await
        .map_err(db("reading a plugin's schedules"))?;
    Ok(held)
}
