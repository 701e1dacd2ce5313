//! Workflows: jobs that wait on other jobs (`enqueue --after`), and the links
//! `jobs show` draws. Nothing here runs for a job that has no dependencies and no
//! dependents: enqueue sends such jobs down the plain insert, and settle calls
//! [`propagate`] only for jobs whose `has_dependents` is set.
//!
//! Races between daemons: marking a job waited on is an `UPDATE` of its row, and a
//! settlement locks the rows it settles (`FOR UPDATE`) before it reads
//! `has_dependents`, so one of the two waits for the other. Either the settlement sees
//! the mark and moves the new waiter on, or the enqueue, after the settlement
//! committed, finds the job ended and records it as done (or failed).

use sqlx::{PgConnection, PgPool, Row};

use super::jobs::insert_jobs;
use crate::Result;
use crate::error::{StoreError, db};
use crate::model::*;

/// A chain of replays longer than this is taken as a loop in the data.
const MAX_REPLAY_HOPS: usize = 64;

/// A waiting or blocked job's status from its dependency rows.
const STATUS_FROM_ROWS: &str = "CASE \
    WHEN EXISTS (SELECT 1 FROM job_dependencies d WHERE d.job_id = jobs.id \
                 AND d.state = 'failed') THEN 'blocked' \
    WHEN EXISTS (SELECT 1 FROM job_dependencies d WHERE d.job_id = jobs.id \
                 AND d.state = 'waiting') THEN 'waiting' \
    ELSE 'pending' END";

/// Inserts jobs that wait on others, one at a time and in order, so a job may wait on
/// one inserted before it in the same batch. With `strict`, naming a job that does not
/// exist is an error (the CLI); without it (follow-ups, which must not fail a
/// settlement) such a dependency counts as failed and the job is blocked. Returns how
/// many of them are pending (all they waited on had completed).
pub async fn insert_after(
    conn: &mut PgConnection,
    jobs: &[&NewJob],
    strict: bool,
) -> Result<usize> {
    let mut pending = 0;
    for job in jobs {
        insert_jobs(conn, &[job], false).await?;
        let mut targets: Vec<&str> = job.after.iter().map(String::as_str).collect();
        // Locking in id order, as settlements do, keeps two of them from deadlocking.
        targets.sort_unstable();
        targets.dedup();
        let mut edges: Vec<(String, DependencyState)> = Vec::new();
        for wanted in targets {
            let edge = match resolve(conn, wanted).await? {
                Some(edge) => edge,
                None if strict => {
                    return Err(StoreError::NotFound {
                        what: "job to wait on",
                        id: wanted.to_string(),
                    });
                }
                None => (wanted.to_string(), DependencyState::Failed),
            };
            if !edges.iter().any(|(id, _)| *id == edge.0) {
                edges.push(edge);
            }
        }
        sqlx::query(
            "INSERT INTO job_dependencies (job_id, depends_on, state) \
             SELECT $1, * FROM UNNEST($2::text[], $3::text[])",
        )
        .bind(&job.id)
        .bind(edges.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>())
        .bind(edges.iter().map(|(_, s)| s.as_str()).collect::<Vec<_>>())
        .execute(&mut *conn)
        .await
        .map_err(db("recording what a job waits on"))?;
        let status: String = sqlx::query_scalar(&format!(
            "UPDATE jobs SET status = {STATUS_FROM_ROWS} WHERE id = $1 RETURNING status"
        ))
        .bind(&job.id)
        .fetch_one(&mut *conn)
        .await
        .map_err(db("setting a new job's status from what it waits on"))?;
        pending += usize::from(status == "pending");
    }
    Ok(pending)
}

/// Which job a dependency on `id` is really on, and where it stands: a live job is
/// marked as having dependents; a dead letter that was replayed stands for its
/// replacement. `None` when no such job exists.
async fn resolve(conn: &mut PgConnection, id: &str) -> Result<Option<(String, DependencyState)>> {
    let mut id = id.to_string();
    for _ in 0..MAX_REPLAY_HOPS {
        let marked = sqlx::query(
            "UPDATE jobs SET has_dependents = TRUE WHERE id = $1 \
             AND status IN ('pending', 'running', 'waiting', 'blocked') RETURNING id",
        )
        .bind(&id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db("marking a job as waited on"))?;
        if marked.is_some() {
            return Ok(Some((id, DependencyState::Waiting)));
        }
        let status: Option<String> = sqlx::query_scalar("SELECT status FROM jobs WHERE id = $1")
            .bind(&id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db("reading a job's status"))?;
        match status.as_deref() {
            Some("completed") => return Ok(Some((id, DependencyState::Done))),
            Some(_) => return Ok(Some((id, DependencyState::Failed))),
            None => {}
        }
        let dead: Option<Option<String>> =
            sqlx::query_scalar("SELECT replayed_job_id FROM dead_letter_jobs WHERE id = $1")
                .bind(&id)
                .fetch_optional(&mut *conn)
                .await
                .map_err(db("reading a dead letter"))?;
        match dead {
            None => return Ok(None),
            Some(None) => return Ok(Some((id, DependencyState::Failed))),
            Some(Some(replacement)) => id = replacement,
        }
    }
    Ok(Some((id, DependencyState::Failed)))
}

/// Moves the waiters of jobs that just changed state: the waiters of a completed job
/// count it done (and run once nothing else holds them); the waiters of a job that was
/// dead-lettered or cancelled count it failed (and are blocked). Returns how many
/// waiting jobs became pending.
pub async fn propagate(conn: &mut PgConnection, ids: &[&str]) -> Result<usize> {
    if ids.is_empty() {
        return Ok(0);
    }
    let touched: Vec<String> = sqlx::query_scalar(
        "WITH done AS ( \
           UPDATE job_dependencies SET state = 'done' WHERE state = 'waiting' \
           AND depends_on IN (SELECT id FROM jobs WHERE status = 'completed' \
                              AND id = ANY($1::text[])) RETURNING job_id), \
         failed AS ( \
           UPDATE job_dependencies SET state = 'failed' WHERE state = 'waiting' \
           AND depends_on = ANY($1::text[]) \
           AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = job_dependencies.depends_on \
                           AND j.status <> 'cancelled') RETURNING job_id) \
         SELECT job_id FROM done UNION SELECT job_id FROM failed",
    )
    .bind(ids)
    .fetch_all(&mut *conn)
    .await
    .map_err(db("moving the waiters of finished jobs"))?;
    recompute(conn, &touched).await
}

/// Sets each waiting or blocked job's status from its dependency rows; returns how
/// many became pending.
async fn recompute(conn: &mut PgConnection, ids: &[String]) -> Result<usize> {
    if ids.is_empty() {
        return Ok(0);
    }
    let statuses: Vec<String> = sqlx::query_scalar(&format!(
        "UPDATE jobs SET status = {STATUS_FROM_ROWS} \
         WHERE status IN ('waiting', 'blocked') AND id = ANY($1::text[]) RETURNING status"
    ))
    .bind(ids)
    .fetch_all(&mut *conn)
    .await
    .map_err(db("releasing waiting jobs"))?;
    Ok(statuses.iter().filter(|s| *s == "pending").count())
}

/// A replay of the dead job `dead_id` as `new_id`: the jobs that waited on the dead one
/// wait on the new one instead, and are no longer blocked by it.
pub async fn repoint(conn: &mut PgConnection, dead_id: &str, new_id: &str) -> Result<()> {
    let waiters: Vec<String> = sqlx::query_scalar(
        "UPDATE job_dependencies SET depends_on = $1, state = 'waiting' WHERE depends_on = $2 \
         RETURNING job_id",
    )
    .bind(new_id)
    .bind(dead_id)
    .fetch_all(&mut *conn)
    .await
    .map_err(db("pointing waiters at a replayed job"))?;
    if waiters.is_empty() {
        return Ok(());
    }
    sqlx::query("UPDATE jobs SET has_dependents = TRUE WHERE id = $1")
        .bind(new_id)
        .execute(&mut *conn)
        .await
        .map_err(db("marking a replayed job as waited on"))?;
    recompute(conn, &waiters).await?;
    Ok(())
}

// A job named by a link: live, dead (`dead`) or gone (empty strings).
const REF_COLUMNS: &str = "COALESCE(j.job_type, dl.job_type, '') AS job_type, \
    COALESCE(j.status, CASE WHEN dl.id IS NOT NULL THEN 'dead' END, '') AS status";

pub async fn job_links(pool: &PgPool, id: &str) -> Result<JobLinks> {
    let parent_id: Option<Option<String>> = sqlx::query_scalar(
        "SELECT parent_id FROM jobs WHERE id = $1 \
         UNION ALL SELECT parent_id FROM dead_letter_jobs WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await
    .map_err(db("reading a job's parent"))?;
    let mut links = JobLinks::default();
    if let Some(parent) = parent_id.flatten() {
        links.parent = Some(job_ref(pool, &parent).await?);
    }
    let children = sqlx::query(
        "SELECT id, job_type, status, created_at FROM jobs WHERE parent_id = $1 \
         UNION ALL SELECT id, job_type, 'dead', created_at FROM dead_letter_jobs \
         WHERE parent_id = $1 ORDER BY created_at, id",
    )
    .bind(id)
    .fetch_all(pool)
    .await
    .map_err(db("reading a job's children"))?;
    for row in &children {
        links.children.push(JobRef {
            id: row.try_get("id").map_err(db("reading a child"))?,
            job_type: row.try_get("job_type").map_err(db("reading a child"))?,
            status: row.try_get("status").map_err(db("reading a child"))?,
        });
    }
    links.waits_on = dependency_links(pool, id, "job_id", "depends_on").await?;
    links.waited_on_by = dependency_links(pool, id, "depends_on", "job_id").await?;
    Ok(links)
}

async fn job_ref(pool: &PgPool, id: &str) -> Result<JobRef> {
    let row = sqlx::query(&format!(
        "SELECT {REF_COLUMNS} FROM (SELECT $1::text AS id) x \
         LEFT JOIN jobs j ON j.id = x.id LEFT JOIN dead_letter_jobs dl ON dl.id = x.id"
    ))
    .bind(id)
    .fetch_one(pool)
    .await
    .map_err(db("reading a linked job"))?;
    Ok(JobRef {
        id: id.to_string(),
        job_type: row
            .try_get("job_type")
            .map_err(db("reading a linked job"))?,
        status: row.try_get("status").map_err(db("reading a linked job"))?,
    })
}

/// The dependency rows whose `this` column is `id`, with the job at `other`.
async fn dependency_links(
    pool: &PgPool,
    id: &str,
    this: &str,
    other: &str,
) -> Result<Vec<DependencyLink>> {
    let rows = sqlx::query(&format!(
        "SELECT d.{other} AS other, d.state, {REF_COLUMNS} FROM job_dependencies d \
         LEFT JOIN jobs j ON j.id = d.{other} LEFT JOIN dead_letter_jobs dl ON dl.id = d.{other} \
         WHERE d.{this} = $1 ORDER BY d.{other}"
    ))
    .bind(id)
    .fetch_all(pool)
    .await
    .map_err(db("reading a job's dependencies"))?;
    rows.iter()
        .map(|row| {
            let state: String = row.try_get("state").map_err(db("reading a dependency"))?;
            Ok(DependencyLink {
                job: JobRef {
                    id: row.try_get("other").map_err(db("reading a dependency"))?,
                    job_type: row
                        .try_get("job_type")
                        .map_err(db("reading a dependency"))?,
                    status: row.try_get("status").map_err(db("reading a dependency"))?,
                },
                state: DependencyState::parse(&state).ok_or_else(|| StoreError::Corrupt {
                    table: "job_dependencies",
                    reason: format!("unknown state {state:?}"),
                })?,
            })
        })
        .collect()
}
