//! Retention: completed jobs older than a configured age are deleted, a bounded batch
//! per transaction, so a purge of millions of rows never holds the write lock long and
//! the daemon's claims and settlements slip in between batches.

use std::time::Duration;

use jobhost_store::{Micros, PurgeParams, Store, StoreError};

use super::when::micros;

/// Completed jobs deleted per transaction.
pub const BATCH: u32 = 1000;

/// Deletes the completed jobs that finished more than `older_than` before `now`, with
/// their attempts; returns how many went.
pub async fn purge_completed(
    store: &dyn Store,
    older_than: Duration,
    now: Micros,
) -> Result<u64, StoreError> {
    let params = PurgeParams {
        before: now - micros(older_than),
        limit: BATCH,
    };
    let mut purged = 0;
    loop {
        let batch = store.purge_completed(&params).await?;
        purged += batch;
        if batch < u64::from(BATCH) {
            return Ok(purged);
        }
        tokio::task::yield_now().await;
    }
}

/// How many completed jobs [`purge_completed`] would delete.
pub async fn count_completed(
    store: &dyn Store,
    older_than: Duration,
    now: Micros,
) -> Result<u64, StoreError> {
    store.count_completed(now - micros(older_than)).await
}
