//! Claims jobs while the pool has room; sleeps until woken (new work, room freed while
//! due jobs may be left, the next token of a rate limit that holds jobs back, or the
//! poll interval for delayed jobs coming due) when it has none.
//!
//! A claim that failed may have committed all the same (the connection dropped after
//! the server committed, before its answer arrived): its jobs are running under this
//! daemon, which is alive, so no rescue would take them back. So after a failed claim
//! the dispatcher asks the store for the jobs running under it that it does not know
//! it holds, and runs them, before it claims again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use jobhost_store::{ClaimParams, ClaimedJob, Micros, now_micros};
use tokio::sync::watch;
use tracing::warn;

use jobhost_store::Store;

use super::batches::{Work, group, largest_batch};
use super::pace::Pace;
use super::{InFlight, PoolContext};

/// After a failed claim (the database is away), wait this long before the next.
const CLAIM_ERROR_PAUSE: Duration = Duration::from_millis(500);

pub(super) async fn run(
    ctx: Arc<PoolContext>,
    jobs: Sender<Work>,
    in_flight: Arc<InFlight>,
    pace: Arc<Pace>,
    mut stop: watch::Receiver<bool>,
) {
    // Claimed ahead: at most a claim being worked through and the next one waiting, so
    // that an executor need not wait for a database round trip. Finished attempts
    // waiting for their settlement do not count against it (they hold no executor and
    // delay no other job), unless more than two settlement batches' worth pile up:
    // then the database is behind, and claiming more would only add to the pile.
    let most_ahead = 2 * ctx.config.claim_batch as usize;
    let mut unsure = false;
    // When the last claim took every due job it could: claim again only once woken, or
    // once a poll interval has passed.
    let mut nothing_due_since: Option<Instant> = None;
    loop {
        if *stop.borrow() {
            return;
        }
        if unsure {
            match find_lost_claims(ctx.store.as_ref(), &ctx.worker_id, &in_flight).await {
                Ok(lost) => {
                    unsure = false;
                    dispatch(&ctx, lost, &jobs, &in_flight);
                }
                Err(e) => {
                    warn!(
                        "could not look for jobs claimed by the failed claim, will try again: {e}"
                    );
                    tokio::time::sleep(CLAIM_ERROR_PAUSE).await;
                    continue;
                }
            }
        }
        let mut rate_wake = None;
        let batch_room = ctx.config.concurrency + largest_batch(&ctx.registry).min(most_ahead);
        let capacity = pace
            .capacity(ctx.config.concurrency, most_ahead)
            .max(batch_room);
        let room = if in_flight.settling() > most_ahead {
            0
        } else {
            capacity.saturating_sub(in_flight.unfinished())
        };
        if room > 0 && !nothing_due(nothing_due_since, &ctx) {
            let params = ClaimParams {
                worker_id: ctx.worker_id.clone(),
                limit: room.min(ctx.config.claim_batch as usize) as u32,
                now: now_micros(),
            };
            match ctx.store.claim(&params).await {
                Ok(claim) => {
                    ctx.metrics.claimed(claim.jobs.len());
                    let full = claim.jobs.len() == params.limit as usize;
                    nothing_due_since = (!full && !claim.held_back).then(Instant::now);
                    if claim.held_back && !full {
                        rate_wake = next_rate_wake(&ctx, params.now).await;
                    }
                    if !claim.jobs.is_empty() {
                        dispatch(&ctx, claim.jobs, &jobs, &in_flight);
                    }
                    if full {
                        continue;
                    }
                }
                Err(e) => {
                    warn!("could not claim jobs, will try again: {e}");
                    unsure = true;
                    tokio::time::sleep(CLAIM_ERROR_PAUSE).await;
                    continue;
                }
            }
        }
        // Room freed by a finished job is worth a claim only while there may be due
        // jobs left: after a claim that took all there were, more comes with new work
        // (which wakes the dispatcher), with time (the poll), or with a rate limit's
        // next token. Claiming on every freed slot anyway cost a claim that found nothing
        // for about every job finished after the last was claimed (15 for 40 jobs of
        // 10 ms), each a walk past the rows the other daemons had just taken. A due job
        // this misses (one another statement held locked as the claim passed) waits for
        // the poll at most.
        tokio::select! {
            _ = ctx.wake.notified(), if room > 0 => nothing_due_since = None,
            _ = in_flight.freed.notified(), if room == 0 || !nothing_due(nothing_due_since, &ctx) => {}
            _ = tokio::time::sleep(ctx.config.poll_interval) => nothing_due_since = None,
            _ = sleep_until(rate_wake), if rate_wake.is_some() => nothing_due_since = None,
            _ = stop.changed() => {}
        }
    }
}

/// Whether the last claim took every due job it could, less than a poll interval ago.
fn nothing_due(since: Option<Instant>, ctx: &PoolContext) -> bool {
    since.is_some_and(|since| since.elapsed() < ctx.config.poll_interval)
}

/// Hands claimed jobs to the executors: one by one, or in groups for the types their
/// plugins take in batches.
fn dispatch(
    ctx: &PoolContext,
    claimed: Vec<ClaimedJob>,
    jobs: &Sender<Work>,
    in_flight: &InFlight,
) {
    in_flight.add(&claimed);
    for work in group(&ctx.registry, claimed) {
        // The executors outlive the dispatcher, so the channel is open.
        let _ = jobs.send(work);
    }
}

/// The jobs a failed claim may have taken for this daemon after all.
async fn find_lost_claims(
    store: &dyn Store,
    worker_id: &str,
    in_flight: &InFlight,
) -> jobhost_store::Result<Vec<ClaimedJob>> {
    let lost = store.lost_claims(worker_id, &in_flight.known()).await?;
    if !lost.is_empty() {
        warn!(
            jobs = lost.len(),
            "a claim that seemed to fail had taken jobs for this daemon; running them"
        );
    }
    Ok(lost)
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
