//! The counts behind `jobhost stats`: one statement for the totals, one for the counts
//! by job type.

use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};

use crate::Result;
use crate::error::db;
use crate::model::*;

const HOUR: Micros = 3_600_000_000;

const TOTALS_SQL: &str = "SELECT \
    (SELECT COUNT(*) FROM jobs WHERE status = 'pending' AND run_at <= $1) AS pending, \
    (SELECT COUNT(*) FROM jobs WHERE status = 'pending' AND run_at > $1) AS scheduled, \
    (SELECT COUNT(*) FROM jobs WHERE status = 'running') AS running, \
    (SELECT COUNT(*) FROM jobs WHERE status = 'completed') AS completed, \
    (SELECT COUNT(*) FROM jobs WHERE status = 'cancelled') AS cancelled, \
    (SELECT COUNT(*) FROM jobs WHERE status = 'waiting') AS waiting, \
    (SELECT COUNT(*) FROM jobs WHERE status = 'blocked') AS blocked, \
    (SELECT COUNT(*) FROM dead_letter_jobs) AS dead, \
    (SELECT COUNT(*) FROM dead_letter_jobs WHERE NOT reviewed) AS dead_unreviewed, \
    (SELECT COUNT(*) FROM jobs WHERE status = 'completed' AND finished_at >= $2) \
      AS completed_last_hour, \
    (SELECT COUNT(*) FROM job_attempts WHERE finished_at >= $2 AND outcome <> 'completed') \
      AS failed_last_hour, \
    (SELECT MIN(run_at) FROM jobs WHERE status = 'pending' AND run_at <= $1) AS oldest_due";

const BY_TYPE_SQL: &str = "SELECT job_type, \
    COUNT(*) FILTER (WHERE status = 'pending') AS pending, \
    COUNT(*) FILTER (WHERE status = 'running') AS running, \
    COUNT(*) FILTER (WHERE status = 'completed') AS completed, \
    COUNT(*) FILTER (WHERE status = 'dead') AS dead \
    FROM (SELECT job_type, status FROM jobs \
          UNION ALL SELECT job_type, 'dead' FROM dead_letter_jobs) AS all_jobs \
    GROUP BY job_type ORDER BY job_type";

fn count(row: &PgRow, column: &str, context: &'static str) -> Result<u64> {
    Ok(row.try_get::<i64, _>(column).map_err(db(context))?.max(0) as u64)
}

pub async fn stats(pool: &PgPool, now: Micros) -> Result<Stats> {
    let totals = sqlx::query(TOTALS_SQL)
        .bind(now)
        .bind(now - HOUR)
        .fetch_one(pool)
        .await
        .map_err(db("counting for stats"))?;
    let c = |column| count(&totals, column, "counting for stats");
    let oldest: Option<i64> = totals
        .try_get("oldest_due")
        .map_err(db("finding the oldest pending job"))?;
    let mut stats = Stats {
        pending: c("pending")?,
        scheduled: c("scheduled")?,
        running: c("running")?,
        completed: c("completed")?,
        cancelled: c("cancelled")?,
        waiting: c("waiting")?,
        blocked: c("blocked")?,
        dead: c("dead")?,
        dead_unreviewed: c("dead_unreviewed")?,
        completed_last_hour: c("completed_last_hour")?,
        failed_last_hour: c("failed_last_hour")?,
        oldest_pending_age: oldest.map(|t| now - t),
        by_type: Vec::new(),
    };
    let by_type = sqlx::query(BY_TYPE_SQL)
        .fetch_all(pool)
        .await
        .map_err(db("counting jobs by type"))?;
    for row in &by_type {
        let c = |column| count(row, column, "counting jobs by type");
        stats.by_type.push(TypeCounts {
            job_type: row
                .try_get("job_type")
                .map_err(db("counting jobs by type"))?,
            pending: c("pending")?,
            running: c("running")?,
            completed: c("completed")?,
            dead: c("dead")?,
        });
    }
    Ok(stats)
}
