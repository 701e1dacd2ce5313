//! Prometheus metrics, served at `GET /metrics` in the OpenMetrics text format.
//!
//! Counters and histograms are kept in memory by this daemon and updated where an
//! attempt finishes (the executor, just before its settlement goes to the settler):
//! attempts by job type and outcome, their durations, the fuel they consumed; and by the
//! dispatcher as it claims, whether each claim took jobs. Gauges —
//! jobs by state, queue depth by queue, the dead-letter queue's size — are read from
//! the store when scraped, so they describe the whole queue, whichever daemon ran what.

use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use jobhost_store::{AttemptRecord, QueueInfo, Stats};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The media type of the scrape answer.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Duration buckets: 1 ms doubling to about 9 minutes.
const DURATION_START_SECONDS: f64 = 0.001;
const DURATION_BUCKETS: u16 = 20;
/// Fuel buckets: 10,000 units multiplying by 4 to about 10^12.
const FUEL_START: f64 = 10_000.0;
const FUEL_FACTOR: f64 = 4.0;
const FUEL_BUCKETS: u16 = 14;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AttemptLabels {
    job_type: String,
    outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TypeLabels {
    job_type: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClaimLabels {
    /// `jobs` when the claim took some, `nothing` when it took none.
    took: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabels {
    queue: String,
    state: String,
}

fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(
        DURATION_START_SECONDS,
        2.0,
        DURATION_BUCKETS,
    ))
}

fn claim_counter(claims: &Family<ClaimLabels, Counter>, took: &str) -> Counter {
    claims
        .get_or_create(&ClaimLabels { took: took.into() })
        .clone()
}

fn fuel_histogram() -> Histogram {
    Histogram::new(exponential_buckets(FUEL_START, FUEL_FACTOR, FUEL_BUCKETS))
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// The daemon's metrics.
pub struct Metrics {
    registry: Registry,
    attempts: Family<AttemptLabels, Counter>,
    durations: HistogramFamily<AttemptLabels>,
    fuel: Family<AttemptLabels, Counter>,
    fuel_per_attempt: HistogramFamily<TypeLabels>,
    /// The two series of `claims`, made at start so both are scraped from zero.
    claims_took_jobs: Counter,
    claims_took_nothing: Counter,
    jobs: Family<StateLabels, Gauge>,
    queue_depth: Family<QueueLabels, Gauge>,
    dead: Gauge,
    dead_unreviewed: Gauge,
    /// Every attempt counted in `attempts`, of any type and outcome.
    finished: AtomicU64,
    /// Held while gauges are set and the registry encoded, so two scrapes at once do
    /// not mix their readings.
    scrape: Mutex<()>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("jobhost");
        let attempts = Family::<AttemptLabels, Counter>::default();
        let durations: HistogramFamily<AttemptLabels> =
            Family::new_with_constructor(duration_histogram);
        let fuel = Family::<AttemptLabels, Counter>::default();
        let fuel_per_attempt: HistogramFamily<TypeLabels> =
            Family::new_with_constructor(fuel_histogram);
        let claims = Family::<ClaimLabels, Counter>::default();
        let jobs = Family::<StateLabels, Gauge>::default();
        let queue_depth = Family::<QueueLabels, Gauge>::default();
        let dead = Gauge::default();
        let dead_unreviewed = Gauge::default();
        registry.register(
            "attempts",
            "Attempts this daemon finished, by job type and outcome",
            attempts.clone(),
        );
        registry.register(
            "attempt_duration_seconds",
            "How long attempts ran, by job type and outcome",
            durations.clone(),
        );
        registry.register(
            "fuel_consumed",
            "Fuel (WebAssembly instructions, roughly) attempts consumed, by job type and outcome",
            fuel.clone(),
        );
        registry.register(
            "attempt_fuel",
            "Fuel one attempt consumed, by job type",
            fuel_per_attempt.clone(),
        );
        registry.register(
            "claims",
            "Claims this daemon made, by whether they took jobs or nothing",
            claims.clone(),
        );
        registry.register(
            "jobs",
            "Jobs in the store by state (pending is due now; scheduled waits for its time)",
            jobs.clone(),
        );
        registry.register(
            "queue_depth",
            "Jobs pending (due now) and running, by queue",
            queue_depth.clone(),
        );
        registry.register(
            "dead_letters",
            "Rows in the dead-letter queue",
            dead.clone(),
        );
        registry.register(
            "dead_letters_unreviewed",
            "Rows in the dead-letter queue not yet reviewed",
            dead_unreviewed.clone(),
        );
        Metrics {
            registry,
            attempts,
            durations,
            fuel,
            fuel_per_attempt,
            claims_took_jobs: claim_counter(&claims, "jobs"),
            claims_took_nothing: claim_counter(&claims, "nothing"),
            jobs,
            queue_depth,
            dead,
            dead_unreviewed,
            finished: AtomicU64::new(0),
            scrape: Mutex::new(()),
        }
    }

    /// Counts one finished attempt.
    pub fn attempt_finished(&self, job_type: &str, record: &AttemptRecord) {
        let labels = AttemptLabels {
            job_type: job_type.to_string(),
            outcome: record.outcome.clone(),
        };
        let seconds = (record.finished_at - record.started_at).max(0) as f64 / 1e6;
        self.attempts.get_or_create(&labels).inc();
        self.finished.fetch_add(1, Ordering::Relaxed);
        self.durations.get_or_create(&labels).observe(seconds);
        self.fuel.get_or_create(&labels).inc_by(record.fuel_used);
        self.fuel_per_attempt
            .get_or_create(&TypeLabels {
                job_type: job_type.to_string(),
            })
            .observe(record.fuel_used as f64);
    }

    /// Counts one claim the dispatcher made.
    pub fn claimed(&self, jobs: usize) {
        let counter = if jobs > 0 {
            &self.claims_took_jobs
        } else {
            &self.claims_took_nothing
        };
        counter.inc();
    }

    /// Attempts finished so far, of every type and outcome: what the dashboard's rate
    /// is drawn from.
    pub fn attempts_total(&self) -> u64 {
        self.finished.load(Ordering::Relaxed)
    }

    /// The scrape answer: the gauges set from these readings of the store, and every
    /// metric encoded.
    pub fn encode(&self, stats: &Stats, queues: &[QueueInfo]) -> String {
        let _guard = self.scrape.lock().unwrap_or_else(|e| e.into_inner());
        let states = [
            ("pending", stats.pending),
            ("scheduled", stats.scheduled),
            ("running", stats.running),
            ("completed", stats.completed),
            ("cancelled", stats.cancelled),
        ];
        for (state, count) in states {
            self.jobs
                .get_or_create(&StateLabels {
                    state: state.into(),
                })
                .set(count as i64);
        }
        // Queues come and go: a queue that emptied must not keep its last reading.
        self.queue_depth.clear();
        for q in queues {
            for (state, count) in [("pending", q.pending), ("running", q.running)] {
                self.queue_depth
                    .get_or_create(&QueueLabels {
                        queue: q.queue.clone(),
                        state: state.into(),
                    })
                    .set(count as i64);
            }
        }
        self.dead.set(stats.dead as i64);
        self.dead_unreviewed.set(stats.dead_unreviewed as i64);
        let mut text = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            let _ = writeln!(text, "# encoding failed: {e}");
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(outcome: &str, micros: i64, fuel: u64) -> AttemptRecord {
        AttemptRecord {
            job_id: "j".into(),
            attempt: 1,
            worker_id: "w".into(),
            started_at: 0,
            finished_at: micros,
            outcome: outcome.into(),
            error: None,
            fuel_used: fuel,
            plugin_digest: None,
        }
    }

    #[test]
    fn attempts_are_counted_by_type_and_outcome_with_their_fuel() {
        let metrics = Metrics::new();
        metrics.attempt_finished("echo", &record("completed", 2_000, 100));
        metrics.attempt_finished("echo", &record("completed", 3_000, 50));
        metrics.attempt_finished("trap", &record("crashed", 1_000, 7));
        let text = metrics.encode(&Stats::default(), &[]);
        assert!(
            text.contains(r#"jobhost_attempts_total{job_type="echo",outcome="completed"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(
                r#"jobhost_fuel_consumed_total{job_type="echo",outcome="completed"} 150"#
            )
        );
        assert!(text.contains(
            r#"jobhost_attempt_duration_seconds_count{job_type="trap",outcome="crashed"} 1"#
        ));
        assert!(text.contains("jobhost_dead_letters 0"));
        assert!(text.ends_with("# EOF\n"));
        assert_eq!(metrics.attempts_total(), 3);
    }
}
