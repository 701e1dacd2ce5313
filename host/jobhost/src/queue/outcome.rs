//! What an attempt's end does to its job. This is the one place that decides between
//! completing, retrying later, dead-lettering (and with which reason) and putting back.

use jobhost_store::{
    AttemptRecord, ClaimedJob, DeadReason, KvWrite, Micros, NewJob, SettleAction, Settlement,
};

use super::Backoff;

/// How an attempt ended, in the queue's terms.
#[derive(Debug, Clone, PartialEq)]
pub enum AttemptResult {
    Completed {
        result: String,
        followups: Vec<NewJob>,
        kv_writes: Vec<KvWrite>,
    },
    /// A failure that another attempt may not repeat: a handler's `retry` error, a
    /// deadline or fuel timeout, the memory cap, a trap. Retried while attempts remain;
    /// after the last one the job is dead-lettered with `reason_when_exhausted`.
    Retryable {
        reason_when_exhausted: DeadReason,
        error: String,
    },
    /// A failure no retry can mend: dead-lettered at once.
    Permanent { reason: DeadReason, error: String },
    /// The daemon stopped the attempt (shutdown): the job goes back, the attempt unspent.
    Interrupted,
    /// A user cancelled the job (`jobs cancel`): it ends `cancelled`, never retried.
    Cancelled,
}

/// The facts of one attempt that end up in its `job_attempts` row.
#[derive(Debug, Clone)]
pub struct AttemptFacts {
    pub worker_id: String,
    pub started_at: Micros,
    pub finished_at: Micros,
    pub fuel_used: u64,
    pub plugin_digest: Option<String>,
}

/// Turns an attempt's result into the settlement the store applies.
pub fn settlement_for(
    job: &ClaimedJob,
    facts: AttemptFacts,
    result: AttemptResult,
    backoff: &Backoff,
) -> Settlement {
    let (outcome, error, action) = match result {
        AttemptResult::Completed {
            result,
            followups,
            kv_writes,
        } => (
            "completed".to_string(),
            None,
            SettleAction::Complete {
                result,
                followups,
                kv_writes,
            },
        ),
        AttemptResult::Retryable {
            reason_when_exhausted,
            error,
        } => {
            let outcome = match reason_when_exhausted {
                DeadReason::MaxRetriesExceeded => "retry".to_string(),
                other => other.as_str().to_string(),
            };
            let action = if job.attempt >= job.max_attempts {
                SettleAction::DeadLetter {
                    reason: reason_when_exhausted,
                    error: error.clone(),
                }
            } else {
                let delay = backoff.delay(job.attempt);
                SettleAction::Retry {
                    error: error.clone(),
                    run_at: facts.finished_at + delay.as_micros() as Micros,
                }
            };
            (outcome, Some(error), action)
        }
        AttemptResult::Permanent { reason, error } => (
            reason.as_str().to_string(),
            Some(error.clone()),
            SettleAction::DeadLetter { reason, error },
        ),
        AttemptResult::Interrupted => ("interrupted".to_string(), None, SettleAction::Release),
        AttemptResult::Cancelled => ("cancelled".to_string(), None, SettleAction::Cancel),
    };
    Settlement {
        record: AttemptRecord {
            job_id: job.id.clone(),
            attempt: job.attempt,
            worker_id: facts.worker_id,
            started_at: facts.started_at,
            finished_at: facts.finished_at,
            outcome,
            error,
            fuel_used: facts.fuel_used,
            plugin_digest: facts.plugin_digest,
        },
        action,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn job(attempt: u32, max_attempts: u32) -> ClaimedJob {
        ClaimedJob {
            id: "j1".into(),
            job_type: "flaky".into(),
            queue: "default".into(),
            payload: "{}".into(),
            priority: 0,
            attempt,
            max_attempts,
            created_at: 0,
            run_at: 0,
        }
    }

    fn facts() -> AttemptFacts {
        AttemptFacts {
            worker_id: "w".into(),
            started_at: 1_000,
            finished_at: 2_000,
            fuel_used: 7,
            plugin_digest: Some("abc".into()),
        }
    }

    const BACKOFF: Backoff = Backoff {
        base: Duration::from_secs(1),
        cap: Duration::from_secs(10),
    };

    fn retryable(reason: DeadReason) -> AttemptResult {
        AttemptResult::Retryable {
            reason_when_exhausted: reason,
            error: "boom".into(),
        }
    }

    #[test]
    fn a_retryable_failure_with_attempts_left_is_retried_after_the_backoff() {
        let s = settlement_for(
            &job(2, 3),
            facts(),
            retryable(DeadReason::Crashed),
            &BACKOFF,
        );
        let SettleAction::Retry { run_at, error } = s.action else {
            panic!("expected a retry, got {:?}", s.action);
        };
        assert_eq!(error, "boom");
        assert!(
            (2_000 + 1_000_000..=2_000 + 2_000_000).contains(&run_at),
            "{run_at}"
        );
        assert_eq!(s.record.outcome, "crashed");
        assert_eq!(s.record.fuel_used, 7);
    }

    #[test]
    fn the_last_attempt_dead_letters_with_the_failures_own_reason() {
        for reason in [
            DeadReason::MaxRetriesExceeded,
            DeadReason::Timeout,
            DeadReason::OutOfMemory,
        ] {
            let s = settlement_for(&job(3, 3), facts(), retryable(reason), &BACKOFF);
            assert_eq!(
                s.action,
                SettleAction::DeadLetter {
                    reason,
                    error: "boom".into()
                }
            );
        }
    }

    #[test]
    fn a_permanent_failure_dead_letters_on_the_first_attempt() {
        let result = AttemptResult::Permanent {
            reason: DeadReason::PermanentFailure,
            error: "no".into(),
        };
        let s = settlement_for(&job(1, 5), facts(), result, &BACKOFF);
        assert!(matches!(
            s.action,
            SettleAction::DeadLetter {
                reason: DeadReason::PermanentFailure,
                ..
            }
        ));
        assert_eq!(s.record.outcome, "permanent_failure");
    }

    #[test]
    fn a_cancelled_attempt_is_cancelled_even_on_its_last_attempt() {
        let s = settlement_for(&job(5, 5), facts(), AttemptResult::Cancelled, &BACKOFF);
        assert_eq!(s.action, SettleAction::Cancel);
        assert_eq!(s.record.outcome, "cancelled");
    }

    #[test]
    fn an_interrupted_attempt_is_released() {
        let s = settlement_for(&job(1, 5), facts(), AttemptResult::Interrupted, &BACKOFF);
        assert_eq!(s.action, SettleAction::Release);
    }
}
