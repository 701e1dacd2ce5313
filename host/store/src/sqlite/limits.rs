//! Rate and concurrency limits: the `job_limits` rows, and the claim that honours them.
//!
//! The plain claim (`jobs.rs`) runs only while `job_limits` is empty, so a database
//! without limits claims exactly as fast as before. With limits, the claim runs here,
//! in the same `BEGIN IMMEDIATE` transaction (which makes it atomic against every other
//! claimer). When no limit applies to the next due jobs, it takes them as they are.
//! Otherwise it reads the limits and the running counts, then takes due jobs in claim
//! order while their limits have room (`crate::limits`), passing over the jobs of
//! limits that have none, and writes the spent tokens back.

use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection, SqlitePool};

use super::rows::{self, CLAIMED_COLUMNS};
use crate::Result;
use crate::error::{StoreError, db};
use crate::limits::{Allowance, Candidate, RATE_BURST, any_applies};
use crate::model::*;

const LIMIT_COLUMNS: &str =
    "scope, name, rate_per_minute, concurrency, source, tokens, refilled_at, updated_at";

fn limit_row(row: &SqliteRow) -> Result<FlowLimit> {
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
            .try_get::<Option<i64>, _>("rate_per_minute")
            .map_err(read())?
            .map(|n| n as u32),
        concurrency: row
            .try_get::<Option<i64>, _>("concurrency")
            .map_err(read())?
            .map(|n| n as u32),
        source: LimitSource::parse(&source).ok_or_else(|| corrupt("source"))?,
        tokens: row.try_get("tokens").map_err(read())?,
        refilled_at: row.try_get("refilled_at").map_err(read())?,
        updated_at: row.try_get("updated_at").map_err(read())?,
    })
}

pub async fn read_limits(conn: &mut SqliteConnection) -> Result<Vec<FlowLimit>> {
    let rows = sqlx::query(&format!(
        "SELECT {LIMIT_COLUMNS} FROM job_limits ORDER BY scope, name"
    ))
    .fetch_all(&mut *conn)
    .await
    .map_err(db("reading limits"))?;
    rows.iter().map(limit_row).collect()
}

pub async fn list_limits(pool: &SqlitePool) -> Result<Vec<FlowLimit>> {
    let mut conn = pool.acquire().await.map_err(db("listing limits"))?;
    read_limits(&mut conn).await
}

async fn running_counts(conn: &mut SqliteConnection) -> Result<Vec<(String, String, u64)>> {
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
    WHERE status = 'pending' AND run_at <= ?1 \
    AND NOT EXISTS (SELECT 1 FROM paused_queues p WHERE p.queue = jobs.queue) \
    AND job_type NOT IN (SELECT value FROM json_each(?2)) \
    AND queue NOT IN (SELECT value FROM json_each(?3)) \
    ORDER BY priority DESC, run_at, created_at LIMIT ?4";

fn json_list(names: &[String]) -> String {
    serde_json::to_string(names).unwrap_or_else(|_| "[]".into())
}

/// Claims up to `params.limit` due jobs, limited and unlimited alike, in claim order,
/// within the limits' room.
pub async fn claim_limited(
    conn: &mut SqliteConnection,
    params: &ClaimParams,
    limits: Vec<FlowLimit>,
) -> Result<Claim> {
    // When no limit applies to the next due jobs, they are claimed as they are, without
    // counting the running jobs.
    let next = candidates(conn, params, &[], &[], params.limit as usize).await?;
    let names = || limits.iter().map(|l| (l.scope.as_str(), l.name.as_str()));
    if !next.iter().any(|job| any_applies(names(), job)) {
        let ids: Vec<String> = next.into_iter().map(|job| job.id).collect();
        let jobs = mark_running(conn, params, &ids).await?;
        return Ok(Claim {
            jobs,
            held_back: false,
        });
    }
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
            "UPDATE job_limits SET tokens = ?, refilled_at = ? WHERE scope = ? AND name = ?",
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

/// Up to `want` due jobs in claim order, passing over the types and queues given
/// (those whose limits have no room).
async fn candidates(
    conn: &mut SqliteConnection,
    params: &ClaimParams,
    types: &[String],
    queues: &[String],
    want: usize,
) -> Result<Vec<Candidate>> {
    let found: Vec<(String, String, String)> = sqlx::query_as(CANDIDATES_SQL)
        .bind(params.now)
        .bind(json_list(types))
        .bind(json_list(queues))
        .bind(want as i64)
        .fetch_all(&mut *conn)
        .await
        .map_err(db("finding jobs to claim"))?;
    Ok(found.into_iter().map(Candidate::from).collect())
}

async fn mark_running(
    conn: &mut SqliteConnection,
    params: &ClaimParams,
    ids: &[String],
) -> Result<Vec<ClaimedJob>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let found = sqlx::query(&format!(
        "UPDATE jobs SET status = 'running', attempt = attempt + 1, locked_by = ?1, \
         started_at = ?2 WHERE id IN (SELECT value FROM json_each(?3)) RETURNING {CLAIMED_COLUMNS}"
    ))
    .bind(&params.worker_id)
    .bind(params.now)
    .bind(json_list(ids))
    .fetch_all(&mut *conn)
    .await
    .map_err(db("claiming limited jobs"))?;
    found.iter().map(rows::claimed).collect()
}

/// Sets an operator's limit, replacing whatever limit the type or queue had; the
/// bucket starts full.
pub async fn set_limit(pool: &SqlitePool, l: &SetLimit) -> Result<()> {
    sqlx::query(
        "INSERT INTO job_limits (scope, name, rate_per_minute, concurrency, source, tokens, \
         refilled_at, updated_at) VALUES (?1, ?2, ?3, ?4, 'operator', ?5, ?6, ?6) \
         ON CONFLICT (scope, name) DO UPDATE SET rate_per_minute = excluded.rate_per_minute, \
         concurrency = excluded.concurrency, source = 'operator', \
         updated_at = excluded.updated_at",
    )
    .bind(l.scope.as_str())
    .bind(&l.name)
    .bind(l.rate_per_minute.map(i64::from))
    .bind(l.concurrency.map(i64::from))
    .bind(RATE_BURST)
    .bind(l.now)
    .execute(pool)
    .await
    .map_err(db("setting a limit"))?;
    Ok(())
}

pub async fn remove_limit(pool: &SqlitePool, scope: LimitScope, name: &str) -> Result<bool> {
    let done = sqlx::query("DELETE FROM job_limits WHERE scope = ? AND name = ?")
        .bind(scope.as_str())
        .bind(name)
        .execute(pool)
        .await
        .map_err(db("removing a limit"))?;
    Ok(done.rows_affected() == 1)
}

/// A plugin's limits, as plugin-set rows; an operator's row is left as it is.
pub async fn set_plugin_limits(
    conn: &mut SqliteConnection,
    limits: &[PluginLimit],
    now: Micros,
) -> Result<()> {
    for l in limits {
        if l.rate_per_minute.is_none() && l.concurrency.is_none() {
            sqlx::query(
                "DELETE FROM job_limits WHERE scope = 'type' AND name = ? AND source = 'plugin'",
            )
            .bind(&l.job_type)
            .execute(&mut *conn)
            .await
            .map_err(db("removing a plugin's limit"))?;
            continue;
        }
        sqlx::query(
            "INSERT INTO job_limits (scope, name, rate_per_minute, concurrency, source, tokens, \
             refilled_at, updated_at) VALUES ('type', ?1, ?2, ?3, 'plugin', ?4, ?5, ?5) \
             ON CONFLICT (scope, name) DO UPDATE SET rate_per_minute = excluded.rate_per_minute, \
             concurrency = excluded.concurrency, updated_at = excluded.updated_at \
             WHERE job_limits.source = 'plugin' AND (job_limits.rate_per_minute \
             IS NOT excluded.rate_per_minute OR job_limits.concurrency IS NOT excluded.concurrency)",
        )
        .bind(&l.job_type)
        .bind(l.rate_per_minute.map(i64::from))
        .bind(l.concurrency.map(i64::from))
        .bind(RATE_BURST)
        .bind(now)
        .execute(&mut *conn)
        .await
        .map_err(db("setting a plugin's limit"))?;
    }
    Ok(())
}
