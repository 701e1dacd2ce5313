//! Cancelling a job, as `jobhost jobs cancel` and `POST /jobs/{id}/cancel` both do it:
//! what may be cancelled, and what is an error. And job states as typed.

use jobhost_store::{CancelOutcome, JobStatus, Store, StoreError, now_micros};

/// A job state as typed.
pub fn parse_status(text: &str) -> Result<JobStatus, String> {
    JobStatus::parse(text).ok_or_else(|| {
        format!(
            "{text:?} is not a job state: pending, running, completed or cancelled (dead jobs \
             are under `jobhost dlq`)"
        )
    })
}

#[derive(Debug, thiserror::Error)]
pub enum CancelError {
    #[error("no job has the id {0} (a dead-lettered job is under `jobhost dlq show {0}`)")]
    NotFound(String),
    #[error("job {id} is already {}; there is nothing to cancel", .status.as_str())]
    AlreadyEnded { id: String, status: JobStatus },
    #[error("cancelling the job: {0}")]
    Store(#[from] StoreError),
}

/// Cancels a pending job at once, or asks the daemon running it to interrupt it.
/// Returns which of the two happened.
pub async fn cancel(store: &dyn Store, id: &str) -> Result<CancelOutcome, CancelError> {
    match store.cancel_job(id, now_micros()).await? {
        CancelOutcome::NotFound => Err(CancelError::NotFound(id.to_string())),
        CancelOutcome::AlreadyEnded(status) => Err(CancelError::AlreadyEnded {
            id: id.to_string(),
            status,
        }),
        outcome => Ok(outcome),
    }
}
