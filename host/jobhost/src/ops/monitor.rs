//! The numbers that say whether a queue is healthy: the `stats` report (counts, rates,
//! durations and fuel by type) and the `health` verdict drawn from it.

use std::time::Duration;

use jobhost_store::{AttemptSample, Micros, Stats, Store, StoreError};
use serde::Serialize;

use super::when::micros;

/// The window of the rates and of the attempts behind the percentiles.
pub const WINDOW: Micros = 3_600_000_000;
/// At most this many recent attempts make the percentiles: enough for a steady p99,
/// bounded so `stats` costs the same on a busy queue as on a quiet one.
pub const SAMPLE: u32 = 10_000;
/// Below this many finished attempts in the window, the failure rate says too little
/// to judge health by (one failure out of one is not a 100% failing queue).
pub const MIN_ATTEMPTS_FOR_FAILURE_RATE: u64 = 10;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    #[serde(flatten)]
    pub counts: Stats,
    /// Jobs completed per minute, over the last hour.
    pub completed_per_minute: f64,
    /// Failed attempts over all finished attempts in the last hour; `None` without any.
    pub failure_rate: Option<f64>,
    /// Durations and fuel of the recent attempts (at most [`SAMPLE`] of the last hour),
    /// by job type.
    pub timings: Vec<TypeTimings>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TypeTimings {
    pub job_type: String,
    /// Attempts in the sample.
    pub attempts: u64,
    pub failed: u64,
    pub duration_ms_p50: f64,
    pub duration_ms_p99: f64,
    pub fuel_p50: u64,
    pub fuel_p99: u64,
}

pub async fn report(store: &dyn Store, now: Micros) -> Result<Report, StoreError> {
    let counts = store.stats(now).await?;
    let samples = store.recent_attempts(now - WINDOW, SAMPLE).await?;
    let finished = counts.completed_last_hour + counts.failed_last_hour;
    Ok(Report {
        completed_per_minute: counts.completed_last_hour as f64 / 60.0,
        failure_rate: (finished > 0).then(|| counts.failed_last_hour as f64 / finished as f64),
        timings: timings(&samples),
        counts,
    })
}

fn timings(samples: &[AttemptSample]) -> Vec<TypeTimings> {
    let mut types: Vec<&str> = samples.iter().map(|s| s.job_type.as_str()).collect();
    types.sort_unstable();
    types.dedup();
    types
        .into_iter()
        .map(|job_type| {
            let of_type: Vec<&AttemptSample> =
                samples.iter().filter(|s| s.job_type == job_type).collect();
            let mut durations: Vec<Micros> = of_type
                .iter()
                .map(|s| (s.finished_at - s.started_at).max(0))
                .collect();
            let mut fuel: Vec<u64> = of_type.iter().map(|s| s.fuel_used).collect();
            durations.sort_unstable();
            fuel.sort_unstable();
            TypeTimings {
                job_type: job_type.to_string(),
                attempts: of_type.len() as u64,
                failed: of_type.iter().filter(|s| s.outcome != "completed").count() as u64,
                duration_ms_p50: percentile(&durations, 50) as f64 / 1000.0,
                duration_ms_p99: percentile(&durations, 99) as f64 / 1000.0,
                fuel_p50: percentile(&fuel, 50),
                fuel_p99: percentile(&fuel, 99),
            }
        })
        .collect()
}

/// The nearest-rank percentile of sorted values: the smallest value with at least
/// `p`% of the values at or below it.
fn percentile<T: Copy + Default>(sorted: &[T], p: usize) -> T {
    if sorted.is_empty() {
        return T::default();
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted[rank - 1]
}

/// How healthy a queue is. Its exit code: 0, 1, 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Healthy,
    Degraded,
    Unhealthy,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Healthy => "healthy",
            Verdict::Degraded => "degraded",
            Verdict::Unhealthy => "unhealthy",
        }
    }

    pub fn exit_code(self) -> u8 {
        self as u8
    }
}

/// At or above `degraded` the queue is degraded; at or above `unhealthy`, unhealthy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Levels<T> {
    pub degraded: T,
    pub unhealthy: T,
}

impl<T: PartialOrd + std::fmt::Debug> Levels<T> {
    /// The two levels, or why they are upside down; `name` is how the caller calls the
    /// pair (`--pending` on the command line, `pending` in a query string).
    pub fn checked(degraded: T, unhealthy: T, name: &str) -> Result<Levels<T>, String> {
        if degraded > unhealthy {
            return Err(format!(
                "{name}-degraded ({degraded:?}) is above {name}-unhealthy ({unhealthy:?}): \
                 the degraded level must be the lower one"
            ));
        }
        Ok(Levels {
            degraded,
            unhealthy,
        })
    }
}

/// A share as typed: 0 to 1.
pub fn parse_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if (0.0..=1.0).contains(&rate) => Ok(rate),
        _ => Err(format!(
            "{text:?} is not a share between 0 and 1 (0.1 is 10%)"
        )),
    }
}

impl<T: PartialOrd> Levels<T> {
    fn verdict(&self, value: T) -> Verdict {
        if value >= self.unhealthy {
            Verdict::Unhealthy
        } else if value >= self.degraded {
            Verdict::Degraded
        } else {
            Verdict::Healthy
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// Jobs due and waiting.
    pub pending: Levels<u64>,
    /// How long the oldest due job has waited.
    pub oldest_pending: Levels<Duration>,
    /// Dead letters nobody has reviewed.
    pub dead_unreviewed: Levels<u64>,
    /// Failed attempts over finished ones in the last hour, 0 to 1.
    pub failure_rate: Levels<f64>,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            pending: Levels {
                degraded: 1_000,
                unhealthy: 10_000,
            },
            oldest_pending: Levels {
                degraded: Duration::from_secs(5 * 60),
                unhealthy: Duration::from_secs(30 * 60),
            },
            dead_unreviewed: Levels {
                degraded: 10,
                unhealthy: 100,
            },
            failure_rate: Levels {
                degraded: 0.10,
                unhealthy: 0.50,
            },
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Health {
    pub status: Verdict,
    /// Why it is not healthy, in words; empty when it is.
    pub reasons: Vec<String>,
    pub pending: u64,
    pub oldest_pending_age_ms: Option<i64>,
    pub dead_unreviewed: u64,
    pub failure_rate: Option<f64>,
    /// Daemons whose heartbeat is recent.
    pub live_daemons: usize,
}

/// Judges a report against the thresholds. With due work and no live daemon, nothing
/// will ever run it: unhealthy whatever the numbers.
pub fn judge(report: &Report, live_daemons: usize, thresholds: &Thresholds) -> Health {
    let counts = &report.counts;
    let mut findings: Vec<(Verdict, String)> = Vec::new();
    let mut check = |verdict: Verdict, reason: String| {
        if verdict != Verdict::Healthy {
            findings.push((verdict, reason));
        }
    };
    check(
        thresholds.pending.verdict(counts.pending),
        format!(
            "{} jobs are due and waiting (degraded from {}, unhealthy from {})",
            counts.pending, thresholds.pending.degraded, thresholds.pending.unhealthy
        ),
    );
    if let Some(age) = counts.oldest_pending_age {
        let age = Duration::from_micros(age.max(0) as u64);
        check(
            thresholds.oldest_pending.verdict(age),
            format!(
                "the oldest due job has waited {} (degraded from {}, unhealthy from {})",
                rounded(age),
                rounded(thresholds.oldest_pending.degraded),
                rounded(thresholds.oldest_pending.unhealthy)
            ),
        );
    }
    check(
        thresholds.dead_unreviewed.verdict(counts.dead_unreviewed),
        format!(
            "{} dead letters are unreviewed (degraded from {}, unhealthy from {}): \
             see `jobhost dlq list --unreviewed`",
            counts.dead_unreviewed,
            thresholds.dead_unreviewed.degraded,
            thresholds.dead_unreviewed.unhealthy
        ),
    );
    let finished = counts.completed_last_hour + counts.failed_last_hour;
    if let Some(rate) = report.failure_rate
        && finished >= MIN_ATTEMPTS_FOR_FAILURE_RATE
    {
        check(
            thresholds.failure_rate.verdict(rate),
            format!(
                "{:.0}% of the attempts in the last hour failed ({} of {}; degraded from \
                 {:.0}%, unhealthy from {:.0}%)",
                rate * 100.0,
                counts.failed_last_hour,
                finished,
                thresholds.failure_rate.degraded * 100.0,
                thresholds.failure_rate.unhealthy * 100.0
            ),
        );
    }
    if live_daemons == 0 && counts.pending > 0 {
        check(
            Verdict::Unhealthy,
            format!(
                "no daemon is running: {} due jobs wait for `jobhost serve`",
                counts.pending
            ),
        );
    }
    Health {
        status: findings
            .iter()
            .map(|(v, _)| *v)
            .max()
            .unwrap_or(Verdict::Healthy),
        reasons: findings.into_iter().map(|(_, reason)| reason).collect(),
        pending: counts.pending,
        oldest_pending_age_ms: counts.oldest_pending_age.map(|a| a / 1000),
        dead_unreviewed: counts.dead_unreviewed,
        failure_rate: report.failure_rate,
        live_daemons,
    }
}

/// A duration to the second, for people.
fn rounded(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}

/// Daemons whose last heartbeat is newer than `stale_after`.
pub async fn live_daemons(
    store: &dyn Store,
    now: Micros,
    stale_after: Duration,
) -> Result<usize, StoreError> {
    let workers = store.list_workers().await?;
    let cutoff = now - micros(stale_after);
    Ok(workers.iter().filter(|w| w.heartbeat_at >= cutoff).count())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(job_type: &str, outcome: &str, millis: i64, fuel: u64) -> AttemptSample {
        AttemptSample {
            job_type: job_type.into(),
            outcome: outcome.into(),
            started_at: 0,
            finished_at: millis * 1000,
            fuel_used: fuel,
        }
    }

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let values: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&values, 50), 50);
        assert_eq!(percentile(&values, 99), 99);
        assert_eq!(percentile(&[7u64], 99), 7);
        assert_eq!(percentile::<u64>(&[], 50), 0);
    }

    #[test]
    fn timings_are_by_type_with_failures_counted() {
        let mut samples: Vec<AttemptSample> = (1..=100)
            .map(|n| sample("echo", "completed", n, n as u64 * 10))
            .collect();
        samples.push(sample("mail", "timeout", 30_000, 5));
        let t = timings(&samples);
        assert_eq!(t.len(), 2);
        assert_eq!(
            (
                t[0].attempts,
                t[0].failed,
                t[0].duration_ms_p50,
                t[0].fuel_p99
            ),
            (100, 0, 50.0, 990)
        );
        assert_eq!((t[1].job_type.as_str(), t[1].failed), ("mail", 1));
    }

    fn report(pending: u64, completed: u64, failed: u64) -> Report {
        let counts = Stats {
            pending,
            completed_last_hour: completed,
            failed_last_hour: failed,
            oldest_pending_age: (pending > 0).then_some(1_000_000),
            ..Stats::default()
        };
        let finished = completed + failed;
        Report {
            completed_per_minute: 0.0,
            failure_rate: (finished > 0).then(|| failed as f64 / finished as f64),
            timings: Vec::new(),
            counts,
        }
    }

    #[test]
    fn the_worst_finding_decides_and_every_one_is_said() {
        let limits = Thresholds::default();
        assert_eq!(judge(&report(0, 0, 0), 0, &limits).status, Verdict::Healthy);
        let busy = judge(&report(2_000, 90, 10), 1, &limits);
        assert_eq!(busy.status, Verdict::Degraded);
        assert_eq!(busy.reasons.len(), 2, "{:?}", busy.reasons);
        let failing = judge(&report(0, 10, 90), 1, &limits);
        assert_eq!(failing.status, Verdict::Unhealthy);
        assert!(failing.reasons[0].contains("90%"), "{:?}", failing.reasons);
        let orphaned = judge(&report(5, 0, 0), 0, &limits);
        assert_eq!(orphaned.status, Verdict::Unhealthy);
        assert!(orphaned.reasons[0].contains("no daemon"));
    }

    #[test]
    fn a_few_failures_in_a_quiet_hour_are_not_judged_as_a_rate() {
        let health = judge(&report(0, 1, 1), 1, &Thresholds::default());
        assert_eq!(health.status, Verdict::Healthy);
    }
}
