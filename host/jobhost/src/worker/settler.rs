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
const RETRY_PAUSE: Duration = Duration::from_millis(500);

pub(super) async fn run(
    ctx: Arc<PoolContext>,
    mut finished: UnboundedReceiver<Settlement>,
    in_flight: Arc<InFlight>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while finished.recv_many(&mut batch, MAX_BATCH).await > 0 {
        loop {
            match ctx.store.settle(&batch).await {
                Ok(report) => {
                    if report.stale > 0 {
                        debug!(
                            stale = report.stale,
                            "skipped settlements of jobs rescued meanwhile"
                        );
                    }
                    break;
                }
                Err(e) => {
                    error!(
                        "could not settle {} finished attempts, will try again: {e}",
                        batch.len()
                    );
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
            }
        }
        let new_work = batch.iter().any(|s| match &s.action {
            SettleAction::Complete { followups, .. } => !followups.is_empty(),
            SettleAction::Retry { .. } | SettleAction::Release => true,
            SettleAction::DeadLetter { .. } => false,
        });
        in_flight.release(batch.len());
        if new_work {
            ctx.wake.notify_one();
        }
        batch.clear();
    }
}
