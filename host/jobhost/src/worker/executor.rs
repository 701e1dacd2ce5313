//! An executor thread: takes claimed jobs one at a time, runs each attempt in a fresh
//! sandbox, and hands the settlement to the settler. Attempts run on OS threads, not on
//! the async runtime, because a WebAssembly call is CPU work that must not stall it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::Receiver;
use jobhost_runtime::{CancelFlag, FollowUp, JobInput, Outcome};
use jobhost_store::{
    ClaimedJob, DeadReason, KvWrite, Micros, NewJob, SettleAction, Settlement, now_micros,
};
use tokio::sync::mpsc::UnboundedSender;
use tracing::{debug, info, info_span, warn};

use super::batches::Work;
use super::cancels::Cancels;
use super::pace::Pace;
use super::{InFlight, PoolContext};
use crate::config::DEFAULT_MAX_ATTEMPTS;
use crate::queue::EnqueueRequest;
use crate::queue::outcome::{AttemptFacts, AttemptResult, settlement_for};

/// What an executor thread holds.
pub(super) struct Executor {
    pub index: usize,
    pub ctx: Arc<PoolContext>,
    pub jobs: Receiver<Work>,
    pub finished: UnboundedSender<Settlement>,
    pub cancel: CancelFlag,
    pub cancels: Arc<Cancels>,
    pub stopping: Arc<AtomicBool>,
    pub pace: Arc<Pace>,
    pub in_flight: Arc<InFlight>,
}

impl Executor {
    pub(super) fn spawn(self) -> JoinHandle<()> {
        std::thread::Builder::new()
            .name(format!("executor-{}", self.index))
            .spawn(move || self.run())
            .expect("spawning an executor thread")
    }

    fn run(self) {
        let ctx = &self.ctx;
        for work in self.jobs.iter() {
            let began = Instant::now();
            let done = if self.stopping.load(Ordering::SeqCst) {
                let jobs = match work {
                    Work::One(job) => vec![job],
                    Work::Batch(jobs) => jobs,
                };
                jobs.into_iter()
                    .map(|job| {
                        let settlement = put_back(ctx, &job);
                        (job, settlement)
                    })
                    .collect()
            } else {
                match work {
                    Work::One(job) => {
                        let settlement = execute(ctx, &job, &self.cancel, &self.cancels);
                        vec![(job, settlement)]
                    }
                    Work::Batch(jobs) => execute_batch(ctx, jobs, &self.cancel, &self.cancels),
                }
            };
            let count = done.len();
            // Counted before the settler can see them, which releases them.
            self.in_flight.finished(count);
            for (job, settlement) in done {
                log_outcome(&job, &settlement);
                if !matches!(settlement.action, SettleAction::Release) {
                    ctx.metrics
                        .attempt_finished(&job.job_type, &settlement.record);
                }
                if self.finished.send(settlement).is_err() {
                    warn!(job_id = %job.id, "the settler is gone; the job will be rescued");
                }
            }
            self.pace.finished(count, began.elapsed());
        }
    }
}

/// One line per finished attempt, carrying the job's id, type and attempt, so a log
/// search by job id finds its whole story. Completions log at debug: they are the bulk.
fn log_outcome(job: &ClaimedJob, settlement: &Settlement) {
    let (id, job_type, attempt) = (&job.id, &job.job_type, job.attempt);
    match &settlement.action {
        SettleAction::Complete { followups, .. } => debug!(
            job_id = %id, job_type = %job_type, attempt, followups = followups.len(),
            "completed"
        ),
        SettleAction::Retry { error, run_at } => info!(
            job_id = %id, job_type = %job_type, attempt,
            retry_in_ms = (run_at - settlement.record.finished_at) / 1000, error = %error,
            "attempt failed; will retry"
        ),
        SettleAction::DeadLetter { reason, error } => warn!(
            job_id = %id, job_type = %job_type, attempt, reason = reason.as_str(),
            error = %error, "dead-lettered"
        ),
        SettleAction::Release => debug!(job_id = %id, job_type = %job_type, "released"),
        SettleAction::Cancel => info!(job_id = %id, job_type = %job_type, attempt, "cancelled"),
    }
}

fn put_back(ctx: &PoolContext, job: &ClaimedJob) -> Settlement {
    let now = now_micros();
    settlement_for(
        job,
        facts(ctx, now, now, 0, None),
        AttemptResult::Interrupted,
        &ctx.backoff(),
    )
}

fn facts(
    ctx: &PoolContext,
    started_at: Micros,
    finished_at: Micros,
    fuel_used: u64,
    plugin_digest: Option<String>,
) -> AttemptFacts {
    AttemptFacts {
        worker_id: ctx.worker_id.clone(),
        started_at,
        finished_at,
        fuel_used,
        plugin_digest,
    }
}

/// Runs one attempt of `job` and decides what becomes of the job.
fn execute(
    ctx: &PoolContext,
    job: &ClaimedJob,
    cancel: &CancelFlag,
    cancels: &Cancels,
) -> Settlement {
    let started_at = now_micros();
    let Some(plugin) = ctx.registry.get(&job.job_type) else {
        let result = AttemptResult::Permanent {
            reason: DeadReason::JobNotFound,
            error: format!(
                "no plugin in {} handles job type {:?}",
                ctx.config.plugins_dir.display(),
                job.job_type
            ),
        };
        return settlement_for(
            job,
            facts(ctx, started_at, now_micros(), 0, None),
            result,
            &ctx.backoff(),
        );
    };
    let digest = Some(plugin.digest().to_string());
    let _span = info_span!("attempt", job_id = %job.id, job_type = %job.job_type,
        attempt = job.attempt, plugin = %plugin.digest()[..12.min(plugin.digest().len())])
    .entered();

    if let Some(problem) = payload_problem(&plugin, job) {
        let result = AttemptResult::Permanent {
            reason: DeadReason::InvalidArguments,
            error: problem,
        };
        return settlement_for(
            job,
            facts(ctx, started_at, now_micros(), 0, digest),
            result,
            &ctx.backoff(),
        );
    }

    let input = input_of(job);
    if !cancels.start(&job.id, cancel) {
        return settlement_for(
            job,
            facts(ctx, started_at, now_micros(), 0, digest),
            AttemptResult::Cancelled,
            &ctx.backoff(),
        );
    }
    let attempt = ctx.runtime.run(&plugin, &input, cancel);
    let cancelled_by_user = cancels.finish(&job.id, cancel);
    let finished_at = now_micros();
    let (followups, writes) = (attempt.followups, attempt.kv_writes);
    let result = attempt_result(
        attempt.outcome,
        cancelled_by_user,
        |result| match followup_jobs(ctx, job, followups, finished_at) {
            Ok(followups) => {
                let kv_writes = kv_writes(&plugin, writes);
                ctx.kv.hold(&kv_writes, &job.id, job.attempt);
                AttemptResult::Completed {
                    result,
                    followups,
                    kv_writes,
                }
            }
            Err(error) => AttemptResult::Permanent {
                reason: DeadReason::PermanentFailure,
                error,
            },
        },
    );
    settlement_for(
        job,
        facts(ctx, started_at, finished_at, attempt.fuel_used, digest),
        result,
        &ctx.backoff(),
    )
}

/// What becomes of a job whose attempt ended with `outcome`; `completed` turns a
/// result into the completion (with follow-ups and writes, where there are any).
fn attempt_result(
    outcome: Outcome,
    cancelled_by_user: bool,
    completed: impl FnOnce(String) -> AttemptResult,
) -> AttemptResult {
    match outcome {
        Outcome::Completed(result) => completed(result),
        Outcome::Retry(error) => retryable(DeadReason::MaxRetriesExceeded, error),
        Outcome::Fail(error) => AttemptResult::Permanent {
            reason: DeadReason::PermanentFailure,
            error,
        },
        Outcome::Timeout(error) => retryable(DeadReason::Timeout, error),
        Outcome::OutOfMemory(error) => retryable(DeadReason::OutOfMemory, error),
        Outcome::Crashed(error) => retryable(DeadReason::Crashed, error),
        Outcome::Cancelled if cancelled_by_user => AttemptResult::Cancelled,
        Outcome::Cancelled => AttemptResult::Interrupted,
    }
}

/// Runs a batch of jobs of one type in one call of the plugin's `run-batch`, and
/// settles each by its own outcome. A job whose payload fails the schema, or that was
/// cancelled before it started, is settled alone; when the plugin no longer takes
/// batches (it was replaced meanwhile), each job runs alone.
fn execute_batch(
    ctx: &PoolContext,
    batch: Vec<ClaimedJob>,
    cancel: &CancelFlag,
    cancels: &Cancels,
) -> Vec<(ClaimedJob, Settlement)> {
    let started_at = now_micros();
    let plugin = batch
        .first()
        .and_then(|job| ctx.registry.get(&job.job_type))
        .filter(|plugin| plugin.takes_batches());
    let Some(plugin) = plugin else {
        return batch
            .into_iter()
            .map(|job| {
                let settlement = execute(ctx, &job, cancel, cancels);
                (job, settlement)
            })
            .collect();
    };
    let digest = Some(plugin.digest().to_string());
    let mut done = Vec::new();
    let mut ready = Vec::new();
    for job in batch {
        let alone = if let Some(problem) = payload_problem(&plugin, &job) {
            Some(AttemptResult::Permanent {
                reason: DeadReason::InvalidArguments,
                error: problem,
            })
        } else if !cancels.start(&job.id, cancel) {
            Some(AttemptResult::Cancelled)
        } else {
            None
        };
        match alone {
            Some(result) => {
                let f = facts(ctx, started_at, now_micros(), 0, digest.clone());
                let settlement = settlement_for(&job, f, result, &ctx.backoff());
                done.push((job, settlement));
            }
            None => ready.push(job),
        }
    }
    if ready.is_empty() {
        return done;
    }
    let inputs: Vec<JobInput> = ready.iter().map(input_of).collect();
    debug!(job_type = %ready[0].job_type, jobs = ready.len(), "running a batch");
    let attempts = ctx.runtime.run_batch(&plugin, &inputs, cancel);
    let finished_at = now_micros();
    for (job, attempt) in ready.into_iter().zip(attempts) {
        let cancelled_by_user = cancels.finish(&job.id, cancel);
        let result = attempt_result(attempt.outcome, cancelled_by_user, |result| {
            AttemptResult::Completed {
                result,
                followups: Vec::new(),
                kv_writes: Vec::new(),
            }
        });
        let f = facts(
            ctx,
            started_at,
            finished_at,
            attempt.fuel_used,
            digest.clone(),
        );
        let settlement = settlement_for(&job, f, result, &ctx.backoff());
        done.push((job, settlement));
    }
    done
}

fn input_of(job: &ClaimedJob) -> JobInput {
    JobInput {
        id: job.id.clone(),
        job_type: job.job_type.clone(),
        payload: job.payload.clone(),
        attempt: job.attempt,
        max_attempts: job.max_attempts,
    }
}

fn retryable(reason_when_exhausted: DeadReason, error: String) -> AttemptResult {
    AttemptResult::Retryable {
        reason_when_exhausted,
        error,
    }
}

/// The attempt's key-value writes, in the plugin's store.
fn kv_writes(
    plugin: &jobhost_runtime::Plugin,
    writes: Vec<jobhost_runtime::KvWrite>,
) -> Vec<KvWrite> {
    writes
        .into_iter()
        .map(|w| KvWrite {
            plugin: plugin.name().to_string(),
            key: w.key,
            value: w.value,
        })
        .collect()
}

/// Checks the payload against the type's schema; a job enqueued before its plugin
/// declared one, or by another plugin, is checked here for the first time.
fn payload_problem(plugin: &jobhost_runtime::Plugin, job: &ClaimedJob) -> Option<String> {
    let spec = plugin.job_type(&job.job_type)?;
    spec.payload_schema.as_ref()?;
    let payload = match serde_json::from_str(&job.payload) {
        Ok(payload) => payload,
        Err(e) => return Some(format!("the payload is not valid JSON: {e}")),
    };
    spec.validate_payload(&payload).err().map(|e| e.to_string())
}

/// Builds the rows of the follow-up jobs a completed attempt asked for. They are
/// inserted in the same transaction that completes the job.
fn followup_jobs(
    ctx: &PoolContext,
    parent: &ClaimedJob,
    followups: Vec<FollowUp>,
    now: Micros,
) -> Result<Vec<NewJob>, String> {
    followups
        .into_iter()
        .map(|f| {
            let default_max_attempts = ctx
                .registry
                .get(&f.job_type)
                .and_then(|p| p.job_type(&f.job_type).and_then(|t| t.max_attempts))
                .unwrap_or(DEFAULT_MAX_ATTEMPTS);
            let request = EnqueueRequest {
                job_type: f.job_type,
                payload: f.payload,
                priority: f.priority.unwrap_or(0),
                delay: f.delay_ms.map(std::time::Duration::from_millis),
                at: None,
                max_attempts: f.max_attempts,
                queue: f.queue,
                parent_id: Some(parent.id.clone()),
                after: f.after,
            };
            let mut job = request
                .into_new_job(None, default_max_attempts, now)
                .map_err(|e| format!("a follow-up job was refused: {e}"))?;
            job.id = f.id;
            Ok(job)
        })
        .collect()
}
