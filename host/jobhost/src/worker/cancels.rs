//! Cancelling running jobs. A user's `jobs cancel` marks the job in the database; this
//! task asks the database, while the pool has work, which of its jobs are marked, and
//! raises the cancel flag of the executor running each one. The executor then settles
//! the job as cancelled. A marked job not yet started is never started.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use jobhost_runtime::CancelFlag;
use tokio::sync::watch;
use tracing::{info, warn};

use super::{InFlight, PoolContext};

/// The attempts running now and the jobs a user asked to cancel, under one lock, so a
/// flag is raised only while its executor still runs the job it was raised for.
#[derive(Default)]
pub(crate) struct Cancels(Mutex<Inner>);

#[derive(Default)]
struct Inner {
    running: HashMap<String, CancelFlag>,
    requested: HashSet<String>,
}

impl Cancels {
    /// Called by an executor before it runs `job_id` with `flag`; `false` when the job
    /// was cancelled meanwhile and must not start.
    pub fn start(&self, job_id: &str, flag: &CancelFlag) -> bool {
        let mut inner = self.0.lock().expect("cancels lock");
        if inner.requested.contains(job_id) {
            return false;
        }
        inner.running.insert(job_id.to_string(), flag.clone());
        true
    }

    /// Called by the executor when the attempt ended; `true` when a user cancelled it
    /// (the flag is then cleared for the executor's next job).
    pub fn finish(&self, job_id: &str, flag: &CancelFlag) -> bool {
        let mut inner = self.0.lock().expect("cancels lock");
        inner.running.remove(job_id);
        let cancelled = inner.requested.contains(job_id);
        if cancelled {
            flag.reset();
        }
        cancelled
    }

    /// The jobs of this pool now marked for cancelling (the whole set, replacing the
    /// last one): raises the flag of each that runs.
    fn requested(&self, ids: Vec<String>) {
        let mut inner = self.0.lock().expect("cancels lock");
        for id in &ids {
            if let Some(flag) = inner.running.get(id) {
                info!(job_id = %id, "cancel requested: interrupting the attempt");
                flag.cancel();
            }
        }
        inner.requested = ids.into_iter().collect();
    }
}

pub(super) async fn run(
    ctx: Arc<PoolContext>,
    cancels: Arc<Cancels>,
    in_flight: Arc<InFlight>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        if in_flight.get() > 0 {
            match ctx.store.cancel_requests(&ctx.worker_id).await {
                Ok(ids) => cancels.requested(ids),
                Err(e) => warn!("could not read the cancel requests, will try again: {e}"),
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(ctx.config.poll_interval) => {}
            _ = stop.changed() => return,
        }
    }
}
