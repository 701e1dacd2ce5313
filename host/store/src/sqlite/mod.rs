//! The SQLite backend: one database file in WAL mode, a small connection pool, and
//! every write in a `BEGIN IMMEDIATE` transaction, so a writer waits its turn (up to the
//! busy timeout) instead of failing when the daemon and the CLI write at once.
//!
//! - `jobs.rs`: enqueue and the one-statement claim.
//! - `settle.rs`: applying a batch of finished attempts.
//! - `cancel.rs`: cancelling pending jobs, and marking running ones for their daemon.
//! - `queues.rs`: pausing, resuming and listing queues.
//! - `limits.rs`: rate and concurrency limits, and the claim that honours them.
//! - `unique.rs`: enqueueing a job unless one with its unique key is live.
//! - `cron.rs`: cron schedules, each firing enqueued once across daemons.
//! - `kv.rs`: the plugins' key-value stores, written with the completions.
//! - `flow.rs`: jobs that wait on other jobs, and the links `jobs show` draws.
//! - `rescue.rs`: taking back the jobs of workers that stopped.
//! - `batch.rs`: multi-row statements in chunks.
//! - `admin.rs`: job and dead-letter reads, replay.
//! - `operations.rs`: dead-letter filters, reviews and purges, retention of completed
//!   jobs, recent attempts for durations by type.
//! - `stats.rs`, `workers.rs`, `plugins.rs`: the counts, the worker registry, the plugin
//!   history.
//! - `schema.rs`: the embedded migrations and the version a database is at.
//! - `rows.rs`: turning rows into model values.

mod admin;
mod batch;
mod cancel;
mod cron;
mod flow;
mod jobs;
mod kv;
mod limits;
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

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, SqliteConnection, Transaction};
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::error::{StoreError, db};
use crate::model::*;
use crate::{ConnectOptions, Result, SchemaVersion, Store};

/// How long a writer waits for another one before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_MAX_CONNECTIONS: u32 = 4;

/// SQLite's `synchronous` setting, in WAL mode (the `--sqlite-synchronous` flag).
///
/// Whatever the setting, a committed transaction survives the crash of any process,
/// the daemon's included: SQLite has handed it to the OS. The settings differ in what
/// an OS crash or a power loss can cost:
/// - `Off`: SQLite never syncs; the database file may be corrupted.
/// - `Normal` (the default): the WAL is synced only when a checkpoint runs (here about
///   every 40 MB of WAL), so the database stays consistent but the transactions
///   committed since the last sync may be rolled back: the newest enqueues are lost,
///   and the newest outcomes are undone, so those jobs run again after a rescue.
/// - `Full`: the WAL is synced at every commit; nothing committed is lost. Each commit
///   waits for the disk.
/// - `Extra`: in WAL mode the same as `Full` (it adds a directory sync only in the
///   rollback-journal modes this store does not use).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Synchronous {
    Off,
    #[default]
    Normal,
    Full,
    Extra,
}

impl FromStr for Synchronous {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "off" => Ok(Synchronous::Off),
            "normal" => Ok(Synchronous::Normal),
            "full" => Ok(Synchronous::Full),
            "extra" => Ok(Synchronous::Extra),
            _ => Err(format!("{s:?} is not one of off, normal, full, extra")),
        }
    }
}

impl fmt::Display for Synchronous {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Synchronous::Off => "off",
            Synchronous::Normal => "normal",
            Synchronous::Full => "full",
            Synchronous::Extra => "extra",
        })
    }
}

impl From<Synchronous> for SqliteSynchronous {
    fn from(s: Synchronous) -> Self {
        match s {
            Synchronous::Off => SqliteSynchronous::Off,
            Synchronous::Normal => SqliteSynchronous::Normal,
            Synchronous::Full => SqliteSynchronous::Full,
            Synchronous::Extra => SqliteSynchronous::Extra,
        }
    }
}

pub struct SqliteStore {
    pool: SqlitePool,
    path: PathBuf,
    /// Taken by every write transaction of this process, so that its writers (the
    /// dispatcher's claims and the settler's settlements, above all) queue here in
    /// order, instead of in SQLite's busy handler, which sleeps 1, 2, 5, 10 ms... between
    /// tries: under load that left the one writer idle for much of the time. Other
    /// processes (the CLI) still wait through the busy timeout.
    write_lock: Arc<Mutex<()>>,
}

/// A write transaction holding the store's write lock until it ends.
pub(crate) struct WriteTx {
    tx: Transaction<'static, Sqlite>,
    _lock: OwnedMutexGuard<()>,
}

impl WriteTx {
    async fn commit(self) -> std::result::Result<(), sqlx::Error> {
        self.tx.commit().await
    }
}

impl Deref for WriteTx {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        &self.tx
    }
}

impl DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.tx
    }
}

/// The file a URL names: `sqlite://PATH`, `sqlite:PATH`, or a bare path.
pub(crate) fn path_of(url: &str) -> Result<PathBuf> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let path = path.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Err(StoreError::InvalidUrl {
            url: url.to_string(),
            reason: "name a database file, e.g. sqlite://jobhost.db".into(),
        });
    }
    Ok(PathBuf::from(path))
}

impl SqliteStore {
    pub async fn open(url: &str, options: &ConnectOptions) -> Result<SqliteStore> {
        let path = path_of(url)?;
        let connect = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(options.sqlite_synchronous.into())
            .busy_timeout(BUSY_TIMEOUT)
            .statement_cache_capacity(256)
            // 64 MiB of page cache per connection: the hot indexes stay in memory.
            .pragma("cache_size", "-65536")
            // Checkpoint every ~40 MB of WAL instead of SQLite's 4 MB: a busy queue
            // rewrites the same few pages, and fewer, larger checkpoints copy and sync
            // each of them once (a third more jobs per second, measured).
            .pragma("wal_autocheckpoint", "10000")
            // And give the space back when a checkpoint resets a WAL that grew past it.
            .pragma("journal_size_limit", "67108864");
        let pool = SqlitePoolOptions::new()
            .max_connections(options.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS))
            .connect_with(connect)
            .await
            .map_err(db("opening the SQLite database"))?;
        Ok(SqliteStore {
            pool,
            path,
            write_lock: Arc::default(),
        })
    }

    /// A write transaction that holds the write lock from its first statement.
    async fn write(&self, context: &'static str) -> Result<WriteTx> {
        let lock = self.write_lock.clone().lock_owned().await;
        let tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db(context))?;
        Ok(WriteTx { tx, _lock: lock })
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn close(&self) {
        self.pool.close().await;
    }

    async fn migrate(&self) -> Result<()> {
        let version = self.schema_version().await?;
        version.refuse_newer()?;
        if version.is_current() {
            // Nothing to apply; and the migrator would create its table if missing,
            // which a role without the right to change the schema may not do.
            return Ok(());
        }
        schema::MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    async fn schema_version(&self) -> Result<SchemaVersion> {
        schema::version(&self.pool).await
    }

    async fn enqueue(&self, new_jobs: &[NewJob]) -> Result<()> {
        let mut tx = self.write("enqueueing jobs").await?;
        let (plain, after): (Vec<&NewJob>, Vec<&NewJob>) =
            new_jobs.iter().partition(|j| j.after.is_empty());
        jobs::insert_jobs(&mut tx, &plain).await?;
        flow::insert_after(&mut tx, &after, true).await?;
        tx.commit().await.map_err(db("committing enqueued jobs"))
    }

    async fn claim(&self, params: &ClaimParams) -> Result<Claim> {
        let mut tx = self.write("claiming jobs").await?;
        let claimed = jobs::claim(&mut tx, params).await?;
        tx.commit().await.map_err(db("committing a claim"))?;
        Ok(claimed)
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

    fn change_file(&self) -> Option<PathBuf> {
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        Some(PathBuf::from(wal))
    }

    async fn count_dead(&self, filter: &DeadFilter) -> Result<u64> {
        operations::count_dead(&self.pool, filter).await
    }

    async fn dead_stats(&self, filter: &DeadFilter) -> Result<DeadStats> {
        operations::dead_stats(&self.pool, filter).await
    }

    async fn review_dead(&self, params: &ReviewParams) -> Result<()> {
        let mut tx = self.write("reviewing a dead letter").await?;
        operations::review_dead(&mut tx, params).await?;
        tx.commit().await.map_err(db("committing a review"))
    }

    async fn delete_dead(&self, id: &str) -> Result<()> {
        let mut tx = self.write("deleting a dead letter").await?;
        operations::delete_dead(&mut tx, id).await?;
        tx.commit().await.map_err(db("committing a deletion"))
    }

    async fn purge_dead(&self, filter: &DeadFilter) -> Result<u64> {
        let mut tx = self.write("purging dead letters").await?;
        let purged = operations::purge_dead(&mut tx, filter).await?;
        tx.commit().await.map_err(db("committing a purge"))?;
        Ok(purged)
    }

    async fn count_completed(&self, before: Micros) -> Result<u64> {
        operations::count_completed(&self.pool, before).await
    }

    async fn purge_completed(&self, params: &PurgeParams) -> Result<u64> {
        let mut tx = self.write("purging completed jobs").await?;
        let purged = operations::purge_completed(&mut tx, params).await?;
        tx.commit().await.map_err(db("committing a purge"))?;
        Ok(purged)
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
        let mut tx = self.write("enqueueing a unique job").await?;
        let outcome = unique::enqueue_unique(&mut tx, job, unique_key, keep_for).await?;
        tx.commit().await.map_err(db("committing a unique job"))?;
        Ok(outcome)
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
