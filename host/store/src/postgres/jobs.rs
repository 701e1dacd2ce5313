//! Putting jobs in and taking them out: enqueue and claim.
//!
//! A batch of new jobs travels as one array per column and is inserted by one
//! `INSERT … SELECT FROM UNNEST(…)`: one statement and one round trip whatever the
//! batch size, with no limit on bound parameters to chunk around, and one plan the
//! server prepares once.

use std::sync::LazyLock;

use sqlx::{PgConnection, PgPool, Row};

use super::NOTIFY_SQL;
use super::rows::{self, CLAIMED_COLUMNS, int};
use crate::Result;
use crate::error::db;
use crate::model::*;

const INSERT_SQL: &str = "INSERT INTO jobs (id, job_type, queue, payload, priority, status, \
    max_attempts, run_at, created_at, parent_id) \
    SELECT id, job_type, queue, payload, priority, 'pending', max_attempts, run_at, created_at, \
    parent_id FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::int4[], \
    $6::int4[], $7::int8[], $8::int8[], $9::text[]) \
    AS n (id, job_type, queue, payload, priority, max_attempts, run_at, created_at, parent_id)";

// A data-modifying CTE runs to completion whether or not the query reads it, so this
// inserts and notifies the listening daemons in one atomic statement; PostgreSQL
// delivers the notification only if the insert commits.
static INSERT_AND_NOTIFY_SQL: LazyLock<String> =
    LazyLock::new(|| format!("WITH inserted AS ({INSERT_SQL}) {NOTIFY_SQL}"));

/// Inserts new pending jobs (enqueued ones and follow-ups) in one statement, and with
/// `wake` notifies the listening daemons when it commits.
pub async fn insert_jobs(conn: &mut PgConnection, jobs: &[&NewJob], wake: bool) -> Result<()> {
    if jobs.is_empty() {
        return Ok(());
    }
    let sql = if wake {
        INSERT_AND_NOTIFY_SQL.as_str()
    } else {
        INSERT_SQL
    };
    sqlx::query(sql)
        .bind(jobs.iter().map(|j| j.id.as_str()).collect::<Vec<_>>())
        .bind(jobs.iter().map(|j| j.job_type.as_str()).collect::<Vec<_>>())
        .bind(jobs.iter().map(|j| j.queue.as_str()).collect::<Vec<_>>())
        .bind(jobs.iter().map(|j| j.payload.as_str()).collect::<Vec<_>>())
        .bind(jobs.iter().map(|j| j.priority).collect::<Vec<_>>())
        .bind(jobs.iter().map(|j| int(j.max_attempts)).collect::<Vec<_>>())
        .bind(jobs.iter().map(|j| j.run_at).collect::<Vec<_>>())
        .bind(jobs.iter().map(|j| j.created_at).collect::<Vec<_>>())
        .bind(
            jobs.iter()
                .map(|j| j.parent_id.as_deref())
                .collect::<Vec<_>>(),
        )
        .execute(&mut *conn)
        .await
        .map_err(db("inserting jobs"))?;
    Ok(())
}

// `next` walks the partial index `jobs_claim` in claim order and locks the rows it
// takes; SKIP LOCKED passes over rows another claimer holds at that moment instead of
// waiting for it, so concurrent claimers (other pools, other hosts) each get different
// jobs without queueing behind one another. A row another claimer already took and
// committed is no longer pending when it is locked, and is passed over too. The UPDATE
// reaches the rows `next` locked by their physical address (`ctid`), which cannot change
// while the lock is held. Through the primary key instead, each row cost a descent of
// a tree that deepens with every row in the table, finished ones included: with a
// million completed rows, a claim of 100 touched 1,710 pages instead of 1,416; by
// address, 1,507 instead of 1,313 (what remains is the new row versions' index entries).
//
// A row of a paused queue is passed over by a lookup in the small `paused_queues`, made
// only when some queue is paused. Written as a plain NOT EXISTS, the planner turned it
// into an anti-join whose estimate (an empty table is taken for a thousand rows) came
// out at one row, and then sorted every pending job instead of walking the index: a
// claim of 1,000 from 20,000 took 14 ms instead of 1.
//
// It takes nothing when a rate or concurrency limit applies to one of those next jobs
// (a filter evaluated once, over them and `job_limits`): then `limits::claim_limited`
// claims instead. Jobs no limit applies to are claimed here even while limits exist
// for others, without reading the limits' state or taking their lock.
//
// It answers one row even when it took nothing (the outer join), saying whether `next`
// found due jobs. When it found none, every due job was held by another claimer, or
// none was due, and the limited claim would find none either: a held job the other
// claimer leaves pending is one a limit held back, which that claimer's own limited
// claim decides on, and anything else is found at the next wake-up or poll. Several
// daemons draining one queue come here often (one claims while another's claim holds
// the next rows), and going on to the limited claim made each of those times cost four
// more statements, a transaction and a second walk past the held rows.
static CLAIM_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH next AS ( \
             SELECT ctid, job_type, queue FROM jobs WHERE status = 'pending' AND run_at <= $2 \
             AND (NOT EXISTS (SELECT 1 FROM paused_queues) \
                  OR NOT EXISTS (SELECT 1 FROM paused_queues p WHERE p.queue = jobs.queue)) \
             ORDER BY priority DESC, run_at, created_at LIMIT $3 \
             FOR UPDATE SKIP LOCKED), \
         claimed AS ( \
             UPDATE jobs SET status = 'running', attempt = attempt + 1, locked_by = $1, \
             started_at = $2 \
             WHERE ctid = ANY (ARRAY(SELECT ctid FROM next)) \
             AND NOT EXISTS (SELECT 1 FROM next n JOIN job_limits l \
                 ON (l.scope = 'type' AND l.name = n.job_type) \
                 OR (l.scope = 'queue' AND l.name = n.queue)) \
             RETURNING {CLAIMED_COLUMNS}) \
         SELECT claimed.*, EXISTS (SELECT 1 FROM next) AS found_due \
         FROM (VALUES (1)) AS answer LEFT JOIN claimed ON true"
    )
});

/// The claim statement, for tests that look at its plan.
#[cfg(test)]
pub fn claim_sql() -> &'static str {
    &CLAIM_SQL
}

/// One statement moves the jobs to `running` and returns them: no job can be handed
/// to two callers, whatever the number of connections, processes or hosts. It is
/// `held_back` when it took nothing because a limit applies to one of the next due
/// jobs: then the limited claim decides.
pub async fn claim(conn: &mut PgConnection, params: &ClaimParams) -> Result<Claim> {
    let found = sqlx::query(&CLAIM_SQL)
        .bind(&params.worker_id)
        .bind(params.now)
        .bind(i64::from(params.limit))
        .fetch_all(&mut *conn)
        .await
        .map_err(db("claiming jobs"))?;
    let mut jobs = Vec::with_capacity(found.len());
    let mut found_due = false;
    for row in &found {
        found_due = row.try_get("found_due").map_err(db("claiming jobs"))?;
        // The one row of a claim that took nothing has no job in it.
        let id: Option<String> = row.try_get("id").map_err(db("claiming jobs"))?;
        if id.is_some() {
            jobs.push(rows::claimed(row)?);
        }
    }
    in_claim_order(&mut jobs);
    let held_back = jobs.is_empty() && found_due;
    Ok(Claim { jobs, held_back })
}

/// Through the partial index on running jobs: a worker runs few.
pub async fn lost_claims(
    pool: &PgPool,
    worker_id: &str,
    known: &[String],
) -> Result<Vec<ClaimedJob>> {
    let sql = format!(
        "SELECT {CLAIMED_COLUMNS} FROM jobs WHERE status = 'running' AND locked_by = $1 \
         AND id <> ALL($2::text[]) ORDER BY priority DESC, run_at, created_at"
    );
    let found = sqlx::query(&sql)
        .bind(worker_id)
        .bind(known)
        .fetch_all(pool)
        .await
        .map_err(db("looking for claims whose answer was lost"))?;
    found.iter().map(rows::claimed).collect()
}

#[cfg(test)]
mod tests {
    use sqlx::{Connection, Executor, PgConnection};

    use crate::model::{ClaimParams, LimitScope, SetLimit};
    use crate::testing::TestDatabase;
    use crate::{ConnectOptions, Store};

    /// The store on a migrated test database, and a connection of the test's own to it.
    async fn migrated(database: &TestDatabase) -> (super::super::PostgresStore, PgConnection) {
        let store = super::super::PostgresStore::open(database.url(), &ConnectOptions::default())
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let conn = PgConnection::connect(database.url()).await.unwrap();
        (store, conn)
    }

    // With a hundred thousand finished rows in `jobs`, the claim reads pending rows
    // from the partial index, in claim order, and reaches the rows it updates by their
    // address: nothing it reads grows with the finished rows.
    #[tokio::test]
    async fn the_claim_walks_the_index_of_pending_jobs_whatever_else_is_in_the_table() {
        let database = TestDatabase::create();
        let (_store, mut conn) = migrated(&database).await;
        conn.execute(
            "INSERT INTO jobs (id, job_type, queue, payload, priority, status, attempt, \
             max_attempts, run_at, created_at, finished_at) \
             SELECT 'done' || n, 'echo', 'default', '{}', 0, 'completed', 1, 3, n, n, n \
             FROM generate_series(1, 100000) AS n; \
             INSERT INTO jobs (id, job_type, queue, payload, priority, status, max_attempts, \
             run_at, created_at) \
             SELECT 'todo' || n, 'echo', 'default', '{}', 0, 'pending', 3, n, n \
             FROM generate_series(1, 100) AS n; \
             ANALYZE jobs",
        )
        .await
        .unwrap();
        let plan: Vec<String> = sqlx::query_scalar(&format!("EXPLAIN {}", super::claim_sql()))
            .bind("w")
            .bind(1_000_000_i64)
            .bind(100_i64)
            .fetch_all(&mut conn)
            .await
            .unwrap();
        let plan = plan.join("\n");
        assert!(plan.contains("Index Scan using jobs_claim"), "{plan}");
        assert!(plan.contains("Tid Scan on jobs"), "{plan}");
        assert!(!plan.contains("Seq Scan on jobs"), "{plan}");
    }

    fn claim_at(now: i64) -> ClaimParams {
        ClaimParams {
            worker_id: "w".into(),
            limit: 10,
            now,
        }
    }

    // The plain claim says when it took nothing because a limit applies to the next
    // jobs, and only then: due jobs all held by another claimer, or none due, send no
    // claimer on to the limited claim.
    #[tokio::test]
    async fn a_claim_that_takes_nothing_says_whether_a_limit_held_its_jobs_back() {
        let database = TestDatabase::create();
        let (store, mut conn) = migrated(&database).await;
        store
            .set_limit(&SetLimit {
                scope: LimitScope::Type,
                name: "throttled".into(),
                rate_per_minute: Some(1),
                concurrency: None,
                now: 0,
            })
            .await
            .unwrap();
        conn.execute(
            "INSERT INTO jobs (id, job_type, queue, payload, priority, status, max_attempts, \
             run_at, created_at) VALUES \
             ('plain', 'echo', 'default', '{}', 0, 'pending', 3, 10, 10), \
             ('limited', 'throttled', 'default', '{}', 0, 'pending', 3, 20, 20)",
        )
        .await
        .unwrap();

        let none_due = super::claim(&mut conn, &claim_at(5)).await.unwrap();
        assert!(none_due.jobs.is_empty() && !none_due.held_back);

        // Another claimer holds the one due job.
        let mut other = PgConnection::connect(database.url()).await.unwrap();
        other.execute("BEGIN").await.unwrap();
        other
            .execute("SELECT * FROM jobs WHERE id = 'plain' FOR UPDATE")
            .await
            .unwrap();
        let held = super::claim(&mut conn, &claim_at(15)).await.unwrap();
        assert!(held.jobs.is_empty() && !held.held_back);
        other.execute("ROLLBACK").await.unwrap();

        let plain = super::claim(&mut conn, &claim_at(15)).await.unwrap();
        let ids: Vec<_> = plain.jobs.iter().map(|j| j.id.as_str()).collect();
        assert_eq!((ids, plain.held_back), (vec!["plain"], false));

        let limited = super::claim(&mut conn, &claim_at(25)).await.unwrap();
        assert!(limited.jobs.is_empty() && limited.held_back);
    }
}
