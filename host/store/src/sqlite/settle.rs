//! Settling finished attempts. A batch costs a handful of statements whatever its
//! size: completions are checked and applied in one; for the other outcomes one query
//! finds the entries whose job is still theirs, and one statement per kind applies them;
//! multi-row INSERTs add the attempt rows and follow-ups. A completed attempt gets no
//! `job_attempts` row: the job row keeps its facts (see `admin::job_attempts`), which
//! spares the busiest path an insert and two index updates.

use std::collections::{HashMap, HashSet};

use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};

use super::batch::{CHUNK, for_chunks, for_ids};
use super::jobs::insert_jobs;
use super::{flow, kv};
use crate::Result;
use crate::error::db;
use crate::model::*;
use crate::settling::{Others, followups, split_completions};

pub async fn settle(conn: &mut SqliteConnection, batch: &[Settlement]) -> Result<SettleReport> {
    let (completions, others) = split_completions(batch);
    let (completed, mut waited_on) = complete(conn, &completions).await?;
    let (others, others_waited_on) = still_held(conn, &others).await?;
    waited_on.extend(others_waited_on);
    let sorted = Others::sort(&others);
    kv::apply(conn, &completed).await?;
    retry(conn, &sorted.retried).await?;
    dead_letter(conn, &sorted.dead).await?;
    release(conn, &sorted.released).await?;
    cancel(conn, &sorted.cancelled).await?;
    insert_attempts(conn, &sorted.attempts).await?;
    let (plain, after) = followups(&completed);
    insert_jobs(conn, &plain).await?;
    flow::insert_after(conn, &after, false).await?;
    let released = flow::propagate(conn, &waited_on).await?;
    let applied = completed.len() + others.len();
    Ok(SettleReport {
        applied,
        stale: batch.len() - applied,
        released,
    })
}

/// The entries (other than completions) whose job is still running, locked by their
/// worker, at their attempt. The rest were overtaken (rescued, maybe claimed again) and change nothing. Also the
/// ids of those jobs that other jobs wait on (`has_dependents`), whose waiters the
/// settlement moves on; for most batches there are none.
async fn still_held<'a>(
    conn: &mut SqliteConnection,
    batch: &[&'a Settlement],
) -> Result<(Vec<&'a Settlement>, Vec<&'a str>)> {
    let mut held = vec![false; batch.len()];
    let mut waited_on = vec![false; batch.len()];
    for (c, chunk) in batch.chunks(CHUNK).enumerate() {
        let mut select =
            QueryBuilder::<Sqlite>::new("WITH s (n, job_id, worker_id, attempt_no) AS (");
        select.push_values(chunk.iter().enumerate(), |mut row, (i, s)| {
            row.push_bind((c * CHUNK + i) as i64)
                .push_bind(&s.record.job_id)
                .push_bind(&s.record.worker_id)
                .push_bind(i64::from(s.record.attempt));
        });
        select.push(
            ") SELECT s.n, jobs.has_dependents FROM s JOIN jobs ON jobs.id = s.job_id \
             WHERE jobs.status = 'running' \
             AND jobs.locked_by = s.worker_id AND jobs.attempt = s.attempt_no",
        );
        let found = select
            .build()
            .fetch_all(&mut *conn)
            .await
            .map_err(db("checking which settlements still hold their job"))?;
        for row in &found {
            let n: i64 = row.try_get(0).map_err(db("checking settlements"))?;
            let dependents: bool = row.try_get(1).map_err(db("checking settlements"))?;
            held[n as usize] = true;
            waited_on[n as usize] = dependents;
        }
    }
    // Two entries for one attempt: the first settles it, the others find it settled.
    let mut seen = HashSet::new();
    let mut live = Vec::new();
    let mut watched = Vec::new();
    for ((&s, held), waited_on) in batch.iter().zip(held).zip(waited_on) {
        if held && seen.insert(s.record.job_id.as_str()) {
            live.push(s);
            if waited_on {
                watched.push(s.record.job_id.as_str());
            }
        }
    }
    Ok((live, watched))
}

/// Completes the jobs still running under their attempt, each checked in the statement
/// that completes it (no query before it), and returns the completions that applied,
/// and the ids of those of their jobs that other jobs wait on.
async fn complete<'a>(
    conn: &mut SqliteConnection,
    completed: &[&'a Settlement],
) -> Result<(Vec<&'a Settlement>, Vec<&'a str>)> {
    let mut done = Vec::with_capacity(completed.len());
    let mut waited_on = Vec::new();
    for chunk in completed.chunks(CHUNK) {
        let mut update = QueryBuilder::<Sqlite>::new(
            "WITH s (job_id, output, began_at, done_at, fuel, digest, worker, attempt_no) AS (",
        );
        update.push_values(chunk, |mut row, s| {
            let SettleAction::Complete { result, .. } = &s.action else {
                unreachable!("only completions come here")
            };
            let r = &s.record;
            row.push_bind(&r.job_id)
                .push_bind(result)
                .push_bind(r.started_at)
                .push_bind(r.finished_at)
                .push_bind(r.fuel_used as i64)
                .push_bind(&r.plugin_digest)
                .push_bind(&r.worker_id)
                .push_bind(i64::from(r.attempt));
        });
        // RETURNING may name only the updated table's columns in SQLite.
        update.push(
            ") UPDATE jobs SET status = 'completed', result = s.output, started_at = s.began_at, \
             finished_at = s.done_at, fuel_used = jobs.fuel_used + s.fuel, \
             plugin_digest = s.digest, completed_by = s.worker, locked_by = NULL \
             FROM s WHERE jobs.id = s.job_id AND jobs.status = 'running' \
             AND jobs.locked_by = s.worker AND jobs.attempt = s.attempt_no \
             RETURNING jobs.id, jobs.has_dependents",
        );
        let applied = update
            .build()
            .fetch_all(&mut *conn)
            .await
            .map_err(db("completing jobs"))?;
        let by_id: HashMap<&str, &'a Settlement> = chunk
            .iter()
            .rev()
            .map(|&s| (s.record.job_id.as_str(), s))
            .collect();
        for row in &applied {
            let id: &str = row.try_get(0).map_err(db("completing jobs"))?;
            let dependents: bool = row.try_get(1).map_err(db("completing jobs"))?;
            let Some(&s) = by_id.get(id) else { continue };
            done.push(s);
            if dependents {
                waited_on.push(s.record.job_id.as_str());
            }
        }
    }
    Ok((done, waited_on))
}

async fn retry(conn: &mut SqliteConnection, retried: &[&Settlement]) -> Result<()> {
    for_chunks(
        conn,
        "scheduling retries",
        retried,
        "WITH s (job_id, error, retry_at, fuel, digest) AS (",
        ") UPDATE jobs SET status = CASE WHEN jobs.cancel_requested <> 0 THEN 'cancelled' \
         ELSE 'pending' END, run_at = s.retry_at, last_error = s.error, \
         fuel_used = jobs.fuel_used + s.fuel, plugin_digest = s.digest, locked_by = NULL \
         FROM s WHERE jobs.id = s.job_id",
        |row, s| {
            let SettleAction::Retry { error, run_at } = &s.action else {
                unreachable!("only retries come here")
            };
            let r = &s.record;
            row.push_bind(&r.job_id)
                .push_bind(error)
                .push_bind(*run_at)
                .push_bind(r.fuel_used as i64)
                .push_bind(&r.plugin_digest);
        },
    )
    .await
}

/// Copies the jobs into `dead_letter_jobs`, then deletes them from `jobs`.
async fn dead_letter(conn: &mut SqliteConnection, dead: &[&Settlement]) -> Result<()> {
    for_chunks(
        conn,
        "moving jobs to the dead-letter table",
        dead,
        "WITH s (job_id, why, error, digest, fuel, failed_at) AS (",
        ") INSERT INTO dead_letter_jobs (id, job_type, queue, payload, priority, attempts, \
         max_attempts, reason, last_error, plugin_digest, fuel_used, created_at, failed_at, \
         parent_id) \
         SELECT jobs.id, jobs.job_type, jobs.queue, jobs.payload, jobs.priority, jobs.attempt, \
         jobs.max_attempts, s.why, s.error, s.digest, jobs.fuel_used + s.fuel, jobs.created_at, \
         s.failed_at, jobs.parent_id FROM s JOIN jobs ON jobs.id = s.job_id",
        |row, s| {
            let SettleAction::DeadLetter { reason, error } = &s.action else {
                unreachable!("only dead letters come here")
            };
            let r = &s.record;
            row.push_bind(&r.job_id)
                .push_bind(reason.as_str())
                .push_bind(error)
                .push_bind(&r.plugin_digest)
                .push_bind(r.fuel_used as i64)
                .push_bind(r.finished_at);
        },
    )
    .await?;
    for_ids(
        conn,
        "moving jobs to the dead-letter table",
        dead,
        "DELETE FROM jobs WHERE id IN",
    )
    .await
}

/// Back to pending at once, with the attempt given back.
async fn release(conn: &mut SqliteConnection, released: &[&Settlement]) -> Result<()> {
    for_ids(
        conn,
        "releasing jobs",
        released,
        "UPDATE jobs SET status = CASE WHEN cancel_requested <> 0 THEN 'cancelled' \
         ELSE 'pending' END, attempt = attempt - 1, locked_by = NULL, started_at = NULL \
         WHERE id IN",
    )
    .await
}

/// Ends the jobs as `cancelled`; they keep their fuel and plugin like any attempt.
async fn cancel(conn: &mut SqliteConnection, cancelled: &[&Settlement]) -> Result<()> {
    for_chunks(
        conn,
        "cancelling jobs",
        cancelled,
        "WITH s (job_id, done_at, fuel, digest) AS (",
        ") UPDATE jobs SET status = 'cancelled', finished_at = s.done_at, \
         last_error = 'cancelled while running', fuel_used = jobs.fuel_used + s.fuel, \
         plugin_digest = s.digest, locked_by = NULL FROM s WHERE jobs.id = s.job_id",
        |row, s| {
            let r = &s.record;
            row.push_bind(&r.job_id)
                .push_bind(r.finished_at)
                .push_bind(r.fuel_used as i64)
                .push_bind(&r.plugin_digest);
        },
    )
    .await
}

async fn insert_attempts(conn: &mut SqliteConnection, attempts: &[&AttemptRecord]) -> Result<()> {
    for_chunks(
        conn,
        "recording attempts",
        attempts,
        "INSERT INTO job_attempts (job_id, attempt, worker_id, started_at, finished_at, \
         outcome, error, fuel_used, plugin_digest) ",
        "",
        |row, a| {
            row.push_bind(&a.job_id)
                .push_bind(i64::from(a.attempt))
                .push_bind(&a.worker_id)
                .push_bind(a.started_at)
                .push_bind(a.finished_at)
                .push_bind(&a.outcome)
                .push_bind(&a.error)
                .push_bind(a.fuel_used as i64)
                .push_bind(&a.plugin_digest);
        },
    )
    .await
}
