//! Workflows: jobs that wait on other jobs (`enqueue --after`), and the links
//! `jobs show` draws. Nothing here runs for a job that has no dependencies and no
//! dependents: enqueue sends such jobs down the plain insert, and settle calls
//! [`propagate`] only for jobs whose `has_dependents` is set.
//!
//! A waiting job's rows in `job_dependencies` say, per job it waits on, whether that
//! one is still `waiting`, `done` or `failed`; its status follows from them ([`recompute`]):
//! `blocked` if any failed, else `waiting` if any is still waiting, else `pending`.

use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool};

use super::batch::CHUNK;
use super::jobs::insert_jobs;
use crate::Result;
use crate::error::{StoreError, db};
use crate::model::*;

/// A chain of replays longer than this is taken as a loop in the data.
const MAX_REPLAY_HOPS: usize = 64;

/// Statuses of a job that has not ended: a job after it must wait.
const LIVE: &str = "('pending', 'running', 'waiting', 'blocked')";

/// Inserts jobs that wait on others, one at a time and in order, so a job may wait on
/// one inserted before it in the same batch. With `strict`, naming a job that does not
/// exist is an error (the CLI); without it (follow-ups, which must not fail a
/// settlement) such a dependency counts as failed and the job is blocked.
pub async fn insert_after(
    conn: &mut SqliteConnection,
    jobs: &[&NewJob],
    strict: bool,
) -> Result<()> {
    for job in jobs {
        insert_jobs(conn, &[job]).await?;
        let mut edges: Vec<(String, DependencyState)> = Vec::new();
        for wanted in &job.after {
            let Some(edge) = resolve(conn, wanted).await? else {
                if strict {
                    return Err(StoreError::NotFound {
                        what: "job to wait on",
                        id: wanted.clone(),
                    });
                }
                edges.push((wanted.clone(), DependencyState::Failed));
                continue;
            };
            if !edges.iter().any(|(id, _)| *id == edge.0) {
                edges.push(edge);
            }
        }
        for (depends_on, state) in &edges {
            sqlx::query(
                "INSERT INTO job_dependencies (job_id, depends_on, state) VALUES (?, ?, ?)",
            )
            .bind(&job.id)
            .bind(depends_on)
            .bind(state.as_str())
            .execute(&mut *conn)
            .await
            .map_err(db("recording what a job waits on"))?;
        }
        sqlx::query(
            "UPDATE jobs SET status = CASE \
               WHEN EXISTS (SELECT 1 FROM job_dependencies d WHERE d.job_id = jobs.id \
                            AND d.state = 'failed') THEN 'blocked' \
               WHEN EXISTS (SELECT 1 FROM job_dependencies d WHERE d.job_id = jobs.id \
                            AND d.state = 'waiting') THEN 'waiting' \
               ELSE 'pending' END WHERE id = ?",
        )
        .bind(&job.id)
        .execute(&mut *conn)
        .await
        .map_err(db("setting a new job's status from what it waits on"))?;
    }
    Ok(())
}

/// Which job a dependency on `id` is really on, and where it stands: a live job is
/// marked as having dependents; a dead letter that was replayed stands for its
/// replacement. `None` when no such job exists.
async fn resolve(
    conn: &mut SqliteConnection,
    id: &str,
) -> Result<Option<(String, DependencyState)>> {
    let mut id = id.to_string();
    for _ in 0..MAX_REPLAY_HOPS {
        let marked = sqlx::query(&format!(
            "UPDATE jobs SET has_dependents = 1 WHERE id = ? AND status IN {LIVE} RETURNING id"
        ))
        .bind(&id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db("marking a job as waited on"))?;
        if marked.is_some() {
            return Ok(Some((id, DependencyState::Waiting)));
        }
        let status: Option<String> = sqlx::query_scalar("SELECT status FROM jobs WHERE id = ?")
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
            sqlx::query_scalar("SELECT replayed_job_id FROM dead_letter_jobs WHERE id = ?")
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
pub async fn propagate(conn: &mut SqliteConnection, ids: &[&str]) -> Result<usize> {
    let mut touched: Vec<String> = Vec::new();
    for chunk in ids.chunks(CHUNK) {
        let mut done = QueryBuilder::<Sqlite>::new(
            "UPDATE job_dependencies SET state = 'done' WHERE state = 'waiting' \
             AND depends_on IN (SELECT id FROM jobs WHERE status = 'completed' AND id IN (",
        );
        push_ids(&mut done, chunk);
        done.push(")) RETURNING job_id");
        touched.extend(job_ids(
            done.build().fetch_all(&mut *conn).await,
            "counting jobs done",
        )?);

        let mut failed = QueryBuilder::<Sqlite>::new(
            "UPDATE job_dependencies SET state = 'failed' WHERE state = 'waiting' \
             AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = job_dependencies.depends_on \
                             AND j.status <> 'cancelled') \
             AND depends_on IN (",
        );
        push_ids(&mut failed, chunk);
        failed.push(") RETURNING job_id");
        touched.extend(job_ids(
            failed.build().fetch_all(&mut *conn).await,
            "counting jobs failed",
        )?);
    }
    touched.sort();
    touched.dedup();
    recompute(conn, &touched).await
}

/// Sets each waiting or blocked job's status from its dependency rows; returns how
/// many became pending.
async fn recompute(conn: &mut SqliteConnection, ids: &[String]) -> Result<usize> {
    let mut released = 0;
    for chunk in ids.chunks(CHUNK) {
        let mut query = QueryBuilder::<Sqlite>::new(
            "UPDATE jobs SET status = CASE \
               WHEN EXISTS (SELECT 1 FROM job_dependencies d WHERE d.job_id = jobs.id \
                            AND d.state = 'failed') THEN 'blocked' \
               WHEN EXISTS (SELECT 1 FROM job_dependencies d WHERE d.job_id = jobs.id \
                            AND d.state = 'waiting') THEN 'waiting' \
               ELSE 'pending' END \
             WHERE status IN ('waiting', 'blocked') AND id IN (",
        );
        push_ids(&mut query, chunk);
        query.push(") RETURNING status");
        let rows = query
            .build()
            .fetch_all(&mut *conn)
            .await
            .map_err(db("releasing waiting jobs"))?;
        for row in &rows {
            let status: String = row.try_get(0).map_err(db("releasing waiting jobs"))?;
            released += usize::from(status == "pending");
        }
    }
    Ok(released)
}

/// A replay of the dead job `dead_id` as `new_id`: the jobs that waited on the dead one
/// wait on the new one instead, and are no longer blocked by it.
pub async fn repoint(conn: &mut SqliteConnection, dead_id: &str, new_id: &str) -> Result<()> {
    let rows = sqlx::query(
        "UPDATE job_dependencies SET depends_on = ?, state = 'waiting' WHERE depends_on = ? \
         RETURNING job_id",
    )
    .bind(new_id)
    .bind(dead_id)
    .fetch_all(&mut *conn)
    .await;
    let waiters = job_ids(rows, "pointing waiters at a replayed job")?;
    if waiters.is_empty() {
        return Ok(());
    }
    sqlx::query("UPDATE jobs SET has_dependents = 1 WHERE id = ?")
        .bind(new_id)
        .execute(&mut *conn)
        .await
        .map_err(db("marking a replayed job as waited on"))?;
    recompute(conn, &waiters).await?;
    Ok(())
}

/// Forgets what purged jobs waited on.
pub async fn forget(conn: &mut SqliteConnection, ids: &[String]) -> Result<()> {
    for chunk in ids.chunks(CHUNK) {
        let mut query =
            QueryBuilder::<Sqlite>::new("DELETE FROM job_dependencies WHERE job_id IN (");
        let mut list = query.separated(", ");
        for id in chunk {
            list.push_bind(id);
        }
        query.push(")");
        query
            .build()
            .execute(&mut *conn)
            .await
            .map_err(db("forgetting the dependencies of purged jobs"))?;
    }
    Ok(())
}

fn push_ids<'a, S: AsRef<str>>(query: &mut QueryBuilder<'a, Sqlite>, ids: &'a [S]) {
    let mut list = query.separated(", ");
    for id in ids {
        list.push_bind(id.as_ref());
    }
}

fn job_ids(
    rows: std::result::Result<Vec<sqlx::sqlite::SqliteRow>, sqlx::Error>,
    context: &'static str,
) -> Result<Vec<String>> {
    rows.map_err(db(context))?
        .iter()
        .map(|row| row.try_get("job_id").map_err(db(context)))
        .collect()
}

// A job named by a link: live, dead (`dead`) or gone (empty strings).
const REF_COLUMNS: &str = "COALESCE(j.job_type, dl.job_type, '') AS job_type, \
    COALESCE(j.status, CASE WHEN dl.id IS NOT NULL THEN 'dead' END, '') AS status";

pub async fn job_links(pool: &SqlitePool, id: &str) -> Result<JobLinks> {
    let parent_id: Option<Option<String>> = sqlx::query_scalar(
        "SELECT parent_id FROM jobs WHERE id = ?1 \
         UNION ALL SELECT parent_id FROM dead_letter_jobs WHERE id = ?1",
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
        "SELECT id, job_type, status, created_at FROM jobs WHERE parent_id = ?1 \
         UNION ALL SELECT id, job_type, 'dead', created_at FROM dead_letter_jobs \
         WHERE parent_id = ?1 ORDER BY created_at, id",
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

async fn job_ref(pool: &SqlitePool, id: &str) -> Result<JobRef> {
    let row = sqlx::query(&format!(
        "SELECT {REF_COLUMNS} FROM (SELECT ?1 AS id) x \
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
    pool: &SqlitePool,
    id: &str,
    this: &str,
    other: &str,
) -> Result<Vec<DependencyLink>> {
    let rows = sqlx::query(&format!(
        "SELECT d.{other} AS other, d.state, {REF_COLUMNS} FROM job_dependencies d \
         LEFT JOIN jobs j ON j.id = d.{other} LEFT JOIN dead_letter_jobs dl ON dl.id = d.{other} \
         WHERE d.{this} = ? ORDER BY d.{other}"
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
