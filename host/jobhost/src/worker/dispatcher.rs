//! Claims jobs while the pool has room; sleeps until woken (new work, room freed, the
//! next token of a rate limit that holds jobs back, or the poll interval for delayed
//! jobs coming due) when it has none.

use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Sender;
use jobhost_store::{ClaimParams, ClaimedJob, Micros, now_micros};
use tokio::sync::watch;
use tracing::warn;

use super::{InFlight, PoolContext};

/// After a failed claim (the database is away), wait this long before the next.
const CLAIM_ERROR_PAUSE: Duration = Duration::from_millis(500);

pub(super) async fn run(
    ctx: Arc<PoolContext>,
    jobs: Sender<ClaimedJob>,
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
        let mut rate_wake = None;
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
                    for job in claimed {
                        // The executors outlive the dispatcher, so the channel is open.
                        let _ = jobs.send(job);
                    }
                    continue;
                }
                Ok(_) => rate_wake = next_rate_wake(&ctx, params.now).await,
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
            _ = sleep_until(rate_wake), if rate_wake.is_some() => {}
            _ = stop.changed() => {}
        }
    }
}

/// When a rate limit gets its next token, if one is out of tokens: the jobs it holds
/// back can be claimed then, which may be well before the next poll.
async fn next_rate_wake(ctx: &PoolContext, now: Micros) -> Option<Duration> {
    match ctx.store.next_limited_claim(now).await {
        Ok(at) => at.map(|at| Duration::from_micros((at - now).max(0) as u64)),
        Err(e) => {
            warn!("could not read the rate limits: {e}");
            None
        }
    }
}

async fn sleep_until(wait: Option<Duration>) {
    tokio::time::sleep(wait.unwrap_or_default()).await;
}
