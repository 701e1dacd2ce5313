//! Operating the queue: the dead-letter filter every list, count, purge and summary
//! shares, reviews and deletions, retention of completed jobs, and the recent attempts
//! behind durations and fuel by type. Purges take a bounded batch per transaction, so
//! the daemon's writers never wait long behind one.

use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool};

use super::rows;
use crate::Result;
use crate::error::{StoreError, db};
use crate::model::*;

/// Appends ` AND …` for every field of the filter but `limit` (and `after`, which
/// only listings use: see [`push_after`]).
pub fn push_dead_filter(query: &mut QueryBuilder<'_, Sqlite>, filter: &DeadFilter) {
    if let Some(job_type) = &filter.job_type {
        query.push(" AND job_type = ").push_bind(job_type.clone());
    }
    if let Some(reason) = filter.reason {
        query.push(" AND reason = ").push_bind(reason.as_str());
    }
    if let Some(reviewed) = filter.reviewed {
        query.push(" AND reviewed = ").push_bind(reviewed as i64);
    }
    if let Some(since) = filter.since {
        query.push(" AND failed_at >= ").push_bind(since);
    }
    if let Some(until) = filter.until {
        query.push(" AND failed_at < ").push_bind(until);
    }
    match filter.replayed {
        Some(true) => query.push(" AND resurrection_count > 0"),
        Some(false) => query.push(" AND resurrection_count = 0"),
        None => query,
    };
}

/// Appends the keyset condition: rows after the cursor in newest-first order.
pub fn push_after(query: &mut QueryBuilder<'_, Sqlite>, filter: &DeadFilter) {
    if let Some(after) = &filter.after {
        query
            .push(" AND (failed_at, id) < (")
            .push_bind(after.failed_at)
            .push(", ")
            .push_bind(after.id.clone())
            .push(")");
    }
}

pub async fn count_dead(pool: &SqlitePool, filter: &DeadFilter) -> Result<u64> {
    let mut query =
        QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM dead_letter_jobs WHERE 1 = 1");
    push_dead_filter(&mut query, filter);
    let count: i64 = query
        .build_query_scalar()
        .fetch_one(pool)
        .await
        .map_err(db("counting dead letters"))?;
    Ok(count as u64)
}

pub async fn dead_stats(pool: &SqlitePool, filter: &DeadFilter) -> Result<DeadStats> {
    let mut query = QueryBuilder::<Sqlite>::new(
        "SELECT COUNT(*) AS total, COALESCE(SUM(reviewed = 0), 0) AS unreviewed, \
         MIN(failed_at) AS oldest FROM dead_letter_jobs WHERE 1 = 1",
    );
    push_dead_filter(&mut query, filter);
    let row = query
        .build()
        .fetch_one(pool)
        .await
        .map_err(db("summing up dead letters"))?;
    let get = |c: &str| {
        row.try_get::<Option<i64>, _>(c)
            .map_err(db("summing up dead letters"))
    };
    Ok(DeadStats {
        total: get("total")?.unwrap_or(0) as u64,
        unreviewed: get("unreviewed")?.unwrap_or(0) as u64,
        oldest_failed_at: get("oldest")?,
        by_reason: dead_counts(pool, filter, "reason").await?,
        by_type: dead_counts(pool, filter, "job_type").await?,
    })
}

/// Rows per value of `column` (a fixed column name, never user input), most first.
async fn dead_counts(
    pool: &SqlitePool,
    filter: &DeadFilter,
    column: &'static str,
) -> Result<Vec<NamedCount>> {
    let mut query = QueryBuilder::<Sqlite>::new(format!(
        "SELECT {column} AS name, COUNT(*) AS count FROM dead_letter_jobs WHERE 1 = 1"
    ));
    push_dead_filter(&mut query, filter);
    query.push(format!(" GROUP BY {column} ORDER BY count DESC, name"));
    let found = query
        .build()
        .fetch_all(pool)
        .await
        .map_err(db("counting dead letters by kind"))?;
    found
        .iter()
        .map(|row| {
            Ok(NamedCount {
                name: row.try_get("name").map_err(db("counting dead letters"))?,
                count: row
                    .try_get::<i64, _>("count")
                    .map_err(db("counting dead letters"))? as u64,
            })
        })
        .collect()
}

pub async fn review_dead(conn: &mut SqliteConnection, params: &ReviewParams) -> Result<()> {
    let updated = sqlx::query(
        "UPDATE dead_letter_jobs SET reviewed = 1, reviewed_at = ?, notes = COALESCE(?, notes) \
         WHERE id = ?",
    )
    .bind(params.now)
    .bind(&params.note)
    .bind(&params.id)
    .execute(&mut *conn)
    .await
    .map_err(db("marking a dead letter reviewed"))?;
    found_one(updated.rows_affected(), &params.id)
}

pub async fn delete_dead(conn: &mut SqliteConnection, id: &str) -> Result<()> {
    let deleted = sqlx::query("DELETE FROM dead_letter_jobs WHERE id = ?")
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(db("deleting a dead letter"))?;
    found_one(deleted.rows_affected(), id)?;
    delete_attempts(conn, &[id.to_string()]).await
}

fn found_one(rows: u64, id: &str) -> Result<()> {
    if rows == 0 {
        return Err(StoreError::NotFound {
            what: "dead-lettered job",
            id: id.to_string(),
        });
    }
    Ok(())
}

pub async fn purge_dead(conn: &mut SqliteConnection, filter: &DeadFilter) -> Result<u64> {
    let mut query = QueryBuilder::<Sqlite>::new(
        "DELETE FROM dead_letter_jobs WHERE rowid IN (SELECT rowid FROM dead_letter_jobs \
         WHERE 1 = 1",
    );
    push_dead_filter(&mut query, filter);
    query
        .push(" LIMIT ")
        .push_bind(super::admin::limit(filter.limit))
        .push(") RETURNING id");
    let gone = query
        .build()
        .fetch_all(&mut *conn)
        .await
        .map_err(db("purging dead letters"))?;
    let ids = rows::ids(&gone)?;
    delete_attempts(conn, &ids).await?;
    super::flow::forget(conn, &ids).await?;
    Ok(ids.len() as u64)
}

pub async fn count_completed(pool: &SqlitePool, before: Micros) -> Result<u64> {
    let count: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM jobs WHERE status = 'completed' AND finished_at < ?",
    )
    .bind(before)
    .fetch_one(pool)
    .await
    .map_err(db("counting completed jobs"))?;
    Ok(count as u64)
}

pub async fn purge_completed(conn: &mut SqliteConnection, params: &PurgeParams) -> Result<u64> {
    let gone = sqlx::query(
        "DELETE FROM jobs WHERE rowid IN (SELECT rowid FROM jobs \
         WHERE status = 'completed' AND finished_at < ? LIMIT ?) RETURNING id",
    )
    .bind(params.before)
    .bind(i64::from(params.limit.max(1)))
    .fetch_all(&mut *conn)
    .await
    .map_err(db("purging completed jobs"))?;
    let ids = rows::ids(&gone)?;
    delete_attempts(conn, &ids).await?;
    super::flow::forget(conn, &ids).await?;
    Ok(ids.len() as u64)
}

async fn delete_attempts(conn: &mut SqliteConnection, ids: &[String]) -> Result<()> {
    for chunk in ids.chunks(super::batch::CHUNK) {
        let mut query = QueryBuilder::<Sqlite>::new("DELETE FROM job_attempts WHERE job_id IN (");
        let mut list = query.separated(", ");
        for id in chunk {
            list.push_bind(id);
        }
        query.push(")");
        query
            .build()
            .execute(&mut *conn)
            .await
            .map_err(db("deleting attempts"))?;
    }
    Ok(())
}

// Each side takes its newest rows by its own index before the union, so the cost is
// bounded by `limit`, not by how many jobs finished in the window. A completing attempt
// has no row: it is rebuilt from the job row, its fuel what the job burnt beyond the
// recorded attempts.
const RECENT_SQL: &str = "SELECT * FROM ( \
    SELECT * FROM (SELECT COALESCE(j.job_type, d.job_type) AS job_type, a.outcome, \
                          a.started_at, a.finished_at, a.fuel_used \
                   FROM job_attempts a LEFT JOIN jobs j ON j.id = a.job_id \
                   LEFT JOIN dead_letter_jobs d ON d.id = a.job_id \
                   WHERE a.finished_at >= ?1 ORDER BY a.finished_at DESC LIMIT ?2) \
    UNION ALL \
    SELECT * FROM (SELECT job_type, 'completed' AS outcome, started_at, finished_at, \
                          fuel_used - (SELECT COALESCE(SUM(fuel_used), 0) FROM job_attempts \
                                       WHERE job_id = jobs.id) AS fuel_used \
                   FROM jobs WHERE status = 'completed' AND finished_at >= ?1 \
                   AND started_at IS NOT NULL ORDER BY finished_at DESC LIMIT ?2)) \
    WHERE job_type IS NOT NULL ORDER BY finished_at DESC LIMIT ?2";

pub async fn recent_attempts(
    pool: &SqlitePool,
    since: Micros,
    limit: u32,
) -> Result<Vec<AttemptSample>> {
    let found = sqlx::query(RECENT_SQL)
        .bind(since)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await
        .map_err(db("reading recent attempts"))?;
    found
        .iter()
        .map(|row| {
            let get = |c: &str| {
                row.try_get::<i64, _>(c)
                    .map_err(db("reading recent attempts"))
            };
            Ok(AttemptSample {
                job_type: row
                    .try_get("job_type")
                    .map_err(db("reading recent attempts"))?,
                outcome: row
                    .try_get("outcome")
                    .map_err(db("reading recent attempts"))?,
                started_at: get("started_at")?,
                finished_at: get("finished_at")?,
                fuel_used: get("fuel_used")?.max(0) as u64,
            })
        })
        .collect()
}
