//! The daemon's maintenance: every `maintenance_interval` (the first time at start), it
//! deletes completed jobs older than `retain_completed`, a bounded batch per
//! transaction (see `ops::retention`). On PostgreSQL several daemons may purge at once;
//! each deletes what it finds, so the work is shared, not repeated.

use std::sync::Arc;
use std::time::Duration;

use jobhost_store::{Store, now_micros};
use tracing::{info, warn};

use crate::ops::retention;

pub async fn run(store: Arc<dyn Store>, retain_completed: Option<Duration>, every: Duration) {
    let Some(retain) = retain_completed else {
        return;
    };
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match retention::purge_completed(store.as_ref(), retain, now_micros()).await {
            Ok(0) => {}
            Ok(purged) => info!(
                purged,
                retain = %humantime::format_duration(retain),
                "purged completed jobs past their retention"
            ),
            Err(e) => warn!("could not purge old completed jobs, will try again: {e}"),
        }
    }
}
