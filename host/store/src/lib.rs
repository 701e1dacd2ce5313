//! The persistent queue: the only place in jobhost with SQL.
//!
//! [`Store`] is the one interface the rest of the host uses; each backend implements it
//! with its own migrations (`migrations/sqlite/`, `migrations/postgres/`). Every method
//! takes a small params struct or plain values, and every time is an integer count of
//! microseconds since the Unix epoch ([`Micros`]), so both backends agree. One
//! conformance suite (`tests/conformance.rs`) runs every test on both.
//!
//! # Layout
//! - `model/`: the rows and params (jobs, attempts, dead letters, workers, plugins;
//!   `limits.rs` the flow limits, `flow.rs` the links of waiting jobs).
//! - `sqlite/`: the SQLite backend (WAL, one atomic `UPDATE … RETURNING` claim, wake-ups
//!   by watching the WAL file).
//! - `postgres/`: the PostgreSQL backend (`FOR UPDATE SKIP LOCKED` claims, batches as
//!   `UNNEST` arrays, wake-ups by LISTEN/NOTIFY).
//! - `limits.rs`: the arithmetic of rate and concurrency limits, which both backends'
//!   claims share.
//! - `schema.rs`: schema versions, and refusing a database a newer build migrated.
//! - `testing.rs`: throwaway PostgreSQL databases for tests, and schema versions set up
//!   for tests of upgrades.
//! - `error.rs`: [`StoreError`].

mod error;
pub mod limits;
mod model;
mod postgres;
mod schema;
mod settling;
mod sqlite;
pub mod testing;

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;

pub use error::StoreError;
pub use model::*;
pub use postgres::{CHANNEL, Change, ChangeStream, PostgresStore};
pub use schema::SchemaVersion;
pub use sqlite::{SqliteStore, Synchronous};

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Everything the host asks of a database. Implementations are cheap to share
/// (`Arc<dyn Store>`) and safe to call from many tasks at once.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Applies the embedded migrations this build knows that the database lacks.
    /// Refuses ([`StoreError::SchemaTooNew`]) a database a newer build migrated.
    async fn migrate(&self) -> Result<()>;

    /// Closes the store's connections, telling the server so: on PostgreSQL, a session
    /// a process leaves open when it exits is logged as a reset connection and counted
    /// as abandoned. Waits for connections in use to come back first, but not for a
    /// server that does not answer. A process calls it when it is done with the store;
    /// nothing may use the store after.
    async fn close(&self);

    /// The newest migration the database has applied, and the newest this build knows.
    async fn schema_version(&self) -> Result<SchemaVersion>;

    /// Inserts jobs in one transaction: all of them or none. A job with `after` waits
    /// (status `waiting`) until every job it names has completed, and is `blocked` when
    /// one of them was dead-lettered or cancelled; a job it names that already completed
    /// counts as done, and a dead letter that was replayed stands for the job that
    /// replaced it. [`StoreError::NotFound`] when it names a job that does not exist.
    /// Jobs without `after` (the common case) are inserted as they always were.
    async fn enqueue(&self, jobs: &[NewJob]) -> Result<()>;

    /// Atomically moves up to `limit` due pending jobs to `running`, locked by the
    /// worker, highest priority first and oldest first within a priority, and spends
    /// one attempt on each. No job is ever returned to two callers. Jobs whose rate or
    /// concurrency limit (see [`Store::set_limit`]) has no room are passed over and stay
    /// pending, their attempts unspent, and the claim says so (`held_back`).
    async fn claim(&self, params: &ClaimParams) -> Result<Claim>;

    /// The jobs running under `worker_id` whose ids are not in `known`: what a claim
    /// took for that worker when its answer was lost (the connection dropped as the
    /// claim committed). The worker runs them as if it had just claimed them; nothing
    /// else would, since it is alive.
    async fn lost_claims(&self, worker_id: &str, known: &[String]) -> Result<Vec<ClaimedJob>>;

    /// Applies the outcomes of finished (or released) attempts in one transaction.
    /// An entry whose job is no longer running under that worker and attempt (it was
    /// rescued meanwhile) is skipped and counted as stale.
    async fn settle(&self, batch: &[Settlement]) -> Result<SettleReport>;

    /// Puts the running jobs of dead or silent workers back to pending (or, when they
    /// have no attempts left, into the dead-letter table) and forgets those workers.
    async fn rescue(&self, params: &RescueParams) -> Result<RescueReport>;

    async fn get_job(&self, id: &str) -> Result<Option<Job>>;
    /// The job's parent, children, what it waits on and what waits on it (a job id
    /// of a live job or of a dead letter).
    async fn job_links(&self, id: &str) -> Result<JobLinks>;
    async fn list_jobs(&self, filter: &JobFilter) -> Result<Vec<Job>>;
    /// The attempts recorded for a job, oldest first.
    async fn job_attempts(&self, job_id: &str) -> Result<Vec<AttemptRecord>>;

    async fn get_dead(&self, id: &str) -> Result<Option<DeadJob>>;
    async fn list_dead(&self, filter: &DeadFilter) -> Result<Vec<DeadJob>>;
    /// Creates a new pending job from a dead-letter row, in one transaction with
    /// bumping the row's `resurrection_count` and pointing it at the new job.
    async fn replay_dead(&self, params: &ReplayParams) -> Result<()>;

    async fn stats(&self, now: Micros) -> Result<Stats>;

    async fn register_worker(&self, worker: &WorkerInfo) -> Result<()>;
    async fn heartbeat_worker(&self, worker_id: &str, now: Micros) -> Result<()>;
    async fn remove_worker(&self, worker_id: &str) -> Result<()>;
    async fn list_workers(&self) -> Result<Vec<WorkerInfo>>;
    /// Every registered worker, oldest first, with how many jobs it is running.
    async fn worker_loads(&self) -> Result<Vec<WorkerLoad>>;

    /// Records that a plugin version was loaded (or failed to load) by some daemon,
    /// with the job types it declares, so the CLI can validate payloads and list
    /// plugins without loading components itself.
    async fn record_plugin(&self, plugin: &PluginRecord) -> Result<()>;
    /// The newest loaded plugin record that declares this job type.
    async fn job_type(&self, name: &str) -> Result<Option<JobTypeRecord>>;
    async fn list_plugins(&self) -> Result<Vec<PluginRecord>>;
    /// Marks the serving loads of `file` at `digest` retired (the file was replaced by
    /// another version, or removed), so the history shows when each version served.
    async fn retire_plugin(&self, file: &str, digest: &str, at: Micros) -> Result<()>;

    /// A file whose modification means another process wrote to the database (the
    /// SQLite WAL), so a daemon can wake on it instead of polling tightly.
    fn change_file(&self) -> Option<PathBuf>;

    /// Notifications, pushed by the database, that another connection committed work
    /// that may be claimable (PostgreSQL's LISTEN/NOTIFY), on a connection of their own;
    /// `None` where the backend has no such thing (SQLite: see [`Store::change_file`]).
    /// Either way a daemon keeps polling as the fallback.
    async fn subscribe_changes(&self) -> Result<Option<ChangeStream>> {
        Ok(None)
    }

    // Operating the queue: dead-letter administration, monitoring, retention. The CLI
    // calls these, and an HTTP API can call the same ones.

    /// How many dead-letter rows the filter selects (its `after` and `limit` aside).
    async fn count_dead(&self, filter: &DeadFilter) -> Result<u64>;
    /// What the rows the filter selects add up to (its `after` and `limit` aside).
    async fn dead_stats(&self, filter: &DeadFilter) -> Result<DeadStats>;
    /// Marks a dead-letter row reviewed; [`StoreError::NotFound`] if there is none.
    async fn review_dead(&self, params: &ReviewParams) -> Result<()>;
    /// Deletes a dead-letter row and its attempts; [`StoreError::NotFound`] if there is none.
    async fn delete_dead(&self, id: &str) -> Result<()>;
    /// Deletes up to `filter.limit` of the rows the filter selects, with their attempts,
    /// in one transaction; returns how many went. Call again until it returns 0.
    async fn purge_dead(&self, filter: &DeadFilter) -> Result<u64>;
    /// How many completed jobs finished before `before`.
    async fn count_completed(&self, before: Micros) -> Result<u64>;
    /// Deletes up to `params.limit` completed jobs that finished before `params.before`,
    /// with their attempts, in one transaction; returns how many went.
    async fn purge_completed(&self, params: &PurgeParams) -> Result<u64>;
    /// The newest attempts (at most `limit`) that finished at or after `since`, completing
    /// and failed alike, newest first.
    async fn recent_attempts(&self, since: Micros, limit: u32) -> Result<Vec<AttemptSample>>;

    /// The committed value of a key in a plugin's key-value store (keyed by the
    /// plugin's declared name). Writes arrive only with completions: see
    /// [`SettleAction::Complete`].
    async fn kv_get(&self, plugin: &str, key: &str) -> Result<Option<String>>;

    /// Cancels a job: a pending one at once; a running one by setting its
    /// `cancel_requested` mark, which its daemon reads with
    /// [`Store::cancel_requests`] and answers by settling it with
    /// [`SettleAction::Cancel`]. A running job that is retried, or put back, while
    /// marked becomes `cancelled` instead of pending.
    async fn cancel_job(&self, id: &str, now: Micros) -> Result<CancelOutcome>;

    /// The jobs running under this worker that a user asked to cancel.
    async fn cancel_requests(&self, worker_id: &str) -> Result<Vec<String>>;

    /// Stops every daemon claiming from `queue` (it keeps taking new jobs); `false`
    /// when it was paused already.
    async fn pause_queue(&self, queue: &str, now: Micros) -> Result<bool>;
    /// Lets daemons claim from `queue` again; `false` when it was not paused.
    async fn resume_queue(&self, queue: &str) -> Result<bool>;
    /// Every queue with pending or running jobs, and every paused one, by name.
    async fn list_queues(&self) -> Result<Vec<QueueInfo>>;

    /// Sets an operator's rate and/or concurrency limit on a job type or a queue,
    /// replacing any limit it had (a plugin's included). Every claim on this database
    /// honours it at once: a job it holds back stays pending and spends no attempt.
    async fn set_limit(&self, limit: &SetLimit) -> Result<()>;
    /// `false` when that type or queue had no limit.
    async fn remove_limit(&self, scope: LimitScope, name: &str) -> Result<bool>;
    /// Every limit, types first, by name.
    async fn list_limits(&self) -> Result<Vec<FlowLimit>>;
    /// Writes the limits a plugin declares for its job types (a daemon does this when
    /// it loads the plugin), in one transaction: a type with a limit gets a plugin-set
    /// row, one without loses its plugin-set row, and an operator's row stays as it is.
    async fn set_plugin_limits(&self, limits: &[PluginLimit], now: Micros) -> Result<()>;
    /// When a rate limit that is out of tokens at `now` gets its next one, the
    /// earliest of them: a claimer held back by a rate wakes then. `None` when no rate
    /// limit is short of a token.
    async fn next_limited_claim(&self, now: Micros) -> Result<Option<Micros>>;

    /// Inserts `job` holding `unique_key`, unless a job of the same type holding that
    /// key is pending or running, or completed less than its own `keep_for` ago (at
    /// `job.created_at`): then nothing is inserted and that job's id comes back. A
    /// unique index decides, so racing enqueues (from any number of processes or
    /// hosts) create one job. `keep_for` is the new job's window: how long after it
    /// completes the key stays reserved (`None`: released when it completes).
    async fn enqueue_unique(
        &self,
        job: &NewJob,
        unique_key: &str,
        keep_for: Option<Micros>,
    ) -> Result<UniqueEnqueue>;

    /// Adds a schedule; fails with [`StoreError::Exists`] when one has that name.
    async fn add_schedule(&self, schedule: &CronSchedule) -> Result<()>;
    /// Every schedule, by name.
    async fn list_schedules(&self) -> Result<Vec<CronSchedule>>;
    /// `false` when no schedule has that name.
    async fn remove_schedule(&self, name: &str) -> Result<bool>;
    /// Pauses or resumes a schedule; a resume also sets its next firing (so the times
    /// it missed while paused are skipped). `false` when no schedule has that name.
    async fn set_schedule_paused(
        &self,
        name: &str,
        paused: bool,
        next_run_at: Micros,
    ) -> Result<bool>;
    /// Makes the schedules of `source` (a plugin's, `plugin NAME`: a daemon calls this
    /// when it loads the plugin) those given, in one transaction: each is inserted, or
    /// updated if it is that source's (keeping its next run unless its expression or
    /// time zone changed, so every daemon that loads the plugin agrees and each firing
    /// stays once), and that source's schedules not given are removed. A name held by
    /// a schedule of another source (an operator's) is left alone and returned.
    async fn sync_plugin_schedules(
        &self,
        source: &str,
        schedules: &[CronSchedule],
    ) -> Result<Vec<String>>;
    /// The schedules not paused whose next firing is at or before `now`.
    async fn due_schedules(&self, now: Micros) -> Result<Vec<CronSchedule>>;
    /// Fires a due schedule: in one transaction, moves its `next_run_at` from
    /// `due_at` on to `next_run_at` (only if it is still `due_at` and the schedule is not
    /// paused) and enqueues the job. `false` when another firer got there first: each
    /// firing is enqueued once, whatever the number of daemons.
    async fn fire_schedule(&self, params: &FireParams) -> Result<bool>;
}

/// Options that are not part of the URL.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// SQLite's `synchronous` setting; see [`Synchronous`].
    pub sqlite_synchronous: Synchronous,
    /// Largest number of pooled connections.
    pub max_connections: Option<u32>,
}

/// Opens the database a URL names: `postgres://USER@HOST/DB` (or `postgresql://…`),
/// or `sqlite://PATH` (or a bare file path). Does not migrate: see [`Store::migrate`].
pub async fn connect(url: &str, options: &ConnectOptions) -> Result<Arc<dyn Store>> {
    if is_postgres(url) {
        return Ok(Arc::new(PostgresStore::open(url, options).await?));
    }
    let store = SqliteStore::open(url, options).await?;
    Ok(Arc::new(store))
}

/// Whether a URL names a PostgreSQL database (else a SQLite file).
pub fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// The URL with any password replaced by `***`, for messages and logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}"),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_never_reach_a_message() {
        assert_eq!(
            redact_url("postgres://jobs:s3cret@db.internal:5432/jobhost?sslmode=require"),
            "postgres://jobs:***@db.internal:5432/jobhost?sslmode=require"
        );
        for url in [
            "postgres://postgres@127.0.0.1/test",
            "postgresql://localhost/jobs",
            "sqlite://jobhost.db",
            "jobhost.db",
        ] {
            assert_eq!(redact_url(url), url);
        }
    }
}
