//! The PostgreSQL backend: several daemons on several hosts share one database.
//!
//! A claim is one `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED)`, so
//! concurrent claimers never wait for, nor get, each other's jobs. Batches (enqueues,
//! settlements) travel as one array per column and are written by a fixed handful of
//! statements whatever their size. Writes that make work claimable notify the daemons
//! (LISTEN/NOTIFY), which wake at once instead of polling tightly.
//!
//! - `jobs.rs`: enqueue and the one-statement claim.
//! - `claimer.rs`: the connection of its own that a daemon claims through.
//! - `settle.rs`: applying a batch of finished attempts.
//! - `cancel.rs`: cancelling pending jobs, and marking running ones for their daemon.
//! - `queues.rs`: pausing, resuming and listing queues.
//! - `limits.rs`: rate and concurrency limits, and the claim that honours them.
//! - `unique.rs`: enqueueing a job unless one with its unique key is live.
//! - `cron.rs`: cron schedules, each firing enqueued once across daemons.
//! - `kv.rs`: the plugins' key-value stores, written with the completions.
//! - `flow.rs`: jobs that wait on other jobs, and the links `jobs show` draws.
//! - `rescue.rs`: taking back the jobs of workers that stopped.
//! - `admin.rs`: job and dead-letter reads, replay.
//! - `operations.rs`: dead-letter filters, reviews and purges, retention of completed
//!   jobs, recent attempts for durations by type.
//! - `stats.rs`, `workers.rs`, `plugins.rs`: the counts, the worker registry, the plugin
//!   history.
//! - `listen.rs`: the [`ChangeStream`] a daemon wakes on.
//! - `schema.rs`: the embedded migrations and the version a database is at.
//! - `rows.rs`: turning rows into model values.

mod admin;
mod cancel;
mod claimer;
mod cron;
mod flow;
mod jobs;
mod kv;
mod limits;
mod listen;
mod operations;
mod plugins;
mod queues;
mod rescue;
mod rows;
pub(crate) mod schema;
mod settle;
mod stats;
mod unique;
mod workers;

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};

pub use listen::{Change, ChangeStream};

use claimer::Claimer;

use crate::error::{StoreError, db};
use crate::model::*;
use crate::{ConnectOptions, Result, SchemaVersion, Store};

/// The channel on which writes that make work claimable notify the daemons.
pub const CHANNEL: &str = "jobhost_jobs";
/// Notifies [`CHANNEL`]; delivered when the transaction commits. Identical
/// notifications in one transaction are delivered once.
const NOTIFY_SQL: &str = "SELECT pg_notify('jobhost_jobs', '')";

/// A statement that joins a batch, given as one array per column (`UNNEST`), to a
/// table: planned afresh for each batch, with its arrays' real lengths. A statement
/// kept prepared gets a generic plan after five runs, which takes an array parameter
/// for ten elements; for the completion of a thousand jobs that plan was a nested loop
/// over the batch for each job, a million comparisons: 680 ms, against 19 ms planned
/// for the batch. Planning costs well under a millisecond.
fn batch_query(sql: &str) -> sqlx::query::Query<'_, Postgres, sqlx::postgres::PgArguments> {
    sqlx::query(sql).persistent(false)
}

/// The daemon settles, beats its heartbeat and rescues at once; the CLI uses one or
/// two. Claiming and listening take a connection each of their own, outside the pool.
const DEFAULT_MAX_CONNECTIONS: u32 = 8;
/// How long closing the store waits for connections on their way back to the pool,
/// and for all of them to close: a server that does not answer is not waited for.
const RETURN_WAIT: Duration = Duration::from_secs(1);
pub(super) const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a caller waits for a pooled connection, or for a new one to open.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

pub struct PostgresStore {
    pool: PgPool,
    claimer: Claimer,
    /// For the listening connections, which live outside the pool.
    listen_options: PgConnectOptions,
}

impl PostgresStore {
    /// Connects to the database a `postgres://` or `postgresql://` URL names. Opens one
    /// connection at once, so a server that is away or a database that does not exist
    /// is reported here.
    pub async fn open(url: &str, options: &ConnectOptions) -> Result<PostgresStore> {
        let connect = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::InvalidUrl {
                url: crate::redact_url(url),
                reason: e.to_string(),
            })?
            // The server's NOTICEs ("relation _sqlx_migrations already exists, skipping"
            // at every migrate) would be logged at info, on every CLI command.
            .options([("client_min_messages", "warning")]);
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(connect.clone().application_name("jobhost"))
            .await
            .map_err(db("connecting to the PostgreSQL database"))?;
        Ok(PostgresStore {
            pool,
            claimer: Claimer::new(
                connect.clone().application_name("jobhost-claimer"),
                ACQUIRE_TIMEOUT,
            ),
            listen_options: connect.application_name("jobhost-listener"),
        })
    }

    async fn write(&self, context: &'static str) -> Result<Transaction<'static, Postgres>> {
        self.pool.begin().await.map_err(db(context))
    }

    async fn connection(
        &self,
        context: &'static str,
    ) -> Result<sqlx::pool::PoolConnection<Postgres>> {
        self.pool.acquire().await.map_err(db(context))
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn close(&self) {
        let close = async {
            self.claimer.close().await;
            // sqlx hands a connection back to the pool on a task of its own (after a
            // round trip to check it); one still on its way when the pool closes was
            // left open, and cut when the process exited. So wait for them first (not
            // for one some task keeps: closing the idle ones still says their goodbye).
            let returned = async {
                while (self.pool.num_idle() as u32) < self.pool.size() {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            };
            let _ = tokio::time::timeout(RETURN_WAIT, returned).await;
            self.pool.close().await;
        };
        if tokio::time::timeout(CLOSE_TIMEOUT, close).await.is_err() {
            tracing::warn!(
                "the database connections did not close within {CLOSE_TIMEOUT:?}; leaving them"
            );
        }
    }

    async fn migrate(&self) -> Result<()> {
        let version = self.schema_version().await?;
        version.refuse_newer()?;
        if version.is_current() {
            // Nothing to apply; and the migrator would create its table if missing,
            // which a role without the right to change the schema may not do.
            return Ok(());
        }
        // The migrator holds an advisory lock while it runs, so daemons starting
        // together on a fresh database apply each migration once.
        schema::MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    async fn schema_version(&self) -> Result<SchemaVersion> {
        schema::version(&self.pool).await
    }

    async fn enqueue(&self, new_jobs: &[NewJob]) -> Result<()> {
        let (plain, after): (Vec<&NewJob>, Vec<&NewJob>) =
            new_jobs.iter().partition(|j| j.after.is_empty());
        if after.is_empty() {
            // One statement (insert and notify) is a transaction of its own.
            let mut conn = self.connection("enqueueing jobs").await?;
            return jobs::insert_jobs(&mut conn, &plain, true).await;
        }
        let mut tx = self.write("enqueueing jobs").await?;
        jobs::insert_jobs(&mut tx, &plain, true).await?;
        if flow::insert_after(&mut tx, &after, true).await? > 0 {
            sqlx::query(NOTIFY_SQL)
                .execute(&mut *tx)
                .await
                .map_err(db("notifying daemons of new work"))?;
        }
        tx.commit().await.map_err(db("committing enqueued jobs"))
    }

    async fn claim(&self, params: &ClaimParams) -> Result<Claim> {
        // On a connection of its own: see `claimer.rs`.
        self.claimer.claim(params).await
    }

    async fn lost_claims(&self, worker_id: &str, known: &[String]) -> Result<Vec<ClaimedJob>> {
        jobs::lost_claims(&self.pool, worker_id, known).await
    }

    async fn settle(&self, batch: &[Settlement]) -> Result<SettleReport> {
        let mut tx = self.write("settling attempts").await?;
        let report = settle::settle(&mut tx, batch).await?;
        tx.commit().await.map_err(db("committing settlements"))?;
        Ok(report)
    }

    async fn rescue(&self, params: &RescueParams) -> Result<RescueReport> {
        let mut tx = self.write("rescuing jobs").await?;
        let report = rescue::rescue(&mut tx, params).await?;
        tx.commit().await.map_err(db("committing a rescue"))?;
        Ok(report)
    }

    async fn get_job(&self, id: &str) -> Result<Option<Job>> {
        admin::get_job(&self.pool, id).await
    }

    async fn job_links(&self, id: &str) -> Result<JobLinks> {
        flow::job_links(&self.pool, id).await
    }

    async fn list_jobs(&self, filter: &JobFilter) -> Result<Vec<Job>> {
        admin::list_jobs(&self.pool, filter).await
    }

    async fn job_attempts(&self, job_id: &str) -> Result<Vec<AttemptRecord>> {
        admin::job_attempts(&self.pool, job_id).await
    }

    async fn get_dead(&self, id: &str) -> Result<Option<DeadJob>> {
        admin::get_dead(&self.pool, id).await
    }

    async fn list_dead(&self, filter: &DeadFilter) -> Result<Vec<DeadJob>> {
        admin::list_dead(&self.pool, filter).await
    }

    async fn replay_dead(&self, params: &ReplayParams) -> Result<()> {
        let mut tx = self.write("replaying a dead letter").await?;
        admin::replay_dead(&mut tx, params).await?;
        tx.commit().await.map_err(db("committing a replay"))
    }

    async fn stats(&self, now: Micros) -> Result<Stats> {
        stats::stats(&self.pool, now).await
    }

    async fn register_worker(&self, worker: &WorkerInfo) -> Result<()> {
        workers::register_worker(&self.pool, worker).await
    }

    async fn heartbeat_worker(&self, worker_id: &str, now: Micros) -> Result<()> {
        workers::heartbeat_worker(&self.pool, worker_id, now).await
    }

    async fn remove_worker(&self, worker_id: &str) -> Result<()> {
        workers::remove_worker(&self.pool, worker_id).await
    }

    async fn list_workers(&self) -> Result<Vec<WorkerInfo>> {
        workers::list_workers(&self.pool).await
    }

    async fn worker_loads(&self) -> Result<Vec<WorkerLoad>> {
        workers::worker_loads(&self.pool).await
    }

    async fn record_plugin(&self, plugin: &PluginRecord) -> Result<()> {
        let mut tx = self.write("recording a plugin").await?;
        plugins::record_plugin(&mut tx, plugin).await?;
        tx.commit().await.map_err(db("committing a plugin record"))
    }

    async fn job_type(&self, name: &str) -> Result<Option<JobTypeRecord>> {
        plugins::job_type(&self.pool, name).await
    }

    async fn list_plugins(&self) -> Result<Vec<PluginRecord>> {
        plugins::list_plugins(&self.pool).await
    }

    async fn retire_plugin(&self, file: &str, digest: &str, at: Micros) -> Result<()> {
        plugins::retire_plugin(&self.pool, file, digest, at).await
    }

    /// PostgreSQL pushes changes instead: see [`Store::subscribe_changes`].
    fn change_file(&self) -> Option<PathBuf> {
        None
    }

    async fn subscribe_changes(&self) -> Result<Option<ChangeStream>> {
        // A pool of one, of its own, through which the listener reopens its connection
        // when it drops; it never times out an idle connection, which is what a
        // listening one is.
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_lazy_with(self.listen_options.clone());
        let mut listener = PgListener::connect_with(&pool)
            .await
            .map_err(db("opening a connection to listen for new work"))?;
        listener
            .listen(CHANNEL)
            .await
            .map_err(db("listening for new work"))?;
        Ok(Some(ChangeStream::new(listener, pool)))
    }

    async fn count_dead(&self, filter: &DeadFilter) -> Result<u64> {
        operations::count_dead(&self.pool, filter).await
    }

    async fn dead_stats(&self, filter: &DeadFilter) -> Result<DeadStats> {
        operations::dead_stats(&self.pool, filter).await
    }

    async fn review_dead(&self, params: &ReviewParams) -> Result<()> {
        operations::review_dead(&self.pool, params).await
    }

    async fn delete_dead(&self, id: &str) -> Result<()> {
        operations::delete_dead(&self.pool, id).await
    }

    async fn purge_dead(&self, filter: &DeadFilter) -> Result<u64> {
        let mut conn = self.connection("purging dead letters").await?;
        operations::purge_dead(&mut conn, filter).await
    }

    async fn count_completed(&self, before: Micros) -> Result<u64> {
        operations::count_completed(&self.pool, before).await
    }

    async fn purge_completed(&self, params: &PurgeParams) -> Result<u64> {
        let mut conn = self.connection("purging completed jobs").await?;
        operations::purge_completed(&mut conn, params).await
    }

    async fn recent_attempts(&self, since: Micros, limit: u32) -> Result<Vec<AttemptSample>> {
        operations::recent_attempts(&self.pool, since, limit).await
    }

    async fn kv_get(&self, plugin: &str, key: &str) -> Result<Option<String>> {
        kv::get(&self.pool, plugin, key).await
    }

    async fn cancel_job(&self, id: &str, now: Micros) -> Result<CancelOutcome> {
        let mut tx = self.write("cancelling a job").await?;
        let outcome = cancel::cancel_job(&mut tx, id, now).await?;
        tx.commit().await.map_err(db("committing a cancel"))?;
        Ok(outcome)
    }

    async fn cancel_requests(&self, worker_id: &str) -> Result<Vec<String>> {
        cancel::cancel_requests(&self.pool, worker_id).await
    }

    async fn pause_queue(&self, queue: &str, now: Micros) -> Result<bool> {
        queues::pause_queue(&self.pool, queue, now).await
    }

    async fn resume_queue(&self, queue: &str) -> Result<bool> {
        queues::resume_queue(&self.pool, queue).await
    }

    async fn list_queues(&self) -> Result<Vec<QueueInfo>> {
        queues::list_queues(&self.pool).await
    }

    async fn set_limit(&self, limit: &SetLimit) -> Result<()> {
        limits::set_limit(&self.pool, limit).await
    }

    async fn remove_limit(&self, scope: LimitScope, name: &str) -> Result<bool> {
        limits::remove_limit(&self.pool, scope, name).await
    }

    async fn list_limits(&self) -> Result<Vec<FlowLimit>> {
        limits::list_limits(&self.pool).await
    }

    async fn set_plugin_limits(&self, plugin_limits: &[PluginLimit], now: Micros) -> Result<()> {
        let mut tx = self.write("setting a plugin's limits").await?;
        limits::set_plugin_limits(&mut tx, plugin_limits, now).await?;
        tx.commit()
            .await
            .map_err(db("committing a plugin's limits"))
    }

    async fn next_limited_claim(&self, now: Micros) -> Result<Option<Micros>> {
        let limits = limits::list_limits(&self.pool).await?;
        Ok(crate::limits::next_wake(&limits, now))
    }

    async fn enqueue_unique(
        &self,
        job: &NewJob,
        unique_key: &str,
        keep_for: Option<Micros>,
    ) -> Result<UniqueEnqueue> {
        unique::enqueue_unique(&self.pool, job, unique_key, keep_for).await
    }

    async fn add_schedule(&self, schedule: &CronSchedule) -> Result<()> {
        cron::add_schedule(&self.pool, schedule).await
    }

    async fn list_schedules(&self) -> Result<Vec<CronSchedule>> {
        cron::list_schedules(&self.pool).await
    }

    async fn remove_schedule(&self, name: &str) -> Result<bool> {
        cron::remove_schedule(&self.pool, name).await
    }

    async fn set_schedule_paused(
        &self,
        name: &str,
        paused: bool,
        next_run_at: Micros,
    ) -> Result<bool> {
        cron::set_schedule_paused(&self.pool, name, paused, next_run_at).await
    }

    async fn sync_plugin_schedules(
        &self,
        source: &str,
        schedules: &[CronSchedule],
    ) -> Result<Vec<String>> {
        let mut tx = self.write("writing a plugin's schedules").await?;
        let held = cron::sync_plugin_schedules(&mut tx, source, schedules).await?;
        tx.commit()
            .await
            .map_err(db("committing a plugin's schedules"))?;
        Ok(held)
    }

    async fn due_schedules(&self, now: Micros) -> Result<Vec<CronSchedule>> {
        cron::due_schedules(&self.pool, now).await
    }

    async fn fire_schedule(&self, params: &FireParams) -> Result<bool> {
        let mut tx = self.write("firing a schedule").await?;
        let fired = cron::fire_schedule(&mut tx, params).await?;
        tx.commit().await.map_err(db("committing a firing"))?;
        Ok(fired)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_notification_goes_to_the_channel_daemons_listen_on() {
        assert!(NOTIFY_SQL.contains(&format!("'{CHANNEL}'")));
    }
}
