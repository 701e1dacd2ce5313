//! The last hour of the queue, sampled in memory every [`SAMPLE_EVERY`] for the
//! dashboard's chart: depth by state and the attempts this daemon had finished so far
//! (rates are the differences). Nothing is stored; a restarted daemon starts afresh.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jobhost_store::{Micros, Store, now_micros};
use serde::Serialize;

use crate::metrics::Metrics;

/// How often the queue is sampled.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(10);
/// How far back the samples go.
pub const KEPT: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Sample {
    pub at: Micros,
    pub pending: u64,
    pub scheduled: u64,
    pub running: u64,
    pub dead: u64,
    /// Attempts this daemon had finished, all types and outcomes.
    pub attempts: u64,
}

#[derive(Debug, Serialize)]
pub struct Snapshot {
    pub interval_ms: u64,
    pub samples: Vec<Sample>,
}

#[derive(Default)]
pub struct History {
    samples: Mutex<VecDeque<Sample>>,
}

impl History {
    fn push(&self, sample: Sample) {
        let capacity = (KEPT.as_secs() / SAMPLE_EVERY.as_secs()) as usize;
        let mut samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        samples.push_back(sample);
        while samples.len() > capacity {
            samples.pop_front();
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        let samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        Snapshot {
            interval_ms: SAMPLE_EVERY.as_millis() as u64,
            samples: samples.iter().copied().collect(),
        }
    }
}

/// Samples until aborted; a failed reading is skipped, not fatal.
pub async fn run(store: Arc<dyn Store>, metrics: Arc<Metrics>, history: Arc<History>) {
    let mut ticks = tokio::time::interval(SAMPLE_EVERY);
    loop {
        ticks.tick().await;
        let now = now_micros();
        match store.stats(now).await {
            Ok(stats) => history.push(Sample {
                at: now,
                pending: stats.pending,
                scheduled: stats.scheduled,
                running: stats.running,
                dead: stats.dead,
                attempts: metrics.attempts_total(),
            }),
            Err(e) => tracing::warn!("could not sample the queue for the dashboard: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_last_hour_is_kept() {
        let history = History::default();
        let capacity = (KEPT.as_secs() / SAMPLE_EVERY.as_secs()) as usize;
        for at in 0..capacity as i64 + 5 {
            history.push(Sample {
                at,
                pending: 0,
                scheduled: 0,
                running: 0,
                dead: 0,
                attempts: 0,
            });
        }
        let snapshot = history.snapshot();
        assert_eq!(snapshot.samples.len(), capacity);
        assert_eq!(snapshot.samples[0].at, 5);
    }
}
