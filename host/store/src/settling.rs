//! How both backends sort a batch of settlements: the bookkeeping around the SQL, kept
//! in one place so that the two `settle` functions differ only in their statements.
//! Completions are checked and applied in the UPDATE that completes them; the other
//! outcomes are checked first (`still_held`), then applied kind by kind.

use crate::model::{AttemptRecord, NewJob, SettleAction, Settlement};

/// Completions first, the rest after.
pub(crate) fn split_completions(batch: &[Settlement]) -> (Vec<&Settlement>, Vec<&Settlement>) {
    batch
        .iter()
        .partition(|s| matches!(s.action, SettleAction::Complete { .. }))
}

/// The settlements other than completions, by what they do to their job.
#[derive(Default)]
pub(crate) struct Others<'a> {
    pub retried: Vec<&'a Settlement>,
    pub dead: Vec<&'a Settlement>,
    pub released: Vec<&'a Settlement>,
    pub cancelled: Vec<&'a Settlement>,
    /// The attempt rows they record: every one but a release's (a put-back attempt was
    /// not spent). A completion records none; its job row keeps its facts.
    pub attempts: Vec<&'a AttemptRecord>,
}

impl<'a> Others<'a> {
    pub(crate) fn sort(others: &[&'a Settlement]) -> Others<'a> {
        let mut sorted = Others::default();
        for &s in others {
            match &s.action {
                SettleAction::Complete { .. } => unreachable!("completions are settled apart"),
                SettleAction::Retry { .. } => sorted.retried.push(s),
                SettleAction::DeadLetter { .. } => sorted.dead.push(s),
                SettleAction::Release => sorted.released.push(s),
                SettleAction::Cancel => sorted.cancelled.push(s),
            }
            if !matches!(s.action, SettleAction::Release) {
                sorted.attempts.push(&s.record);
            }
        }
        sorted
    }
}

/// The follow-up jobs of applied completions: those that can run at once, and those
/// that wait on other jobs (`after`).
pub(crate) fn followups<'a>(completed: &[&'a Settlement]) -> (Vec<&'a NewJob>, Vec<&'a NewJob>) {
    completed
        .iter()
        .flat_map(|s| match &s.action {
            SettleAction::Complete { followups, .. } => followups.as_slice(),
            _ => &[],
        })
        .partition(|j| j.after.is_empty())
}
