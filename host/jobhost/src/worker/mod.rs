//! The worker pool: claims jobs, runs their attempts, settles their outcomes.
//!
//! Three parts joined by channels, so that the database sees batches and the sandbox
//! never waits on the database:
//! - the dispatcher (`dispatcher.rs`, a task) claims up to `claim_batch` jobs at a time
//!   while the pool has room, and sleeps until woken when there is nothing to claim;
//! - executors (`executor.rs`, `concurrency` OS threads) run one attempt each at a time
//!   in a fresh sandbox;
//! - the settler (`settler.rs`, a task) writes finished attempts back, as many per
//!   transaction as have piled up, and frees their room in the pool.
//!
//! - `batches.rs` groups the claimed jobs of types a plugin takes in batches;
//! - `cancels.rs` (a task) interrupts the attempts of jobs a user cancelled;
//! - `pace.rs` decides how many jobs the dispatcher claims ahead of the executors;
//! - `kv.rs` reads the plugins' key-value stores from the database for the runtime.
//!
//! Shutdown (`shutdown`): stop claiming, let running attempts finish within the grace
//! period, interrupt the rest, and put every unfinished job back.

mod batches;
mod cancels;
mod dispatcher;
mod executor;
mod kv;
mod pace;
mod settler;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use jobhost_runtime::{CancelFlag, Registry, Runtime};
use jobhost_store::{ClaimedJob, Settlement, Store};
use tokio::sync::{Notify, watch};
use tracing::{info, warn};

use crate::config::Config;
use crate::metrics::Metrics;
use crate::queue::Backoff;

pub use kv::StoreKv;

/// What every part of the pool needs to see.
pub struct PoolContext {
    pub store: Arc<dyn Store>,
    pub runtime: Runtime,
    pub registry: Arc<Registry>,
    pub config: Config,
    pub worker_id: String,
    /// Notified when new work may be there to claim.
    pub wake: Arc<Notify>,
    /// The plugins' key-value stores, which the runtime reads too.
    pub kv: Arc<StoreKv>,
    /// Counts finished attempts for `/metrics`.
    pub metrics: Arc<Metrics>,
}

impl PoolContext {
    fn backoff(&self) -> Backoff {
        Backoff {
            base: self.config.backoff_base,
            cap: self.config.backoff_cap,
        }
    }
}

/// Jobs claimed and not yet settled: the pool's measure of how full it is, and (by id)
/// what it knows it holds, so that a claim whose answer was lost can be found. Of
/// those, `finished` have run and wait only for their settlement to be written.
#[derive(Default)]
pub(crate) struct InFlight {
    count: AtomicUsize,
    finished: AtomicUsize,
    ids: Mutex<HashSet<String>>,
    freed: Notify,
}

impl InFlight {
    fn add(&self, jobs: &[ClaimedJob]) {
        let mut ids = self.ids.lock().expect("in-flight lock");
        ids.extend(jobs.iter().map(|j| j.id.clone()));
        self.count.fetch_add(jobs.len(), Ordering::SeqCst);
    }

    /// Called by an executor once it has handed `jobs` settlements to the settler.
    fn finished(&self, jobs: usize) {
        self.finished.fetch_add(jobs, Ordering::SeqCst);
        self.freed.notify_one();
    }

    /// Called once the settlements are committed (or found stale).
    fn release(&self, settled: &[Settlement]) {
        let mut ids = self.ids.lock().expect("in-flight lock");
        for s in settled {
            ids.remove(&s.record.job_id);
        }
        self.finished.fetch_sub(settled.len(), Ordering::SeqCst);
        self.count.fetch_sub(settled.len(), Ordering::SeqCst);
        self.freed.notify_one();
    }

    fn known(&self) -> Vec<String> {
        let ids = self.ids.lock().expect("in-flight lock");
        ids.iter().cloned().collect()
    }

    fn get(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// Claimed jobs that wait for an executor or run in one.
    fn unfinished(&self) -> usize {
        self.count
            .load(Ordering::SeqCst)
            .saturating_sub(self.finished.load(Ordering::SeqCst))
    }

    /// Finished jobs whose settlement is not written yet.
    fn settling(&self) -> usize {
        self.finished.load(Ordering::SeqCst)
    }
}

pub struct WorkerPool {
    stop_claiming: watch::Sender<bool>,
    /// Set once shutdown begins: executors put back what they have not started.
    stopping: Arc<AtomicBool>,
    cancel_flags: Vec<CancelFlag>,
    executors: Vec<JoinHandle<()>>,
    dispatcher: tokio::task::JoinHandle<()>,
    canceller: tokio::task::JoinHandle<()>,
    settler: tokio::task::JoinHandle<()>,
}

impl WorkerPool {
    pub fn start(ctx: Arc<PoolContext>) -> WorkerPool {
        let in_flight = Arc::new(InFlight::default());
        let stopping = Arc::new(AtomicBool::new(false));
        let (stop_claiming, stop_rx) = watch::channel(false);
        let (job_tx, job_rx) = crossbeam_channel::unbounded();
        let (settle_tx, settle_rx) = tokio::sync::mpsc::unbounded_channel();

        let cancels = Arc::new(cancels::Cancels::default());
        let pace = Arc::new(pace::Pace::default());
        let mut cancel_flags = Vec::new();
        let mut executors = Vec::new();
        for index in 0..ctx.config.concurrency {
            let cancel = CancelFlag::default();
            cancel_flags.push(cancel.clone());
            let executor = executor::Executor {
                index,
                ctx: ctx.clone(),
                jobs: job_rx.clone(),
                finished: settle_tx.clone(),
                cancel,
                cancels: cancels.clone(),
                stopping: stopping.clone(),
                pace: pace.clone(),
                in_flight: in_flight.clone(),
            };
            executors.push(executor.spawn());
        }
        drop(settle_tx);
        let canceller = tokio::spawn(cancels::run(
            ctx.clone(),
            cancels,
            in_flight.clone(),
            stop_rx.clone(),
        ));
        let dispatcher = tokio::spawn(dispatcher::run(
            ctx.clone(),
            job_tx,
            in_flight.clone(),
            pace,
            stop_rx,
        ));
        let settler = tokio::spawn(settler::run(ctx, settle_rx, in_flight));
        WorkerPool {
            stop_claiming,
            stopping,
            cancel_flags,
            executors,
            dispatcher,
            canceller,
            settler,
        }
    }

    /// Stops claiming, waits up to `grace` for running attempts, interrupts the rest,
    /// and returns once every claimed job is settled or put back.
    pub async fn shutdown(self, grace: Duration) {
        self.stopping.store(true, Ordering::SeqCst);
        let _ = self.stop_claiming.send(true);
        if let Err(e) = self.dispatcher.await {
            warn!("the dispatcher ended badly: {e}");
        }
        let executors = self.executors;
        let mut joined = tokio::task::spawn_blocking(move || {
            for handle in executors {
                let _ = handle.join();
            }
        });
        if tokio::time::timeout(grace, &mut joined).await.is_err() {
            info!(
                "grace period of {grace:?} over: interrupting running attempts and putting their jobs back"
            );
            for flag in &self.cancel_flags {
                flag.cancel();
            }
            let _ = joined.await;
        }
        self.canceller.abort();
        if let Err(e) = self.settler.await {
            warn!("the settler ended badly: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jobhost_store::{AttemptRecord, SettleAction};

    fn claimed(id: &str) -> ClaimedJob {
        ClaimedJob {
            id: id.into(),
            job_type: "noop".into(),
            queue: "default".into(),
            payload: "{}".into(),
            priority: 0,
            attempt: 1,
            max_attempts: 3,
            created_at: 0,
            run_at: 0,
        }
    }

    fn settled(id: &str) -> Settlement {
        Settlement {
            record: AttemptRecord {
                job_id: id.into(),
                attempt: 1,
                worker_id: "w".into(),
                started_at: 0,
                finished_at: 1,
                outcome: "completed".into(),
                error: None,
                fuel_used: 0,
                plugin_digest: None,
            },
            action: SettleAction::Release,
        }
    }

    #[test]
    fn finished_jobs_awaiting_settlement_leave_room_to_claim_until_settled() {
        let in_flight = InFlight::default();
        in_flight.add(&[claimed("a"), claimed("b"), claimed("c")]);
        in_flight.finished(2);
        assert_eq!((in_flight.unfinished(), in_flight.settling()), (1, 2));
        assert_eq!(in_flight.get(), 3, "all three are still held");
        in_flight.release(&[settled("a"), settled("b")]);
        assert_eq!((in_flight.unfinished(), in_flight.settling()), (1, 0));
        assert_eq!(in_flight.known(), ["c"]);
    }
}
