//! Reads and operator actions: job and dead-letter lists, replay, stats, the worker
//! registry and plugin records. None of it is on the job hot path.

use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool};

use super::rows::{self, ATTEMPT_COLUMNS, DEAD_COLUMNS, JOB_COLUMNS, WORKER_COLUMNS};
use crate::Result;
use crate::error::{StoreError, db};
use crate::model::*;

/// How many rows a list returns when its filter says 0.
const DEFAULT_LIMIT: u32 = 100;
const HOUR: Micros = 3_600_000_000;

fn limit(requested: u32) -> i64 {
    if requested == 0 {
        DEFAULT_LIMIT
    } else {
        requested
    }
    .into()
}

pub async fn get_job(pool: &SqlitePool, id: &str) -> Result<Option<Job>> {
    let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?");
    let row = sqlx::query(&sql)
        .bind(id)
        .fetch_optional(pool)
        .await
        .map_err(db("reading a job"))?;
    row.as_ref().map(rows::job).transpose()
}

pub async fn list_jobs(pool: &SqlitePool, filter: &JobFilter) -> Result<Vec<Job>> {
    let mut query =
        QueryBuilder::<Sqlite>::new(format!("SELECT {JOB_COLUMNS} FROM jobs WHERE 1 = 1"));
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

pub async fn job_attempts(pool: &SqlitePool, job_id: &str) -> Result<Vec<AttemptRecord>> {
    let sql = format!(
        "SELECT {ATTEMPT_COLUMNS} FROM job_attempts WHERE job_id = ? ORDER BY started_at, attempt"
    );
    let found = sqlx::query(&sql)
        .bind(job_id)
        .fetch_all(pool)
        .await
        .map_err(db("reading attempts"))?;
    found.iter().map(rows::attempt).collect()
}

pub async fn get_dead(pool: &SqlitePool, id: &str) -> Result<Option<DeadJob>> {
    let sql = format!("SELECT {DEAD_COLUMNS} FROM dead_letter_jobs WHERE id = ?");
    let row = sqlx::query(&sql)
        .bind(id)
        .fetch_optional(pool)
        .await
        .map_err(db("reading a dead letter"))?;
    row.as_ref().map(rows::dead).transpose()
}

pub async fn list_dead(pool: &SqlitePool, filter: &DeadFilter) -> Result<Vec<DeadJob>> {
    let mut query = QueryBuilder::<Sqlite>::new(format!(
        "SELECT {DEAD_COLUMNS} FROM dead_letter_jobs WHERE 1 = 1"
    ));
    if let Some(job_type) = &filter.job_type {
        query.push(" AND job_type = ").push_bind(job_type);
    }
    if let Some(reason) = filter.reason {
        query.push(" AND reason = ").push_bind(reason.as_str());
    }
    if let Some(reviewed) = filter.reviewed {
        query.push(" AND reviewed = ").push_bind(reviewed as i64);
    }
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

pub async fn replay_dead(conn: &mut SqliteConnection, params: &ReplayParams) -> Result<()> {
    let inserted = sqlx::query(
        "INSERT INTO jobs (id, job_type, queue, payload, priority, status, max_attempts, run_at, \
         created_at, parent_id) \
         SELECT ?, job_type, COALESCE(?, queue), payload, COALESCE(?, priority), 'pending', \
         COALESCE(?, max_attempts), ?, ?, parent_id FROM dead_letter_jobs WHERE id = ?",
    )
    .bind(&params.new_job_id)
    .bind(&params.queue)
    .bind(params.priority)
    .bind(params.max_attempts.map(i64::from))
    .bind(params.now)
    .bind(params.now)
    .bind(&params.dead_id)
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
         replayed_job_id = ? WHERE id = ?",
    )
    .bind(&params.new_job_id)
    .bind(&params.dead_id)
    .execute(&mut *conn)
    .await
    .map_err(db("marking a dead letter replayed"))?;
    Ok(())
}

async fn count(pool: &SqlitePool, sql: &str, binds: &[Micros]) -> Result<u64> {
    let mut query = sqlx::query(sql);
    for b in binds {
        query = query.bind(*b);
    }
    let row = query
        .fetch_one(pool)
        .await
        .map_err(db("counting for stats"))?;
    Ok(row.try_get::<i64, _>(0).map_err(db("counting for stats"))? as u64)
}

pub async fn stats(pool: &SqlitePool, now: Micros) -> Result<Stats> {
    let mut stats = Stats {
        pending: count(
            pool,
            "SELECT COUNT(*) FROM jobs WHERE status = 'pending' AND run_at <= ?",
            &[now],
        )
        .await?,
        scheduled: count(
            pool,
            "SELECT COUNT(*) FROM jobs WHERE status = 'pending' AND run_at > ?",
            &[now],
        )
        .await?,
        running: count(
            pool,
            "SELECT COUNT(*) FROM jobs WHERE status = 'running'",
            &[],
        )
        .await?,
        completed: count(
            pool,
            "SELECT COUNT(*) FROM jobs WHERE status = 'completed'",
            &[],
        )
        .await?,
        cancelled: count(
            pool,
            "SELECT COUNT(*) FROM jobs WHERE status = 'cancelled'",
            &[],
        )
        .await?,
        dead: count(pool, "SELECT COUNT(*) FROM dead_letter_jobs", &[]).await?,
        dead_unreviewed: count(
            pool,
            "SELECT COUNT(*) FROM dead_letter_jobs WHERE reviewed = 0",
            &[],
        )
        .await?,
        completed_last_hour: count(
            pool,
            "SELECT COUNT(*) FROM jobs WHERE status = 'completed' AND finished_at >= ?",
            &[now - HOUR],
        )
        .await?,
        failed_last_hour: count(
            pool,
            "SELECT COUNT(*) FROM job_attempts WHERE finished_at >= ? AND outcome != 'completed'",
            &[now - HOUR],
        )
        .await?,
        oldest_pending_age: None,
        by_type: Vec::new(),
    };
    let oldest: Option<i64> =
        sqlx::query_scalar("SELECT MIN(run_at) FROM jobs WHERE status = 'pending' AND run_at <= ?")
            .bind(now)
            .fetch_one(pool)
            .await
            .map_err(db("finding the oldest pending job"))?;
    stats.oldest_pending_age = oldest.map(|t| now - t);
    let by_type = sqlx::query(
        "SELECT job_type, SUM(pending) AS pending, SUM(running) AS running, \
         SUM(completed) AS completed, SUM(dead) AS dead FROM ( \
           SELECT job_type, status = 'pending' AS pending, status = 'running' AS running, \
                  status = 'completed' AS completed, 0 AS dead FROM jobs \
           UNION ALL SELECT job_type, 0, 0, 0, 1 FROM dead_letter_jobs) \
         GROUP BY job_type ORDER BY job_type",
    )
    .fetch_all(pool)
    .await
    .map_err(db("counting jobs by type"))?;
    for row in &by_type {
        let get = |c: &str| -> Result<u64> {
            Ok(row
                .try_get::<i64, _>(c)
                .map_err(db("counting jobs by type"))? as u64)
        };
        stats.by_type.push(TypeCounts {
            job_type: row
                .try_get("job_type")
                .map_err(db("counting jobs by type"))?,
            pending: get("pending")?,
            running: get("running")?,
            completed: get("completed")?,
            dead: get("dead")?,
        });
    }
    Ok(stats)
}

pub async fn register_worker(pool: &SqlitePool, w: &WorkerInfo) -> Result<()> {
    sqlx::query(
        "INSERT INTO workers (id, host, pid, started_at, heartbeat_at) VALUES (?, ?, ?, ?, ?) \
         ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
    )
    .bind(&w.id)
    .bind(&w.host)
    .bind(w.pid as i64)
    .bind(w.started_at)
    .bind(w.heartbeat_at)
    .execute(pool)
    .await
    .map_err(db("registering a worker"))?;
    Ok(())
}

pub async fn heartbeat_worker(pool: &SqlitePool, worker_id: &str, now: Micros) -> Result<()> {
    let updated = sqlx::query("UPDATE workers SET heartbeat_at = ? WHERE id = ?")
        .bind(now)
        .bind(worker_id)
        .execute(pool)
        .await
        .map_err(db("recording a heartbeat"))?;
    if updated.rows_affected() == 0 {
        return Err(StoreError::NotFound {
            what: "worker",
            id: worker_id.to_string(),
        });
    }
    Ok(())
}

pub async fn remove_worker(pool: &SqlitePool, worker_id: &str) -> Result<()> {
    sqlx::query("DELETE FROM workers WHERE id = ?")
        .bind(worker_id)
        .execute(pool)
        .await
        .map_err(db("removing a worker"))?;
    Ok(())
}

pub async fn list_workers(pool: &SqlitePool) -> Result<Vec<WorkerInfo>> {
    let sql = format!("SELECT {WORKER_COLUMNS} FROM workers ORDER BY started_at");
    let found = sqlx::query(&sql)
        .fetch_all(pool)
        .await
        .map_err(db("listing workers"))?;
    found.iter().map(rows::worker).collect()
}

pub async fn record_plugin(conn: &mut SqliteConnection, p: &PluginRecord) -> Result<()> {
    sqlx::query(
        "INSERT INTO plugins (digest, file, name, version, loaded_at, error) VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(&p.digest)
    .bind(&p.file)
    .bind(&p.name)
    .bind(&p.version)
    .bind(p.loaded_at)
    .bind(&p.error)
    .execute(&mut *conn)
    .await
    .map_err(db("recording a plugin"))?;
    for t in &p.job_types {
        sqlx::query(
            "INSERT INTO job_types (name, plugin_digest, payload_schema, max_attempts, loaded_at) \
             VALUES (?, ?, ?, ?, ?) ON CONFLICT (name, plugin_digest) DO UPDATE SET \
             payload_schema = excluded.payload_schema, max_attempts = excluded.max_attempts, \
             loaded_at = excluded.loaded_at",
        )
        .bind(&t.name)
        .bind(&t.plugin_digest)
        .bind(&t.payload_schema)
        .bind(t.max_attempts.map(i64::from))
        .bind(p.loaded_at)
        .execute(&mut *conn)
        .await
        .map_err(db("recording a job type"))?;
    }
    Ok(())
}

fn job_type_row(row: &sqlx::sqlite::SqliteRow) -> Result<JobTypeRecord> {
    let read = db("reading a job type");
    Ok(JobTypeRecord {
        name: row.try_get("name").map_err(read)?,
        plugin_digest: row
            .try_get("plugin_digest")
            .map_err(db("reading a job type"))?,
        payload_schema: row
            .try_get("payload_schema")
            .map_err(db("reading a job type"))?,
        max_attempts: row
            .try_get::<Option<i64>, _>("max_attempts")
            .map_err(db("reading a job type"))?
            .map(|n| n as u32),
    })
}

pub async fn job_type(pool: &SqlitePool, name: &str) -> Result<Option<JobTypeRecord>> {
    let row = sqlx::query(
        "SELECT name, plugin_digest, payload_schema, max_attempts FROM job_types \
         WHERE name = ? ORDER BY loaded_at DESC LIMIT 1",
    )
    .bind(name)
    .fetch_optional(pool)
    .await
    .map_err(db("looking up a job type"))?;
    row.as_ref().map(job_type_row).transpose()
}

pub async fn list_plugins(pool: &SqlitePool) -> Result<Vec<PluginRecord>> {
    let found = sqlx::query(
        "SELECT digest, file, name, version, loaded_at, error FROM plugins ORDER BY seq DESC",
    )
    .fetch_all(pool)
    .await
    .map_err(db("listing plugins"))?;
    let mut plugins = Vec::with_capacity(found.len());
    for row in &found {
        let read = |c: &str| -> Result<String> { row.try_get(c).map_err(db("reading a plugin")) };
        let digest = read("digest")?;
        let types = sqlx::query(
            "SELECT name, plugin_digest, payload_schema, max_attempts FROM job_types \
             WHERE plugin_digest = ? ORDER BY name",
        )
        .bind(&digest)
        .fetch_all(pool)
        .await
        .map_err(db("listing a plugin's job types"))?;
        plugins.push(PluginRecord {
            file: read("file")?,
            name: read("name")?,
            version: read("version")?,
            loaded_at: row.try_get("loaded_at").map_err(db("reading a plugin"))?,
            error: row.try_get("error").map_err(db("reading a plugin"))?,
            job_types: types.iter().map(job_type_row).collect::<Result<_>>()?,
            digest,
        });
    }
    Ok(plugins)
}
