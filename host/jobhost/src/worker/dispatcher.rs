//! Claims jobs while the pool has room; sleeps until woken (new work, room freed, or
//! the poll interval for delayed jobs coming due) when it has none.

use std::sync::Arc;

use crossbeam_channel::Sender;
use jobhost_store::{ClaimParams, now_micros};
use tokio::sync::watch;
use tracing::warn;

use super::batches::{Work, group};
use super::{InFlight, PoolContext};

/// After a failed claim (the database is away), wait this long before the next.
const CLAIM_ERROR_PAUSE: std::time::Duration = std::time::Duration::from_millis(500);

pub(super) async fn run(
    ctx: Arc<PoolContext>,
    jobs: Sender<Work>,
    in_flight: Arc<InFlight>,
    mut stop: watch::Receiver<bool>,
) {
    // Room for every executor to be busy, a batch waiting, and a batch of finished
    // attempts being settled, so an executor never waits for a database round trip.
    let capacity = ctx.config.concurrency + 2 * ctx.config.claim_batch as usize;
    loop {
        if *stop.borrow() {
            return;
        }
        let room = capacity.saturating_sub(in_flight.get());
        if room > 0 {
            let params = ClaimParams {
                worker_id: ctx.worker_id.clone(),
                limit: room.min(ctx.config.claim_batch as usize) as u32,
                now: now_micros(),
            };
            match ctx.store.claim(&params).await {
                Ok(claimed) if !claimed.is_empty() => {
                    in_flight.add(claimed.len());
                    for work in group(&ctx.registry, claimed) {
                        // The executors outlive the dispatcher, so the channel is open.
                        let _ = jobs.send(work);
                    }
                    continue;
                }
                Ok(_) => {}
                Err(e) => {
                    warn!("could not claim jobs, will try again: {e}");
                    tokio::time::sleep(CLAIM_ERROR_PAUSE).await;
                    continue;
                }
            }
        }
        tokio::select! {
            _ = ctx.wake.notified(), if room > 0 => {}
            _ = in_flight.freed.notified() => {}
            _ = tokio::time::sleep(ctx.config.poll_interval) => {}
            _ = stop.changed() => {}
        }
    }
}
