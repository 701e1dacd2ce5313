//! Settling finished attempts, in the caller's transaction. A batch costs a handful of
//! statements whatever its size: completions are checked and applied in one; for the
//! other outcomes one locks the entries' jobs and keeps those still theirs, and one
//! statement per kind of outcome applies them; one inserts the attempt rows
//! and one the follow-ups. Each statement takes the batch as one array per column
//! (`UNNEST($1::text[], …)`), so its text, and its prepared plan, is the same for a
//! batch of one and a batch of a thousand. A completed attempt gets no `job_attempts`
//! row: the job row keeps its facts (see `admin::job_attempts`).

use std::collections::HashSet;

use sqlx::{PgConnection, Row};

use super::jobs::insert_jobs;
use super::rows::{fuel, int};
use super::{NOTIFY_SQL, batch_query};
use super::{flow, kv};
use crate::Result;
use crate::error::db;
use crate::model::*;
use crate::settling::{Others, followups, split_completions};

pub async fn settle(conn: &mut PgConnection, batch: &[Settlement]) -> Result<SettleReport> {
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
    insert_jobs(conn, &plain, false).await?;
    let ready_followups = flow::insert_after(conn, &after, false).await?;
    let unblocked = flow::propagate(conn, &waited_on).await?;
    // Follow-ups, released jobs and jobs whose wait is over are work other daemons may
    // take now. (A retry waits for its backoff; the daemons' polling finds it when it
    // comes due.)
    if !plain.is_empty() || ready_followups > 0 || unblocked > 0 || !sorted.released.is_empty() {
        sqlx::query(NOTIFY_SQL)
            .execute(&mut *conn)
            .await
            .map_err(db("notifying daemons of new work"))?;
    }
    let applied = completed.len() + others.len();
    Ok(SettleReport {
        applied,
        stale: batch.len() - applied,
        released: unblocked,
    })
}

/// The entries (other than completions) whose job is still running, locked by their
/// worker, at their attempt; the rest were overtaken (rescued, maybe claimed again) and change nothing. Also the
/// ids of those jobs that other jobs wait on (`has_dependents`, read under the lock),
/// whose waiters the settlement moves on; for most batches there are none.
///
/// The jobs are locked (`FOR UPDATE`) until the transaction ends, so a rescue cannot
/// take one back between this check and the statements that settle it. A job a rescue
/// changed while this waited for its lock is checked again in its new state, and found
/// no longer held. Locking in id order, as the rescue does, keeps the two from
/// deadlocking.
async fn still_held<'a>(
    conn: &mut PgConnection,
    batch: &[&'a Settlement],
) -> Result<(Vec<&'a Settlement>, Vec<&'a str>)> {
    if batch.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let found = batch_query(
        "SELECT s.n, jobs.has_dependents FROM UNNEST($1::text[], $2::text[], $3::int4[]) WITH ORDINALITY \
         AS s (job_id, worker_id, attempt_no, n) \
         JOIN jobs ON jobs.id = s.job_id \
         WHERE jobs.id = ANY ($1) AND jobs.status = 'running' AND jobs.locked_by = s.worker_id \
         AND jobs.attempt = s.attempt_no \
         ORDER BY jobs.id FOR UPDATE OF jobs",
    )
    .bind(
        batch
            .iter()
            .map(|s| s.record.job_id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        batch
            .iter()
            .map(|s| s.record.worker_id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        batch
            .iter()
            .map(|s| int(s.record.attempt))
            .collect::<Vec<_>>(),
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(db("checking which settlements still hold their job"))?;
    let mut held = vec![false; batch.len()];
    let mut waited_on = vec![false; batch.len()];
    for row in &found {
        // WITH ORDINALITY counts from 1.
        let n: i64 = row.try_get(0).map_err(db("checking settlements"))?;
        let dependents: bool = row.try_get(1).map_err(db("checking settlements"))?;
        held[n as usize - 1] = true;
        waited_on[n as usize - 1] = dependents;
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

fn job_ids<'a>(settlements: &[&'a Settlement]) -> Vec<&'a str> {
    settlements
        .iter()
        .map(|s| s.record.job_id.as_str())
        .collect()
}

fn fuels(settlements: &[&Settlement]) -> Vec<i64> {
    settlements
        .iter()
        .map(|s| fuel(s.record.fuel_used))
        .collect()
}

fn digests<'a>(settlements: &[&'a Settlement]) -> Vec<Option<&'a str>> {
    settlements
        .iter()
        .map(|s| s.record.plugin_digest.as_deref())
        .collect()
}

/// Completes the jobs still running under their attempt, each checked in the statement
/// that completes it: the row lock the update takes is the only one, where locking
/// first (as `still_held` does) would write every row twice. A job a rescue changed
/// meanwhile is checked again in its new state and left alone. Returns the completions
/// that applied, and the ids of those of their jobs that other jobs wait on.
async fn complete<'a>(
    conn: &mut PgConnection,
    completed: &[&'a Settlement],
) -> Result<(Vec<&'a Settlement>, Vec<&'a str>)> {
    if completed.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let results: Vec<&str> = completed
        .iter()
        .map(|s| match &s.action {
            SettleAction::Complete { result, .. } => result.as_str(),
            _ => unreachable!("only completions come here"),
        })
        .collect();
    // In id order, as the rescue locks them, so that the two cannot deadlock.
    let applied = batch_query(
        "UPDATE jobs SET status = 'completed', result = s.output, started_at = s.began_at, \
         finished_at = s.done_at, fuel_used = jobs.fuel_used + s.fuel, plugin_digest = s.digest, \
         completed_by = s.worker, locked_by = NULL \
         FROM (SELECT * FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::int8[], $5::int8[], \
                                    $6::text[], $7::text[], $8::int4[]) WITH ORDINALITY \
               AS u (job_id, output, began_at, done_at, fuel, digest, worker, attempt_no, n) \
               ORDER BY job_id) AS s \
         WHERE jobs.id = ANY ($1) AND jobs.id = s.job_id AND jobs.status = 'running' \
         AND jobs.locked_by = s.worker AND jobs.attempt = s.attempt_no \
         RETURNING s.n, jobs.has_dependents",
    )
    .bind(job_ids(completed))
    .bind(results)
    .bind(
        completed
            .iter()
            .map(|s| s.record.started_at)
            .collect::<Vec<_>>(),
    )
    .bind(
        completed
            .iter()
            .map(|s| s.record.finished_at)
            .collect::<Vec<_>>(),
    )
    .bind(fuels(completed))
    .bind(digests(completed))
    .bind(
        completed
            .iter()
            .map(|s| s.record.worker_id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        completed
            .iter()
            .map(|s| int(s.record.attempt))
            .collect::<Vec<_>>(),
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(db("completing jobs"))?;
    let mut done = Vec::with_capacity(applied.len());
    let mut waited_on = Vec::new();
    for row in &applied {
        // WITH ORDINALITY counts from 1.
        let n: i64 = row.try_get(0).map_err(db("completing jobs"))?;
        let dependents: bool = row.try_get(1).map_err(db("completing jobs"))?;
        let s = completed[n as usize - 1];
        done.push(s);
        if dependents {
            waited_on.push(s.record.job_id.as_str());
        }
    }
    Ok((done, waited_on))
}

async fn retry(conn: &mut PgConnection, retried: &[&Settlement]) -> Result<()> {
    if retried.is_empty() {
        return Ok(());
    }
    let (errors, run_ats): (Vec<&str>, Vec<Micros>) = retried
        .iter()
        .map(|s| match &s.action {
            SettleAction::Retry { error, run_at } => (error.as_str(), *run_at),
            _ => unreachable!("only retries come here"),
        })
        .unzip();
    batch_query(
        "UPDATE jobs SET status = CASE WHEN jobs.cancel_requested THEN 'cancelled' \
         ELSE 'pending' END, run_at = s.retry_at, last_error = s.error, \
         fuel_used = jobs.fuel_used + s.fuel, plugin_digest = s.digest, locked_by = NULL \
         FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::int8[], $5::text[]) \
         AS s (job_id, error, retry_at, fuel, digest) WHERE jobs.id = s.job_id",
    )
    .bind(job_ids(retried))
    .bind(errors)
    .bind(run_ats)
    .bind(fuels(retried))
    .bind(digests(retried))
    .execute(&mut *conn)
    .await
    .map_err(db("scheduling retries"))?;
    Ok(())
}

/// Deletes the jobs from `jobs` and inserts what they were into `dead_letter_jobs`, in
/// one statement.
async fn dead_letter(conn: &mut PgConnection, dead: &[&Settlement]) -> Result<()> {
    if dead.is_empty() {
        return Ok(());
    }
    let (reasons, errors): (Vec<&str>, Vec<&str>) = dead
        .iter()
        .map(|s| match &s.action {
            SettleAction::DeadLetter { reason, error } => (reason.as_str(), error.as_str()),
            _ => unreachable!("only dead letters come here"),
        })
        .unzip();
    batch_query(
        "WITH moved AS ( \
           DELETE FROM jobs \
           USING UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[], \
                        $6::int8[]) AS s (job_id, why, error, digest, fuel, failed_at) \
           WHERE jobs.id = s.job_id \
           RETURNING jobs.id, jobs.job_type, jobs.queue, jobs.payload, jobs.priority, \
             jobs.attempt, jobs.max_attempts, s.why, s.error, s.digest, \
             jobs.fuel_used + s.fuel AS fuel_used, jobs.created_at, s.failed_at, \
             jobs.parent_id) \
         INSERT INTO dead_letter_jobs (id, job_type, queue, payload, priority, attempts, \
           max_attempts, reason, last_error, plugin_digest, fuel_used, created_at, failed_at, \
           parent_id) \
         SELECT * FROM moved",
    )
    .bind(job_ids(dead))
    .bind(reasons)
    .bind(errors)
    .bind(digests(dead))
    .bind(fuels(dead))
    .bind(
        dead.iter()
            .map(|s| s.record.finished_at)
            .collect::<Vec<_>>(),
    )
    .execute(&mut *conn)
    .await
    .map_err(db("moving jobs to the dead-letter table"))?;
    Ok(())
}

/// Back to pending at once, with the attempt given back.
async fn release(conn: &mut PgConnection, released: &[&Settlement]) -> Result<()> {
    if released.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE jobs SET status = CASE WHEN cancel_requested THEN 'cancelled' \
         ELSE 'pending' END, attempt = attempt - 1, locked_by = NULL, started_at = NULL \
         WHERE id = ANY($1::text[])",
    )
    .bind(job_ids(released))
    .execute(&mut *conn)
    .await
    .map_err(db("releasing jobs"))?;
    Ok(())
}

/// Ends the jobs as `cancelled`; they keep their fuel and plugin like any attempt.
async fn cancel(conn: &mut PgConnection, cancelled: &[&Settlement]) -> Result<()> {
    if cancelled.is_empty() {
        return Ok(());
    }
    batch_query(
        "UPDATE jobs SET status = 'cancelled', finished_at = s.done_at, \
         last_error = 'cancelled while running', fuel_used = jobs.fuel_used + s.fuel, \
         plugin_digest = s.digest, locked_by = NULL \
         FROM UNNEST($1::text[], $2::int8[], $3::int8[], $4::text[]) \
         AS s (job_id, done_at, fuel, digest) WHERE jobs.id = s.job_id",
    )
    .bind(job_ids(cancelled))
    .bind(
        cancelled
            .iter()
            .map(|s| s.record.finished_at)
            .collect::<Vec<_>>(),
    )
    .bind(fuels(cancelled))
    .bind(digests(cancelled))
    .execute(&mut *conn)
    .await
    .map_err(db("cancelling jobs"))?;
    Ok(())
}

async fn insert_attempts(conn: &mut PgConnection, attempts: &[&AttemptRecord]) -> Result<()> {
    if attempts.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO job_attempts (job_id, attempt, worker_id, started_at, finished_at, \
         outcome, error, fuel_used, plugin_digest) \
         SELECT * FROM UNNEST($1::text[], $2::int4[], $3::text[], $4::int8[], $5::int8[], \
         $6::text[], $7::text[], $8::int8[], $9::text[])",
    )
    .bind(
        attempts
            .iter()
            .map(|a| a.job_id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(attempts.iter().map(|a| int(a.attempt)).collect::<Vec<_>>())
    .bind(
        attempts
            .iter()
            .map(|a| a.worker_id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(attempts.iter().map(|a| a.started_at).collect::<Vec<_>>())
    .bind(attempts.iter().map(|a| a.finished_at).collect::<Vec<_>>())
    .bind(
        attempts
            .iter()
            .map(|a| a.outcome.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        attempts
            .iter()
            .map(|a| a.error.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(
        attempts
            .iter()
            .map(|a| fuel(a.fuel_used))
            .collect::<Vec<_>>(),
    )
    .bind(
        attempts
            .iter()
            .map(|a| a.plugin_digest.as_deref())
            .collect::<Vec<_>>(),
    )
    .execute(&mut *conn)
    .await
    .map_err(db("recording attempts"))?;
    Ok(())
}
