//! Writes finished attempts back to the store, as many per transaction as have piled
//! up, and frees their room in the pool. A settlement is never dropped: when the
//! database is away it is retried until it is written.

use std::sync::Arc;
use std::time::Duration;

use jobhost_store::{SettleAction, Settlement};
use tokio::sync::mpsc::UnboundedReceiver;
use tracing::{debug, error};

use super::{InFlight, PoolContext};

/// The most settlements written in one transaction.
const MAX_BATCH: usize = 1000;
/// How long the first finished attempt of a batch waits for others to join it. Under
/// load this turns a transaction per attempt into one per hundred; idle, it delays
/// only the bookkeeping, never the start of a job.
const LINGER: Duration = Duration::from_millis(2);
const RETRY_PAUSE: Duration = Duration::from_millis(500);

/// Waits for a first settlement, then gathers what else arrives within `LINGER`.
async fn next_batch(
    finished: &mut UnboundedReceiver<Settlement>,
    batch: &mut Vec<Settlement>,
) -> bool {
    if finished.recv_many(batch, MAX_BATCH).await == 0 {
        return false;
    }
    let deadline = tokio::time::Instant::now() + LINGER;
    while batch.len() < MAX_BATCH {
        match tokio::time::timeout_at(deadline, finished.recv_many(batch, MAX_BATCH - batch.len()))
            .await
        {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    true
}

pub(super) async fn run(
    ctx: Arc<PoolContext>,
    mut finished: UnboundedReceiver<Settlement>,
    in_flight: Arc<InFlight>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while next_batch(&mut finished, &mut batch).await {
        // Jobs that waited on the ones just completed may be claimable now.
        let released = loop {
            match ctx.store.settle(&batch).await {
                Ok(report) => {
                    if report.stale > 0 {
                        debug!(
                            stale = report.stale,
                            "skipped settlements of jobs rescued meanwhile"
                        );
                    }
                    break report.released;
                }
                Err(e) => {
                    error!(
                        "could not settle {} finished attempts, will try again: {e}",
                        batch.len()
                    );
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
            }
        };
        let new_work = released > 0
            || batch.iter().any(|s| match &s.action {
                SettleAction::Complete { followups, .. } => !followups.is_empty(),
                SettleAction::Retry { .. } | SettleAction::Release => true,
                SettleAction::DeadLetter { .. } | SettleAction::Cancel => false,
            });
        for s in &batch {
            if let SettleAction::Complete { kv_writes, .. } = &s.action {
                ctx.kv
                    .settled(kv_writes, &s.record.job_id, s.record.attempt);
            }
        }
        in_flight.release(&batch);
        if new_work {
            ctx.wake.notify_one();
        }
        batch.clear();
    }
}
