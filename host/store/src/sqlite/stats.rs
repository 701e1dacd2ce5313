//! The counts behind `jobhost stats`.

use sqlx::{Row, SqlitePool};

use crate::Result;
use crate::error::db;
use crate::model::*;

const HOUR: Micros = 3_600_000_000;

async fn count(pool: &SqlitePool, sql: &str, binds: &[Micros]) -> Result<u64> {
    let mut query = sqlx::query(sql);
    for b in binds {
        query = query.bind(*b);
    }
    let row = query
        .fetch_one(pool)
        .await
        .map_err(db("counting for stats"))?;
    Ok(row.try_get::<i64, _>(0).map_err(db("counting for stats"))? as u64)
}

pub async fn stats(pool: &SqlitePool, now: Micros) -> Result<Stats> {
    let mut stats = Stats {
        pending: count(
            pool,
            "SELECT COUNT(*) FROM jobs WHERE status = 'pending' AND run_at <= ?",
            &[now],
        )
        .await?,
        scheduled: count(
            pool,
            "SELECT COUNT(*) FROM jobs WHERE status = 'pending' AND run_at > ?",
            &[now],
        )
        .await?,
        running: count(
            pool,
            "SELECT COUNT(*) FROM jobs WHERE status = 'running'",
            &[],
        )
        .await?,
        completed: count(
            pool,
            "SELECT COUNT(*) FROM jobs WHERE status = 'completed'",
            &[],
        )
        .await?,
        cancelled: count(
            pool,
            "SELECT COUNT(*) FROM jobs WHERE status = 'cancelled'",
            &[],
        )
        .await?,
        waiting: count(
            pool,
            "SELECT COUNT(*) FROM jobs WHERE status = 'waiting'",
            &[],
        )
        .await?,
        blocked: count(
            pool,
            "SELECT COUNT(*) FROM jobs WHERE status = 'blocked'",
            &[],
        )
        .await?,
        dead: count(pool, "SELECT COUNT(*) FROM dead_letter_jobs", &[]).await?,
        dead_unreviewed: count(
            pool,
            "SELECT COUNT(*) FROM dead_letter_jobs WHERE reviewed = 0",
            &[],
        )
        .await?,
        completed_last_hour: count(
            pool,
            "SELECT COUNT(*) FROM jobs WHERE status = 'completed' AND finished_at >= ?",
            &[now - HOUR],
        )
        .await?,
        failed_last_hour: count(
            pool,
            "SELECT COUNT(*) FROM job_attempts WHERE finished_at >= ? AND outcome != 'completed'",
            &[now - HOUR],
        )
        .await?,
        oldest_pending_age: None,
        by_type: Vec::new(),
    };
    let oldest: Option<i64> =
        sqlx::query_scalar("SELECT MIN(run_at) FROM jobs WHERE status = 'pending' AND run_at <= ?")
            .bind(now)
            .fetch_one(pool)
            .await
            .map_err(db("finding the oldest pending job"))?;
    stats.oldest_pending_age = oldest.map(|t| now - t);
    let by_type = sqlx::query(
        "SELECT job_type, SUM(pending) AS pending, SUM(running) AS running, \
         SUM(completed) AS completed, SUM(dead) AS dead FROM ( \
           SELECT job_type, status = 'pending' AS pending, status = 'running' AS running, \
                  status = 'completed' AS completed, 0 AS dead FROM jobs \
           UNION ALL SELECT job_type, 0, 0, 0, 1 FROM dead_letter_jobs) \
         GROUP BY job_type ORDER BY job_type",
    )
    .fetch_all(pool)
    .await
    .map_err(db("counting jobs by type"))?;
    for row in &by_type {
        let get = |c: &str| -> Result<u64> {
            Ok(row
                .try_get::<i64, _>(c)
                .map_err(db("counting jobs by type"))? as u64)
        };
        stats.by_type.push(TypeCounts {
            job_type: row
                .try_get("job_type")
                .map_err(db("counting jobs by type"))?,
            pending: get("pending")?,
            running: get("running")?,
            completed: get("completed")?,
            dead: get("dead")?,
        });
    }
    Ok(stats)
}
