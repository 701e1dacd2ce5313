//! One batch attempt: a fresh instance of a plugin that exports `batch-handler`, one
//! call of `run-batch` with up to the type's `batch-size` jobs of one type, and each
//! job's own outcome from the list it returns.
//!
//! Limits of a batch attempt: the instance is one, so the memory cap is the type's, as
//! for a single attempt; fuel and the wall-clock deadline are the type's per-attempt
//! figures times the number of jobs in the batch, so a batch of n may do the work of n
//! attempts and no more. Each job is recorded as having burnt an equal share of the
//! fuel. When the call as a whole fails (a trap, fuel or deadline run out, the memory
//! cap, a cancel) every job of the batch gets that outcome, and each is retried (or
//! dead-lettered) by its own attempt count. During `run-batch` the host's `enqueue`,
//! `kv-set` and `kv-delete` fail (they belong to one job's completion, and a batch's
//! jobs settle one by one); `kv-get` and `log` work.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::Engine;

use crate::bindings::{Job, JobError};
use crate::host::LogContext;
use crate::kv::{KvSource, KvView};
use crate::limits::Limits;
use crate::plugin::Plugin;
use crate::run::{self, Attempt, CancelFlag, JobInput, Outcome};

/// The limits of a batch of `n` jobs whose type has `per_job` limits.
pub fn batch_limits(per_job: Limits, n: usize) -> Limits {
    let n32 = u32::try_from(n.max(1)).unwrap_or(u32::MAX);
    Limits {
        fuel: per_job.fuel.saturating_mul(n.max(1) as u64),
        timeout: per_job.timeout.saturating_mul(n32),
        memory_mib: per_job.memory_mib,
    }
}

/// Runs `jobs` (all of one type that `plugin` takes in batches) in one call. Returns
/// one attempt per job, in order. Never panics on guest misbehaviour.
pub(crate) fn run_batch(
    engine: &Engine,
    kv: &Arc<dyn KvSource>,
    plugin: &Plugin,
    jobs: &[JobInput],
    cancel: &CancelFlag,
) -> Vec<Attempt> {
    let start = Instant::now();
    let Some(first) = jobs.first() else {
        return Vec::new();
    };
    let Some(pre) = plugin.batch_pre() else {
        let outcome = Outcome::Crashed(format!(
            "plugin {} does not export batch-handler",
            plugin.name()
        ));
        return every_job(jobs.len(), outcome, 0, start.elapsed());
    };
    let per_job = plugin
        .job_type(&first.job_type)
        .map_or(plugin.default_limits(), |spec| spec.limits);
    let limits = batch_limits(per_job, jobs.len());
    let log = LogContext {
        plugin: plugin.name_arc(),
        job_id: format!("batch of {} from {}", jobs.len(), first.id),
        job_type: first.job_type.clone(),
    };
    let kv = KvView::new(Some(kv.clone()), plugin.name_arc());
    let mut store = run::new_store(
        engine,
        log,
        kv,
        &limits,
        plugin.capabilities(),
        cancel.clone(),
    );
    store.data_mut().in_batch = true;
    let wit_jobs: Vec<Job> = jobs
        .iter()
        .map(|job| Job {
            id: job.id.clone(),
            job_type: job.job_type.clone(),
            payload: job.payload.clone(),
            attempt: job.attempt,
            max_attempts: job.max_attempts,
        })
        .collect();
    let result = pre.instantiate(&mut store).and_then(|bindings| {
        bindings
            .jobhost_plugin_batch_handler()
            .call_run_batch(&mut store, &wit_jobs)
    });
    let fuel_share = run::fuel_used(&store, &limits) / jobs.len() as u64;
    let duration = start.elapsed();
    let refused = store.data().http.refused.clone();
    let outcomes: Vec<Outcome> = match result {
        Ok(results) if results.len() == jobs.len() => results
            .into_iter()
            .map(|r| match r {
                Ok(result) => Outcome::Completed(result),
                Err(JobError::Retry(message)) => Outcome::Retry(message),
                Err(JobError::Fail(message)) => Outcome::Fail(message),
            })
            .collect(),
        Ok(results) => vec![
            Outcome::Crashed(format!(
                "run-batch returned {} results for {} jobs",
                results.len(),
                jobs.len()
            ));
            jobs.len()
        ],
        Err(error) => vec![run::classify(&error, store.data(), &limits); jobs.len()],
    };
    outcomes
        .into_iter()
        .map(|outcome| Attempt {
            outcome: run::refusals_are_permanent(outcome, &refused),
            fuel_used: fuel_share,
            duration,
            followups: Vec::new(),
            kv_writes: Vec::new(),
        })
        .collect()
}

fn every_job(n: usize, outcome: Outcome, fuel_used: u64, duration: Duration) -> Vec<Attempt> {
    (0..n)
        .map(|_| Attempt {
            outcome: outcome.clone(),
            fuel_used,
            duration,
            followups: Vec::new(),
            kv_writes: Vec::new(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_gets_the_fuel_and_time_of_its_jobs_and_one_memory_cap() {
        let per_job = Limits {
            fuel: 1_000,
            timeout: Duration::from_millis(200),
            memory_mib: 64,
        };
        let batch = batch_limits(per_job, 5);
        assert_eq!(batch.fuel, 5_000);
        assert_eq!(batch.timeout, Duration::from_secs(1));
        assert_eq!(batch.memory_mib, 64);
        assert_eq!(batch_limits(per_job, 1), per_job);
    }
}
