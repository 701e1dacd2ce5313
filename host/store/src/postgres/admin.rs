//! What an operator reads and does: jobs and their attempts, the dead-letter table,
//! and replaying a dead letter. None of it is on the job hot path.

use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};

use super::NOTIFY_SQL;
use super::operations::{push_after, push_dead_filter};
use super::rows::{self, ATTEMPT_COLUMNS, DEAD_COLUMNS, JOB_COLUMNS, int};
use crate::Result;
use crate::error::{StoreError, db};
use crate::model::*;

/// How many rows a list returns when its filter says 0.
const DEFAULT_LIMIT: u32 = 100;

pub(super) fn limit(requested: u32) -> i64 {
    if requested == 0 {
        DEFAULT_LIMIT
    } else {
        requested
    }
    .into()
}

pub async fn get_job(pool: &PgPool, id: &str) -> Result<Option<Job>> {
    let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1");
    let row = sqlx::query(&sql)
        .bind(id)
        .fetch_optional(pool)
        .await
        .map_err(db("reading a job"))?;
    row.as_ref().map(rows::job).transpose()
}

pub async fn list_jobs(pool: &PgPool, filter: &JobFilter) -> Result<Vec<Job>> {
    let mut query =
        QueryBuilder::<Postgres>::new(format!("SELECT {JOB_COLUMNS} FROM jobs WHERE TRUE"));
    if let Some(status) = filter.status {
        query.push(" AND status = ").push_bind(status.as_str());
    }
    if let Some(job_type) = &filter.job_type {
        query.push(" AND job_type = ").push_bind(job_type);
    }
    if let Some(queue) = &filter.queue {
        query.push(" AND queue = ").push_bind(queue);
    }
    query
        .push(" ORDER BY created_at DESC, id DESC LIMIT ")
        .push_bind(limit(filter.limit));
    let found = query
        .build()
        .fetch_all(pool)
        .await
        .map_err(db("listing jobs"))?;
    found.iter().map(rows::job).collect()
}

/// The attempts with rows, and the completing one rebuilt from the job row (settle writes
/// no row for it): its fuel is what the job burnt beyond the recorded attempts.
pub async fn job_attempts(pool: &PgPool, job_id: &str) -> Result<Vec<AttemptRecord>> {
    let sql = format!(
        "SELECT {ATTEMPT_COLUMNS} FROM job_attempts WHERE job_id = $1 \
         UNION ALL \
         SELECT id, attempt, completed_by, started_at, finished_at, 'completed', NULL, \
                fuel_used - (SELECT COALESCE(SUM(fuel_used), 0) FROM job_attempts \
                             WHERE job_id = $1)::int8, plugin_digest \
         FROM jobs WHERE id = $1 AND status = 'completed' AND completed_by IS NOT NULL \
         ORDER BY started_at, attempt"
    );
    let found = sqlx::query(&sql)
        .bind(job_id)
        .fetch_all(pool)
        .await
        .map_err(db("reading attempts"))?;
    found.iter().map(rows::attempt).collect()
}

pub async fn get_dead(pool: &PgPool, id: &str) -> Result<Option<DeadJob>> {
    let sql = format!("SELECT {DEAD_COLUMNS} FROM dead_letter_jobs WHERE id = $1");
    let row = sqlx::query(&sql)
        .bind(id)
        .fetch_optional(pool)
        .await
        .map_err(db("reading a dead letter"))?;
    row.as_ref().map(rows::dead).transpose()
}

pub async fn list_dead(pool: &PgPool, filter: &DeadFilter) -> Result<Vec<DeadJob>> {
    let mut query = QueryBuilder::<Postgres>::new(format!(
        "SELECT {DEAD_COLUMNS} FROM dead_letter_jobs WHERE TRUE"
    ));
    push_dead_filter(&mut query, filter);
    push_after(&mut query, filter);
    query
        .push(" ORDER BY failed_at DESC, id DESC LIMIT ")
        .push_bind(limit(filter.limit));
    let found = query
        .build()
        .fetch_all(pool)
        .await
        .map_err(db("listing dead letters"))?;
    found.iter().map(rows::dead).collect()
}

/// In the caller's transaction: the new job, the row pointing at it, and a wake-up
/// for the daemons, all or nothing.
pub async fn replay_dead(conn: &mut PgConnection, params: &ReplayParams) -> Result<()> {
    let inserted = sqlx::query(
        "INSERT INTO jobs (id, job_type, queue, payload, priority, status, attempt, \
         max_attempts, run_at, created_at, parent_id) \
         SELECT $1, job_type, COALESCE($2, queue), payload, COALESCE($3, priority), 'pending', \
         CASE WHEN $7 THEN attempts ELSE 0 END, COALESCE($4, max_attempts), $5, $5, parent_id \
         FROM dead_letter_jobs WHERE id = $6",
    )
    .bind(&params.new_job_id)
    .bind(&params.queue)
    .bind(params.priority)
    .bind(params.max_attempts.map(int))
    .bind(params.now)
    .bind(&params.dead_id)
    .bind(params.keep_attempts)
    .execute(&mut *conn)
    .await
    .map_err(db("replaying a dead letter"))?;
    if inserted.rows_affected() == 0 {
        return Err(StoreError::NotFound {
            what: "dead-lettered job",
            id: params.dead_id.clone(),
        });
    }
    sqlx::query(
        "UPDATE dead_letter_jobs SET resurrection_count = resurrection_count + 1, \
         replayed_job_id = $1 WHERE id = $2",
    )
    .bind(&params.new_job_id)
    .bind(&params.dead_id)
    .execute(&mut *conn)
    .await
    .map_err(db("marking a dead letter replayed"))?;
    super::flow::repoint(conn, &params.dead_id, &params.new_job_id).await?;
    sqlx::query(NOTIFY_SQL)
        .execute(&mut *conn)
        .await
        .map_err(db("notifying daemons of a replayed job"))?;
    Ok(())
}
