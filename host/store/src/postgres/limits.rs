//! Rate and concurrency limits: the `job_limits` rows, and the claim that honours them.
//!
//! The plain claim (`jobs.rs`) takes the next due jobs when no limit applies to any of
//! them, so unlimited work claims exactly as fast with limits as without, and claimers
//! of it do not take turns. Otherwise the claim runs here: unless nothing is due, it
//! locks every limit row (`FOR UPDATE`), so claimers of limited work on every host take
//! turns: read the limits and the running counts, then take due jobs in claim order
//! while their limits have room (`crate::limits`), passing over the jobs of limits that
//! have none (and, with SKIP LOCKED, rows another claimer holds), and write the spent
//! tokens back.

use sqlx::postgres::PgRow;
use sqlx::{Connection, PgConnection, PgPool, Row};

use super::rows::{self, CLAIMED_COLUMNS};
use crate::Result;
use crate::error::{StoreError, db};
use crate::limits::{Allowance, Candidate, RATE_BURST};
use crate::model::*;

const LIMIT_COLUMNS: &str =
    "scope, name, rate_per_minute, concurrency, source, tokens, refilled_at, updated_at";

fn limit_row(row: &PgRow) -> Result<FlowLimit> {
    let read = || db("reading a limit");
    let scope: String = row.try_get("scope").map_err(read())?;
    let source: String = row.try_get("source").map_err(read())?;
    let corrupt = |what: &str| StoreError::Corrupt {
        table: "job_limits",
        reason: format!("unknown {what}"),
    };
    Ok(FlowLimit {
        scope: LimitScope::parse(&scope).ok_or_else(|| corrupt("scope"))?,
        name: row.try_get("name").map_err(read())?,
        rate_per_minute: row
            .try_get::<Option<i32>, _>("rate_per_minute")
            .map_err(read())?
            .map(|n| n as u32),
        concurrency: row
            .try_get::<Option<i32>, _>("concurrency")
            .map_err(read())?
            .map(|n| n as u32),
        source: LimitSource::parse(&source).ok_or_else(|| corrupt("source"))?,
        tokens: row.try_get("tokens").map_err(read())?,
        refilled_at: row.try_get("refilled_at").map_err(read())?,
        updated_at: row.try_get("updated_at").map_err(read())?,
    })
}

/// Every limit, locked until the transaction ends.
async fn lock_limits(conn: &mut PgConnection) -> Result<Vec<FlowLimit>> {
    let rows = sqlx::query(&format!(
        "SELECT {LIMIT_COLUMNS} FROM job_limits ORDER BY scope, name FOR UPDATE"
    ))
    .fetch_all(&mut *conn)
    .await
    .map_err(db("locking limits"))?;
    rows.iter().map(limit_row).collect()
}

/// Whether any limit exists, read without locking.
async fn limits_exist(conn: &mut PgConnection) -> Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM job_limits)")
        .fetch_one(&mut *conn)
        .await
        .map_err(db("reading limits"))
}

pub async fn list_limits(pool: &PgPool) -> Result<Vec<FlowLimit>> {
    let rows = sqlx::query(&format!(
        "SELECT {LIMIT_COLUMNS} FROM job_limits ORDER BY scope, name"
    ))
    .fetch_all(pool)
    .await
    .map_err(db("reading limits"))?;
    rows.iter().map(limit_row).collect()
}

async fn running_counts(conn: &mut PgConnection) -> Result<Vec<(String, String, u64)>> {
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT job_type, queue, COUNT(*) FROM jobs WHERE status = 'running' \
         GROUP BY job_type, queue",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(db("counting running jobs"))?;
    Ok(rows.into_iter().map(|(t, q, n)| (t, q, n as u64)).collect())
}

const CANDIDATES_SQL: &str = "SELECT id, job_type, queue FROM jobs \
    WHERE status = 'pending' AND run_at <= $1 \
    AND NOT EXISTS (SELECT 1 FROM paused_queues p WHERE p.queue = jobs.queue) \
    AND job_type <> ALL($2::text[]) AND queue <> ALL($3::text[]) \
    ORDER BY priority DESC, run_at, created_at LIMIT $4 FOR UPDATE SKIP LOCKED";

/// Claims up to `params.limit` due jobs, limited and unlimited alike, in claim order,
/// within the limits' room. Claims nothing when there are no limits (the plain claim
/// takes the jobs then). `conn` is outside a transaction: the claim opens its own, and
/// only when some limit exists.
pub async fn claim_limited(conn: &mut PgConnection, params: &ClaimParams) -> Result<Claim> {
    if !limits_exist(conn).await? {
        return Ok(Claim::default());
    }
    let mut tx = conn
        .begin()
        .await
        .map_err(db("beginning a limited claim"))?;
    let claimed = claim_within_limits(&mut tx, params).await?;
    tx.commit()
        .await
        .map_err(db("committing a limited claim"))?;
    Ok(claimed)
}

/// The limited claim, in its transaction.
async fn claim_within_limits(conn: &mut PgConnection, params: &ClaimParams) -> Result<Claim> {
    // The plain claim (which takes the next jobs when no limit applies to them) took
    // nothing. When nothing is due either, an idle claimer, that is all: it leaves
    // without the limits' lock, so idle claimers do not take turns for it.
    if candidates(conn, params, &[], &[], 1).await?.is_empty() {
        return Ok(Claim::default());
    }
    // That job stays locked by this transaction; the rounds below find it again.
    let limits = lock_limits(conn).await?;
    let rounds = limits.len() + 1;
    let running = running_counts(conn).await?;
    let mut allowance = Allowance::new(limits, &running, params.now);
    let mut claim = Claim::default();
    for _ in 0..rounds {
        let want = params.limit as usize - claim.jobs.len();
        if want == 0 {
            break;
        }
        let (full_types, full_queues) = (
            allowance.exhausted(LimitScope::Type),
            allowance.exhausted(LimitScope::Queue),
        );
        let found = candidates(conn, params, &full_types, &full_queues, want).await?;
        let (taken, passed_over) = allowance.take(&found, want);
        // The jobs of a limit without room were not looked for: some may be due.
        claim.held_back |= passed_over || !full_types.is_empty() || !full_queues.is_empty();
        claim.jobs.extend(mark_running(conn, params, &taken).await?);
        // Without a job passed over, or with every due job seen, there is no more.
        if !passed_over || found.len() < want {
            break;
        }
    }
    for (scope, name, tokens, refilled_at) in allowance.spent_buckets(params.now) {
        sqlx::query(
            "UPDATE job_limits SET tokens = $1, refilled_at = $2 WHERE scope = $3 AND name = $4",
        )
        .bind(tokens)
        .bind(refilled_at)
        .bind(scope.as_str())
        .bind(name)
        .execute(&mut *conn)
        .await
        .map_err(db("spending rate-limit tokens"))?;
    }
    Ok(claim)
}

/// Up to `want` due jobs in claim order, locked, passing over the types and queues
/// given (those whose limits have no room).
async fn candidates(
    conn: &mut PgConnection,
    params: &ClaimParams,
    types: &[String],
    queues: &[String],
    want: usize,
) -> Result<Vec<Candidate>> {
    let found: Vec<(String, String, String)> = sqlx::query_as(CANDIDATES_SQL)
        .bind(params.now)
        .bind(types)
        .bind(queues)
        .bind(want as i64)
        .fetch_all(&mut *conn)
        .await
        .map_err(db("finding jobs to claim"))?;
    Ok(found.into_iter().map(Candidate::from).collect())
}

async fn mark_running(
    conn: &mut PgConnection,
    params: &ClaimParams,
    ids: &[String],
) -> Result<Vec<ClaimedJob>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let found = sqlx::query(&format!(
        "UPDATE jobs SET status = 'running', attempt = attempt + 1, locked_by = $1, \
         started_at = $2 WHERE id = ANY($3::text[]) RETURNING {CLAIMED_COLUMNS}"
    ))
    .bind(&params.worker_id)
    .bind(params.now)
    .bind(ids)
    .fetch_all(&mut *conn)
    .await
    .map_err(db("claiming limited jobs"))?;
    found.iter().map(rows::claimed).collect()
}

/// Sets an operator's limit, replacing whatever limit the type or queue had; the
/// bucket starts full. Wakes the daemons: a raised limit may free held-back work.
pub async fn set_limit(pool: &PgPool, l: &SetLimit) -> Result<()> {
    let mut tx = pool.begin().await.map_err(db("setting a limit"))?;
    sqlx::query(
        "INSERT INTO job_limits (scope, name, rate_per_minute, concurrency, source, tokens, \
         refilled_at, updated_at) VALUES ($1, $2, $3, $4, 'operator', $5, $6, $6) \
         ON CONFLICT (scope, name) DO UPDATE SET rate_per_minute = excluded.rate_per_minute, \
         concurrency = excluded.concurrency, source = 'operator', \
         updated_at = excluded.updated_at",
    )
    .bind(l.scope.as_str())
    .bind(&l.name)
    .bind(l.rate_per_minute.map(super::rows::int))
    .bind(l.concurrency.map(super::rows::int))
    .bind(RATE_BURST)
    .bind(l.now)
    .execute(&mut *tx)
    .await
    .map_err(db("setting a limit"))?;
    wake_and_commit(tx).await
}

/// Notifies the daemons when the transaction commits, and commits it.
async fn wake_and_commit(mut tx: sqlx::Transaction<'_, sqlx::Postgres>) -> Result<()> {
    sqlx::query(super::NOTIFY_SQL)
        .execute(&mut *tx)
        .await
        .map_err(db("notifying daemons of a changed limit"))?;
    tx.commit().await.map_err(db("committing a limit"))
}

/// Wakes the daemons when there was a limit: its held-back jobs are claimable now.
pub async fn remove_limit(pool: &PgPool, scope: LimitScope, name: &str) -> Result<bool> {
    let mut tx = pool.begin().await.map_err(db("removing a limit"))?;
    let done = sqlx::query("DELETE FROM job_limits WHERE scope = $1 AND name = $2")
        .bind(scope.as_str())
        .bind(name)
        .execute(&mut *tx)
        .await
        .map_err(db("removing a limit"))?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    wake_and_commit(tx).await?;
    Ok(true)
}

/// A plugin's limits, as plugin-set rows; an operator's row is left as it is.
pub async fn set_plugin_limits(
    conn: &mut PgConnection,
    limits: &[PluginLimit],
    now: Micros,
) -> Result<()> {
    for l in limits {
        if l.rate_per_minute.is_none() && l.concurrency.is_none() {
            sqlx::query(
                "DELETE FROM job_limits WHERE scope = 'type' AND name = $1 AND source = 'plugin'",
            )
            .bind(&l.job_type)
            .execute(&mut *conn)
            .await
            .map_err(db("removing a plugin's limit"))?;
            continue;
        }
        sqlx::query(
            "INSERT INTO job_limits (scope, name, rate_per_minute, concurrency, source, tokens, \
             refilled_at, updated_at) VALUES ('type', $1, $2, $3, 'plugin', $4, $5, $5) \
             ON CONFLICT (scope, name) DO UPDATE SET rate_per_minute = excluded.rate_per_minute, \
             concurrency = excluded.concurrency, updated_at = excluded.updated_at \
             WHERE job_limits.source = 'plugin' AND (job_limits.rate_per_minute \
             IS DISTINCT FROM excluded.rate_per_minute OR job_limits.concurrency IS DISTINCT FROM excluded.concurrency)",
        )
        .bind(&l.job_type)
        .bind(l.rate_per_minute.map(super::rows::int))
        .bind(l.concurrency.map(super::rows::int))
        .bind(RATE_BURST)
        .bind(now)
        .execute(&mut *conn)
        .await
        .map_err(db("setting a plugin's limit"))?;
    }
    Ok(())
}
