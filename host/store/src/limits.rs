//! Rate and concurrency limits as the claim applies them, apart from the SQL that reads
//! and writes them (each backend's `limits.rs`): the token bucket's arithmetic and the
//! greedy walk that takes limited jobs in claim order while every limit they fall
//! under has room.
//!
//! A rate limit is a token bucket refilled at `rate_per_minute` a minute that holds at
//! most [`RATE_BURST`] tokens, so jobs are spread evenly (one every `60 / rate`
//! seconds) and a claimer that wakes a little late can catch up one job, not a
//! minute's worth. A concurrency limit is checked against the running jobs of its type
//! or queue at claim time. A job under several limits (its type's and its queue's) is
//! taken only when all of them have room.

use std::collections::HashMap;

use crate::model::{FlowLimit, LimitScope, Micros};

/// The most tokens a rate limit's bucket holds: how many jobs may start at once after
/// it was idle. Two, not one, so that a claimer woken a moment after a token came due
/// does not lose that moment for good.
pub const RATE_BURST: f64 = 2.0;

/// A token this close to whole counts as whole (floating-point sums of refills).
const TOKEN_EPSILON: f64 = 1e-9;

const MICROS_PER_MINUTE: f64 = 60_000_000.0;

/// What a bucket holds at `now`, given what it held at `refilled_at`.
pub fn tokens_at(limit: &FlowLimit, now: Micros) -> f64 {
    let Some(rate) = limit.rate_per_minute else {
        return f64::INFINITY;
    };
    let elapsed = (now - limit.refilled_at).max(0) as f64;
    (limit.tokens + elapsed * f64::from(rate) / MICROS_PER_MINUTE).min(RATE_BURST)
}

/// When a bucket that holds less than one token at `now` gets its next one; `None` for
/// a limit without a rate, or one that has a token now.
pub fn next_token_at(limit: &FlowLimit, now: Micros) -> Option<Micros> {
    let rate = limit.rate_per_minute.filter(|&r| r > 0)?;
    let tokens = tokens_at(limit, now);
    if tokens + TOKEN_EPSILON >= 1.0 {
        return None;
    }
    let wait = ((1.0 - tokens) * MICROS_PER_MINUTE / f64::from(rate)).ceil() as Micros;
    Some(now + wait.max(1))
}

/// One limit's room during a claim, and what the claim took from it.
#[derive(Debug, Clone)]
struct Room {
    /// Jobs it may still let start in this claim.
    left: u64,
    taken: u64,
}

/// The limits in force during one claim, with the room each has left.
#[derive(Debug)]
pub struct Allowance {
    limits: Vec<FlowLimit>,
    rooms: Vec<Room>,
    by_key: HashMap<(LimitScope, String), usize>,
}

/// A pending job the claim may take: its key and what it falls under.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub id: String,
    pub job_type: String,
    pub queue: String,
}

/// A row of a candidates query: (id, job type, queue).
impl From<(String, String, String)> for Candidate {
    fn from((id, job_type, queue): (String, String, String)) -> Candidate {
        Candidate {
            id,
            job_type,
            queue,
        }
    }
}

/// Whether one of the limits, each given as (scope, name), applies to the job.
pub fn any_applies<'a>(
    limits: impl IntoIterator<Item = (&'a str, &'a str)>,
    job: &Candidate,
) -> bool {
    limits.into_iter().any(|(scope, name)| {
        (scope == LimitScope::Type.as_str() && name == job.job_type)
            || (scope == LimitScope::Queue.as_str() && name == job.queue)
    })
}

impl Allowance {
    /// `running` holds the running jobs by (job type, queue).
    pub fn new(limits: Vec<FlowLimit>, running: &[(String, String, u64)], now: Micros) -> Self {
        let mut by_key = HashMap::new();
        for (i, l) in limits.iter().enumerate() {
            by_key.insert((l.scope, l.name.clone()), i);
        }
        let rooms = limits
            .iter()
            .map(|l| {
                let busy: u64 = running
                    .iter()
                    .filter(|(job_type, queue, _)| match l.scope {
                        LimitScope::Type => *job_type == l.name,
                        LimitScope::Queue => *queue == l.name,
                    })
                    .map(|(_, _, n)| n)
                    .sum();
                let by_concurrency = l
                    .concurrency
                    .map_or(u64::MAX, |k| u64::from(k).saturating_sub(busy));
                let tokens = tokens_at(l, now);
                let by_rate = if tokens.is_infinite() {
                    u64::MAX
                } else {
                    (tokens + TOKEN_EPSILON).floor().max(0.0) as u64
                };
                Room {
                    left: by_concurrency.min(by_rate),
                    taken: 0,
                }
            })
            .collect();
        Allowance {
            limits,
            rooms,
            by_key,
        }
    }

    /// The limits a job falls under.
    fn of(&self, job_type: &str, queue: &str) -> Vec<usize> {
        [
            self.by_key.get(&(LimitScope::Type, job_type.to_string())),
            self.by_key.get(&(LimitScope::Queue, queue.to_string())),
        ]
        .into_iter()
        .flatten()
        .copied()
        .collect()
    }

    /// Names of the limits with no room left, by scope: a claim passes over their jobs.
    pub fn exhausted(&self, scope: LimitScope) -> Vec<String> {
        self.limits
            .iter()
            .zip(&self.rooms)
            .filter(|(l, r)| l.scope == scope && r.left == 0)
            .map(|(l, _)| l.name.clone())
            .collect()
    }

    /// Takes candidates (in claim order) while their limits have room, up to `want`;
    /// returns the ids taken and whether any candidate was passed over, in which case
    /// a limit ran out during the walk and a further query (without its jobs) may find
    /// more.
    pub fn take(&mut self, candidates: &[Candidate], want: usize) -> (Vec<String>, bool) {
        let mut taken = Vec::new();
        let mut passed_over = false;
        for c in candidates {
            if taken.len() == want {
                break;
            }
            let under = self.of(&c.job_type, &c.queue);
            if under.iter().any(|&i| self.rooms[i].left == 0) {
                passed_over = true;
                continue;
            }
            for i in under {
                self.rooms[i].left -= 1;
                self.rooms[i].taken += 1;
            }
            taken.push(c.id.clone());
        }
        (taken, passed_over)
    }

    /// The rate limits this claim took tokens from, with their buckets as they must be
    /// written back: `(scope, name, tokens, refilled_at)`.
    pub fn spent_buckets(&self, now: Micros) -> Vec<(LimitScope, String, f64, Micros)> {
        self.limits
            .iter()
            .zip(&self.rooms)
            .filter(|(l, r)| l.rate_per_minute.is_some() && r.taken > 0)
            .map(|(l, r)| {
                let tokens = tokens_at(l, now) - r.taken as f64;
                (l.scope, l.name.clone(), tokens, now.max(l.refilled_at))
            })
            .collect()
    }
}

/// The earliest time a rate limit gets its next token, for a claimer to wake at.
pub fn next_wake(limits: &[FlowLimit], now: Micros) -> Option<Micros> {
    limits.iter().filter_map(|l| next_token_at(l, now)).min()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(scope: LimitScope, name: &str, rate: Option<u32>, k: Option<u32>) -> FlowLimit {
        FlowLimit {
            scope,
            name: name.into(),
            rate_per_minute: rate,
            concurrency: k,
            source: crate::LimitSource::Operator,
            tokens: RATE_BURST,
            refilled_at: 0,
            updated_at: 0,
        }
    }

    fn candidate(id: &str, job_type: &str, queue: &str) -> Candidate {
        Candidate {
            id: id.into(),
            job_type: job_type.into(),
            queue: queue.into(),
        }
    }

    #[test]
    fn a_bucket_refills_at_its_rate_up_to_the_burst() {
        let mut l = limit(LimitScope::Type, "t", Some(60), None);
        l.tokens = 0.0;
        assert_eq!(tokens_at(&l, 500_000), 0.5);
        assert_eq!(next_token_at(&l, 500_000), Some(1_000_000));
        assert_eq!(tokens_at(&l, 1_000_000), 1.0);
        assert_eq!(next_token_at(&l, 1_000_000), None);
        assert_eq!(tokens_at(&l, 60_000_000), RATE_BURST);
        // A clock behind the one that last wrote the bucket adds nothing.
        l.refilled_at = 2_000_000;
        assert_eq!(tokens_at(&l, 1_000_000), 0.0);
    }

    #[test]
    fn a_job_is_taken_only_while_every_limit_over_it_has_room() {
        let limits = vec![
            limit(LimitScope::Type, "mail", None, Some(2)),
            limit(LimitScope::Queue, "bulk", None, Some(1)),
        ];
        let running = vec![("mail".to_string(), "default".to_string(), 1)];
        let mut a = Allowance::new(limits, &running, 0);
        let (taken, passed) = a.take(
            &[
                candidate("1", "mail", "bulk"),
                candidate("2", "mail", "default"),
                candidate("3", "other", "bulk"),
                candidate("4", "other", "default"),
            ],
            10,
        );
        assert_eq!(taken, vec!["1", "4"]);
        assert!(passed);
        assert_eq!(a.exhausted(LimitScope::Type), vec!["mail"]);
        assert_eq!(a.exhausted(LimitScope::Queue), vec!["bulk"]);
    }

    #[test]
    fn spent_tokens_are_written_back_with_the_claim_time() {
        let limits = vec![limit(LimitScope::Type, "t", Some(600), None)];
        let mut a = Allowance::new(limits, &[], 10);
        let cs: Vec<Candidate> = (0..5)
            .map(|i| candidate(&i.to_string(), "t", "q"))
            .collect();
        let (taken, passed) = a.take(&cs, 5);
        assert_eq!(taken.len(), 2, "the burst");
        assert!(passed);
        let spent = a.spent_buckets(10);
        assert_eq!(spent.len(), 1);
        assert!(spent[0].2.abs() < 1e-9);
        assert_eq!(spent[0].3, 10);
    }
}
