//! Setting an operator's rate or concurrency limit, as `jobhost limits set` and
//! `POST /limits` both do it: the same checks, then one store write.

use jobhost_store::{LimitScope, SetLimit, Store, StoreError, now_micros};

#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    /// Neither a rate nor a concurrency: there is nothing to set.
    #[error("give a rate, a concurrency or both (to lift a limit, remove it)")]
    Nothing,
    #[error("a concurrency of 0 would never start a job: to stop a queue, pause it")]
    ZeroConcurrency,
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// Checks the limit (at least one of the two, and a concurrency that lets a job run)
/// and sets it, replacing what the type or queue had.
pub async fn set(
    store: &dyn Store,
    scope: LimitScope,
    name: &str,
    rate_per_minute: Option<u32>,
    concurrency: Option<u32>,
) -> Result<SetLimit, LimitError> {
    if rate_per_minute.is_none() && concurrency.is_none() {
        return Err(LimitError::Nothing);
    }
    if concurrency == Some(0) {
        return Err(LimitError::ZeroConcurrency);
    }
    let limit = SetLimit {
        scope,
        name: name.to_string(),
        rate_per_minute,
        concurrency,
        now: now_micros(),
    };
    store.set_limit(&limit).await?;
    Ok(limit)
}
