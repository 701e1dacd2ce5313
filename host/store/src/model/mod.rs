//! The rows the store reads and writes, and the params its methods take.
//!
//! `limits.rs` holds the rate and concurrency limits, `flow.rs` the links of jobs that
//! wait on other jobs; the rest is here.

use serde::{Deserialize, Serialize};

mod flow;
mod limits;

pub use flow::*;
pub use limits::*;

/// Microseconds since the Unix epoch: every time the store keeps.
pub type Micros = i64;

/// The current time as [`Micros`].
pub fn now_micros() -> Micros {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as Micros)
        .unwrap_or(0)
}

/// A fresh job id: a UUIDv7, so ids sort by creation time and index appends stay cheap.
pub fn new_job_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The queue a job goes to when none is named.
pub const DEFAULT_QUEUE: &str = "default";

/// A job's state while it lives in `jobs`. Dead jobs live in `dead_letter_jobs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Pending,
    Running,
    Completed,
    Cancelled,
    /// Enqueued `after` other jobs, some of which have not completed yet: never claimed.
    Waiting,
    /// A job it waits on was dead-lettered or cancelled: it runs only if a replay of
    /// that job completes.
    Blocked,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Running => "running",
            JobStatus::Completed => "completed",
            JobStatus::Cancelled => "cancelled",
            JobStatus::Waiting => "waiting",
            JobStatus::Blocked => "blocked",
        }
    }

    pub fn parse(s: &str) -> Option<JobStatus> {
        Some(match s {
            "pending" => JobStatus::Pending,
            "running" => JobStatus::Running,
            "completed" => JobStatus::Completed,
            "cancelled" => JobStatus::Cancelled,
            "waiting" => JobStatus::Waiting,
            "blocked" => JobStatus::Blocked,
            _ => return None,
        })
    }
}

/// Why a job was moved to the dead-letter table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadReason {
    MaxRetriesExceeded,
    PermanentFailure,
    JobNotFound,
    InvalidArguments,
    Timeout,
    OutOfMemory,
    Crashed,
}

impl DeadReason {
    pub const ALL: [DeadReason; 7] = [
        DeadReason::MaxRetriesExceeded,
        DeadReason::PermanentFailure,
        DeadReason::JobNotFound,
        DeadReason::InvalidArguments,
        DeadReason::Timeout,
        DeadReason::OutOfMemory,
        DeadReason::Crashed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeadReason::MaxRetriesExceeded => "max_retries_exceeded",
            DeadReason::PermanentFailure => "permanent_failure",
            DeadReason::JobNotFound => "job_not_found",
            DeadReason::InvalidArguments => "invalid_arguments",
            DeadReason::Timeout => "timeout",
            DeadReason::OutOfMemory => "out_of_memory",
            DeadReason::Crashed => "crashed",
        }
    }

    pub fn parse(s: &str) -> Option<DeadReason> {
        DeadReason::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// A job to insert.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    /// Chosen by the caller (see [`new_job_id`]) so it can be returned before commit.
    pub id: String,
    pub job_type: String,
    pub queue: String,
    /// A JSON document.
    pub payload: String,
    /// Higher runs first; 0 is normal.
    pub priority: i32,
    pub max_attempts: u32,
    /// Not claimed before this time.
    pub run_at: Micros,
    pub created_at: Micros,
    /// The job whose completion created this one, for follow-ups.
    pub parent_id: Option<String>,
    /// Jobs this one waits on: it is not claimed before every one of them completed
    /// (see [`JobStatus::Waiting`]). Empty for most jobs, which then cost nothing extra.
    pub after: Vec<String>,
}

/// A job as stored in `jobs`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Job {
    pub id: String,
    pub job_type: String,
    pub queue: String,
    pub payload: String,
    pub priority: i32,
    pub status: JobStatus,
    /// Attempts spent so far (the running one included).
    pub attempt: u32,
    pub max_attempts: u32,
    pub run_at: Micros,
    pub created_at: Micros,
    /// When the latest attempt started.
    pub started_at: Option<Micros>,
    pub finished_at: Option<Micros>,
    /// The worker holding the job while it runs.
    pub locked_by: Option<String>,
    pub last_error: Option<String>,
    /// The completed job's result (a JSON document).
    pub result: Option<String>,
    /// Fuel burnt over all attempts.
    pub fuel_used: u64,
    /// Digest of the plugin that ran the latest attempt.
    pub plugin_digest: Option<String>,
    pub parent_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ClaimParams {
    pub worker_id: String,
    pub limit: u32,
    pub now: Micros,
}

/// What a claim took, and whether a limit held due jobs back.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Claim {
    pub jobs: Vec<ClaimedJob>,
    /// A rate or concurrency limit with no room may have held due jobs back (it passed
    /// them over, or its jobs were not looked for): they stay pending, and a claim may
    /// take them once the limit has room again. Without it, a claim that took fewer
    /// jobs than asked took every due job it could: more comes only with new work
    /// (which wakes the daemons) or time.
    pub held_back: bool,
}

/// A job just claimed: `attempt` already counts this attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedJob {
    pub id: String,
    pub job_type: String,
    pub queue: String,
    pub payload: String,
    pub priority: i32,
    pub attempt: u32,
    pub max_attempts: u32,
    pub created_at: Micros,
    pub run_at: Micros,
}

/// Puts claimed jobs back in claim order: `RETURNING` hands them back in none.
pub(crate) fn in_claim_order(claimed: &mut [ClaimedJob]) {
    claimed.sort_by(|a, b| {
        b.priority
            .cmp(&a.priority)
            .then(a.run_at.cmp(&b.run_at))
            .then(a.created_at.cmp(&b.created_at))
    });
}

/// How one attempt ended, as kept in `job_attempts`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttemptRecord {
    pub job_id: String,
    pub attempt: u32,
    pub worker_id: String,
    pub started_at: Micros,
    pub finished_at: Micros,
    /// `completed`, `retry`, a [`DeadReason`] string, or `rescued` (written by
    /// [`Store::rescue`](crate::Store::rescue) for an attempt whose worker stopped).
    pub outcome: String,
    pub error: Option<String>,
    pub fuel_used: u64,
    pub plugin_digest: Option<String>,
}

/// What to do with a job whose attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub enum SettleAction {
    /// Mark completed with its result and insert the follow-ups it asked for.
    Complete {
        result: String,
        followups: Vec<NewJob>,
        /// The plugin's key-value writes, committed with the completion.
        kv_writes: Vec<KvWrite>,
    },
    /// Back to pending, not before `run_at`.
    Retry { error: String, run_at: Micros },
    /// Delete from `jobs` and insert into `dead_letter_jobs`.
    DeadLetter { reason: DeadReason, error: String },
    /// Back to pending at once without spending the attempt (a graceful shutdown
    /// returning work it had claimed but not finished). No attempt is recorded.
    Release,
    /// Cancelled at a user's request (`jobs cancel`) while it ran: marked `cancelled`,
    /// never retried nor dead-lettered. The attempt is recorded as `cancelled`.
    Cancel,
}

/// What [`Store::cancel_job`](crate::Store::cancel_job) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelOutcome {
    /// The job was pending and is now `cancelled`.
    Cancelled,
    /// The job is running: its daemon was asked to interrupt it, and records it as
    /// `cancelled` when the attempt stops (or as completed, if it finished first).
    Requested,
    /// The job had already ended, in this state.
    AlreadyEnded(JobStatus),
    /// No job has this id (a dead-lettered job is in the dead-letter table).
    NotFound,
}

/// One write to a plugin's key-value store: `value` `None` removes the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvWrite {
    /// The plugin's declared name.
    pub plugin: String,
    pub key: String,
    pub value: Option<String>,
}

/// A key to set, as the settle batch leaves it: plugin, key, value, and when the
/// completion that wrote it finished.
pub(crate) type KvSet<'a> = (&'a str, &'a str, &'a str, Micros);

/// The writes of a settle batch's completions as they must end up: the last write to
/// each key wins, split into the keys to set and the keys to remove, so each backend
/// applies them in two statements that never touch one row twice.
pub(crate) fn final_kv_writes<'a>(
    completed: &[&'a Settlement],
) -> (Vec<KvSet<'a>>, Vec<(&'a str, &'a str)>) {
    let mut last = std::collections::BTreeMap::new();
    for s in completed {
        if let SettleAction::Complete { kv_writes, .. } = &s.action {
            for w in kv_writes {
                let write = (w.value.as_deref(), s.record.finished_at);
                last.insert((w.plugin.as_str(), w.key.as_str()), write);
            }
        }
    }
    let (mut set, mut removed) = (Vec::new(), Vec::new());
    for ((plugin, key), (value, at)) in last {
        match value {
            Some(value) => set.push((plugin, key, value, at)),
            None => removed.push((plugin, key)),
        }
    }
    (set, removed)
}

/// One entry of a [`Store::settle`] batch. The store applies it only if the job is
/// still `running`, locked by `record.worker_id`, at `record.attempt`.
#[derive(Debug, Clone, PartialEq)]
pub struct Settlement {
    pub record: AttemptRecord,
    pub action: SettleAction,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SettleReport {
    pub applied: usize,
    pub stale: usize,
    /// Waiting jobs that became pending because the last job they waited on completed.
    pub released: usize,
}

#[derive(Debug, Clone)]
pub struct RescueParams {
    pub now: Micros,
    /// Workers known to be gone (their process is not alive).
    pub dead_workers: Vec<String>,
    /// Workers whose last heartbeat is older than this are treated as dead too.
    pub stale_before: Micros,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RescueReport {
    /// Jobs put back to pending.
    pub requeued: Vec<String>,
    /// Jobs that had no attempts left and were dead-lettered.
    pub dead_lettered: Vec<String>,
    pub workers_removed: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    pub status: Option<JobStatus>,
    pub job_type: Option<String>,
    pub queue: Option<String>,
    /// Newest first; at most this many.
    pub limit: u32,
}

/// A row of `dead_letter_jobs`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeadJob {
    /// The id the job had while alive.
    pub id: String,
    pub job_type: String,
    pub queue: String,
    pub payload: String,
    pub priority: i32,
    pub attempts: u32,
    pub max_attempts: u32,
    pub reason: DeadReason,
    pub last_error: String,
    pub plugin_digest: Option<String>,
    pub fuel_used: u64,
    pub created_at: Micros,
    pub failed_at: Micros,
    pub reviewed: bool,
    /// When it was marked reviewed.
    pub reviewed_at: Option<Micros>,
    pub notes: Option<String>,
    pub resurrection_count: u32,
    /// The job the latest replay created.
    pub replayed_job_id: Option<String>,
    pub parent_id: Option<String>,
}

/// Which dead-letter rows a list, count, purge or summary takes. Every field narrows.
#[derive(Debug, Clone, Default)]
pub struct DeadFilter {
    pub job_type: Option<String>,
    pub reason: Option<DeadReason>,
    pub reviewed: Option<bool>,
    /// Failed at or after this time.
    pub since: Option<Micros>,
    /// Failed before this time.
    pub until: Option<Micros>,
    /// `Some(false)`: only rows never replayed; `Some(true)`: only replayed ones.
    pub replayed: Option<bool>,
    /// Keyset pagination: only rows after this one in newest-first order (pass the
    /// last row of the previous page, see [`DeadJob::cursor`]).
    pub after: Option<DeadCursor>,
    /// Newest first; at most this many (0: the default, 100).
    pub limit: u32,
}

/// A position in the newest-first order of dead letters: `(failed_at, id)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadCursor {
    pub failed_at: Micros,
    pub id: String,
}

impl DeadJob {
    /// Where the next page after this row starts.
    pub fn cursor(&self) -> DeadCursor {
        DeadCursor {
            failed_at: self.failed_at,
            id: self.id.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ReplayParams {
    pub dead_id: String,
    /// The new job's id.
    pub new_job_id: String,
    pub now: Micros,
    /// Defaults to the dead row's `max_attempts`.
    pub max_attempts: Option<u32>,
    pub queue: Option<String>,
    pub priority: Option<i32>,
    /// Start the new job with the attempts the dead one spent (default: from zero).
    pub keep_attempts: bool,
}

/// Counts for `jobhost stats`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stats {
    /// Pending and due now.
    pub pending: u64,
    /// Pending with `run_at` in the future.
    pub scheduled: u64,
    pub running: u64,
    pub completed: u64,
    pub cancelled: u64,
    /// Waiting on jobs that have not completed yet.
    pub waiting: u64,
    /// Waiting on a job that was dead-lettered or cancelled.
    pub blocked: u64,
    pub dead: u64,
    pub dead_unreviewed: u64,
    pub completed_last_hour: u64,
    /// Attempts that ended in a failure (retry, dead letter, or rescued from a worker
    /// that stopped) in the last hour.
    pub failed_last_hour: u64,
    /// Age of the oldest due pending job, in microseconds.
    pub oldest_pending_age: Option<Micros>,
    pub by_type: Vec<TypeCounts>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TypeCounts {
    pub job_type: String,
    pub pending: u64,
    pub running: u64,
    pub completed: u64,
    pub dead: u64,
}

/// A daemon process, registered while it runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkerInfo {
    pub id: String,
    pub host: String,
    pub pid: u32,
    pub started_at: Micros,
    pub heartbeat_at: Micros,
}

/// A registered daemon and how many jobs it is running now (`jobhost workers`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkerLoad {
    #[serde(flatten)]
    pub worker: WorkerInfo,
    /// Jobs claimed by it and not yet settled.
    pub running: u64,
}

/// A plugin version some daemon loaded, or tried to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PluginRecord {
    /// sha256 of the `.wasm` file, hex.
    pub digest: String,
    pub file: String,
    pub name: String,
    pub version: String,
    pub loaded_at: Micros,
    /// When it stopped serving (replaced or removed); `None` while it serves.
    pub retired_at: Option<Micros>,
    /// Why it could not be loaded; `None` for a good load.
    pub error: Option<String>,
    pub job_types: Vec<JobTypeRecord>,
}

/// A job type as a plugin declares it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobTypeRecord {
    pub name: String,
    /// The digest of the plugin that declares it.
    pub plugin_digest: String,
    /// JSON Schema of the payload, as a JSON document.
    pub payload_schema: Option<String>,
    pub max_attempts: Option<u32>,
    /// Payload fields whose values make a job's unique key when its enqueue names none.
    pub unique_key_fields: Vec<String>,
}

/// Unique-key fields as the `job_types` column keeps them: a JSON array, `None` for none.
pub(crate) fn fields_json(fields: &[String]) -> Option<String> {
    (!fields.is_empty()).then(|| serde_json::to_string(fields).unwrap_or_default())
}

/// The unique-key fields a `job_types` column holds (none when it is NULL or unreadable).
pub(crate) fn fields_of(column: Option<String>) -> Vec<String> {
    column
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default()
}

/// Marks a dead letter reviewed.
#[derive(Debug, Clone)]
pub struct ReviewParams {
    pub id: String,
    /// Replaces any earlier note; `None` keeps it.
    pub note: Option<String>,
    pub now: Micros,
}

/// What the dead-letter rows a [`DeadFilter`] selects add up to.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DeadStats {
    pub total: u64,
    pub unreviewed: u64,
    /// Most first.
    pub by_reason: Vec<NamedCount>,
    /// Most first.
    pub by_type: Vec<NamedCount>,
    /// When the oldest of them failed.
    pub oldest_failed_at: Option<Micros>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NamedCount {
    pub name: String,
    pub count: u64,
}

/// Deletes completed jobs (with their attempts) that finished before `before`, at most
/// `limit` of them in one transaction, so a purge never holds the write lock long.
#[derive(Debug, Clone)]
pub struct PurgeParams {
    pub before: Micros,
    pub limit: u32,
}

/// One finished attempt, for durations and fuel by job type: failed attempts from
/// `job_attempts`, completing ones rebuilt from the job row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttemptSample {
    pub job_type: String,
    /// `completed`, or what a failed attempt recorded (`retry`, a dead-letter reason,
    /// `rescued`).
    pub outcome: String,
    pub started_at: Micros,
    pub finished_at: Micros,
    pub fuel_used: u64,
}

/// One queue, for `jobhost queues list`: every queue with pending or running jobs, and
/// every paused one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueInfo {
    pub queue: String,
    pub pending: u64,
    pub running: u64,
    pub paused: bool,
    /// When it was paused.
    pub paused_at: Option<Micros>,
}

/// What [`Store::enqueue_unique`](crate::Store::enqueue_unique) did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UniqueEnqueue {
    /// The new job's id, or the id of the live job that holds the key.
    pub id: String,
    /// `false` when a job of that type and key was pending or running already.
    pub created: bool,
}

/// A cron schedule: a job enqueued at every time its expression names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CronSchedule {
    pub name: String,
    /// The cron expression (5 fields, or 6 with seconds first), read in `timezone`.
    pub expr: String,
    /// The IANA time zone the expression is read in (`UTC` by default).
    pub timezone: String,
    /// Where it came from: [`SCHEDULE_BY_OPERATOR`], or `plugin NAME` for one a
    /// plugin declares (see [`Store::sync_plugin_schedules`](crate::Store::sync_plugin_schedules)).
    pub source: String,
    pub job_type: String,
    /// The payload of every job it enqueues, a JSON document.
    pub payload: String,
    pub queue: String,
    pub priority: i32,
    pub max_attempts: u32,
    pub paused: bool,
    /// The next firing; a paused schedule keeps it but does not fire.
    pub next_run_at: Micros,
    pub last_run_at: Option<Micros>,
    pub created_at: Micros,
}

/// The source of a schedule added with `jobhost cron add`.
pub const SCHEDULE_BY_OPERATOR: &str = "operator";

/// The source of the schedules a plugin declares.
pub fn schedule_by_plugin(plugin: &str) -> String {
    format!("plugin {plugin}")
}

/// One firing of a due schedule: see [`Store::fire_schedule`](crate::Store::fire_schedule).
#[derive(Debug, Clone, PartialEq)]
pub struct FireParams {
    pub name: String,
    /// The `next_run_at` the firer read: the firing happens only if it is still that.
    pub due_at: Micros,
    /// The firing after this one.
    pub next_run_at: Micros,
    /// The job to enqueue.
    pub job: NewJob,
}
