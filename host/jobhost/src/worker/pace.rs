//! How far ahead of the executors the dispatcher claims. Claimed jobs wait in the
//! daemon until an executor is free, so claiming ahead keeps the executors busy while
//! the database works on the next claim; but a job claimed here cannot run elsewhere,
//! and a job of higher priority enqueued meanwhile waits behind it. So the daemon
//! claims ahead as many jobs as its executors finish in [`WINDOW`] at the pace attempts
//! have been taking: short jobs by the thousand, and no minute-long one beyond those
//! running (the next is claimed when one finishes, a few milliseconds' gap a minute).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The work claimed ahead, in time: what a job claimed now may wait behind.
const WINDOW: Duration = Duration::from_millis(50);
/// The weight of the latest attempt in the running average: 1/8.
const SMOOTHING_SHIFT: u32 = 3;

/// The running average time an executor spends on one job, in nanoseconds (0 until
/// the first attempt ends).
#[derive(Default)]
pub(crate) struct Pace {
    average_nanos: AtomicU64,
}

impl Pace {
    /// Counts `jobs` finished in `spent` by one executor.
    pub(crate) fn finished(&self, jobs: usize, spent: Duration) {
        if jobs == 0 {
            return;
        }
        let sample = (spent.as_nanos() / jobs as u128).clamp(1, u64::MAX as u128) as u64;
        // Executors update it at once now and then; a lost update costs one sample.
        let old = self.average_nanos.load(Ordering::Relaxed);
        let new = if old == 0 {
            sample
        } else {
            let (old, sample) = (old as i128, sample as i128);
            (old + ((sample - old) >> SMOOTHING_SHIFT)).max(1) as u64
        };
        self.average_nanos.store(new, Ordering::Relaxed);
    }

    /// How many jobs the pool may hold claimed: one per executor, plus those they
    /// finish within the window at the current pace, at most `most_ahead`.
    pub(crate) fn capacity(&self, executors: usize, most_ahead: usize) -> usize {
        let average = self.average_nanos.load(Ordering::Relaxed);
        let ahead = if average == 0 {
            // Nothing measured yet: a job per executor waiting, until attempts say more.
            executors
        } else {
            (executors as u128 * WINDOW.as_nanos() / average as u128).min(usize::MAX as u128)
                as usize
        };
        executors + ahead.min(most_ahead)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn before_any_attempt_each_executor_has_one_job_waiting() {
        assert_eq!(Pace::default().capacity(2, 1000), 4);
    }

    #[test]
    fn fast_jobs_are_claimed_far_ahead_up_to_the_most_allowed() {
        let pace = Pace::default();
        pace.finished(100, Duration::from_millis(5)); // 50 µs a job
        // Two executors finish 2,000 such jobs in 50 ms.
        assert_eq!(pace.capacity(2, 5000), 2 + 2000);
        assert_eq!(pace.capacity(2, 300), 2 + 300);
    }

    #[test]
    fn slow_jobs_are_not_claimed_ahead() {
        let pace = Pace::default();
        pace.finished(1, Duration::from_secs(2));
        assert_eq!(pace.capacity(4, 1000), 4);
    }

    #[test]
    fn the_pace_follows_the_jobs_when_they_change() {
        let pace = Pace::default();
        pace.finished(1, Duration::from_micros(50));
        for _ in 0..40 {
            pace.finished(1, Duration::from_secs(1));
        }
        assert_eq!(pace.capacity(2, 1000), 2);
    }
}
