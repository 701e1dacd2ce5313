//! Jobs that wait on other jobs (`enqueue --after`), and the links `jobs show` draws.

use serde::{Deserialize, Serialize};

/// Where one job waits on another (`enqueue --after`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DependencyState {
    /// The job waited on has not ended yet.
    Waiting,
    /// It completed.
    Done,
    /// It was dead-lettered or cancelled (a replay of it turns this back to waiting).
    Failed,
}

impl DependencyState {
    pub fn as_str(self) -> &'static str {
        match self {
            DependencyState::Waiting => "waiting",
            DependencyState::Done => "done",
            DependencyState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<DependencyState> {
        Some(match s {
            "waiting" => DependencyState::Waiting,
            "done" => DependencyState::Done,
            "failed" => DependencyState::Failed,
            _ => return None,
        })
    }
}

/// Another job as `jobs show` names it: a live one, or a dead letter (`status` "dead"),
/// or one no longer stored (`job_type` and `status` empty, e.g. purged).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobRef {
    pub id: String,
    pub job_type: String,
    /// A [`JobStatus`](super::JobStatus) string, `dead`, or empty when the job is gone.
    pub status: String,
}

/// One edge of `enqueue --after`, seen from either end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DependencyLink {
    /// The job at the other end.
    pub job: JobRef,
    pub state: DependencyState,
}

/// How a job sits in its workflow, for `jobs show`: the job whose completion enqueued
/// it, the follow-ups it enqueued, what it waits on and what waits on it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct JobLinks {
    pub parent: Option<JobRef>,
    /// Oldest first.
    pub children: Vec<JobRef>,
    /// The jobs this one was enqueued `after`.
    pub waits_on: Vec<DependencyLink>,
    /// The jobs enqueued `after` this one.
    pub waited_on_by: Vec<DependencyLink>,
}
