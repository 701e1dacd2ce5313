//! Retry delays: exponential with "equal jitter". Half of each delay is fixed and half
//! random, so retries of many jobs that failed together spread out, while each job's
//! delays still grow: the shortest delay of attempt n+1 equals the longest of attempt n.

use std::time::Duration;

use rand::Rng;

#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
}

impl Backoff {
    /// The longest delay after failed attempt `attempt` (1-based): base·2^(attempt-1), capped.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(31);
        self.base
            .checked_mul(1u32 << exponent)
            .unwrap_or(self.cap)
            .min(self.cap)
    }

    /// The delay before the retry that follows failed attempt `attempt`: between half the
    /// ceiling and the ceiling.
    pub fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self.ceiling(attempt);
        let half = ceiling / 2;
        let jitter = rand::rng().random_range(0..=half.as_micros() as u64);
        half + Duration::from_micros(jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backoff() -> Backoff {
        Backoff {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(60),
        }
    }

    #[test]
    fn ceilings_double_then_stop_at_the_cap() {
        let b = backoff();
        let ceilings: Vec<u64> = (1..=8).map(|a| b.ceiling(a).as_secs()).collect();
        assert_eq!(ceilings, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(b.ceiling(500), Duration::from_secs(60));
    }

    #[test]
    fn delays_stay_within_half_the_ceiling_and_the_ceiling() {
        let b = backoff();
        for attempt in 1..=10 {
            for _ in 0..200 {
                let d = b.delay(attempt);
                assert!(
                    d >= b.ceiling(attempt) / 2 && d <= b.ceiling(attempt),
                    "{d:?}"
                );
            }
        }
    }

    #[test]
    fn jitter_spreads_delays() {
        let b = backoff();
        let delays: std::collections::HashSet<Duration> = (0..50).map(|_| b.delay(5)).collect();
        assert!(delays.len() > 10, "only {} distinct delays", delays.len());
    }
}
