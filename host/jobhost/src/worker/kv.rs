//! The plugins' key-value stores as the runtime reads them: from the database, on the
//! executor's thread, which blocks on the async store for the one read.
//!
//! A completed attempt's writes reach the database only when the settler commits its
//! batch, a moment after the next attempt may have started. So the writes of attempts
//! that completed here and are not yet settled are held in memory and read first:
//! within one daemon, an attempt sees every write of every attempt that completed
//! before it began. (Another daemon sees them once they are committed.)

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use jobhost_runtime::KvSource;
use jobhost_store::{KvWrite, Store};
use tokio::runtime::Handle;

/// A written value (`None`: removed) and the attempt (job id, attempt) that wrote it.
type Held = (Option<String>, (String, u32));

pub struct StoreKv {
    store: Arc<dyn Store>,
    /// The daemon's async runtime; executors are OS threads outside it.
    handle: Handle,
    /// Writes of completed attempts not yet committed, by plugin and key.
    unsettled: Mutex<HashMap<(String, String), Held>>,
}

impl StoreKv {
    /// Must be called inside the daemon's async runtime.
    pub fn new(store: Arc<dyn Store>) -> StoreKv {
        StoreKv {
            store,
            handle: Handle::current(),
            unsettled: Mutex::new(HashMap::new()),
        }
    }

    /// Makes a completed attempt's writes visible to the attempts that start after it,
    /// until [`StoreKv::settled`].
    pub fn hold(&self, writes: &[KvWrite], job_id: &str, attempt: u32) {
        if writes.is_empty() {
            return;
        }
        let mut unsettled = self.unsettled.lock().expect("kv lock");
        for w in writes {
            let owner = (job_id.to_string(), attempt);
            unsettled.insert((w.plugin.clone(), w.key.clone()), (w.value.clone(), owner));
        }
    }

    /// Forgets the held writes of an attempt whose settlement was committed (or found
    /// stale): from now on the database answers. A key a later attempt wrote again
    /// stays held for that one.
    pub fn settled(&self, writes: &[KvWrite], job_id: &str, attempt: u32) {
        if writes.is_empty() {
            return;
        }
        let mut unsettled = self.unsettled.lock().expect("kv lock");
        for w in writes {
            let key = (w.plugin.clone(), w.key.clone());
            if let Some((_, (owner, owner_attempt))) = unsettled.get(&key)
                && owner == job_id
                && *owner_attempt == attempt
            {
                unsettled.remove(&key);
            }
        }
    }

    fn held(&self, plugin: &str, key: &str) -> Option<Option<String>> {
        let unsettled = self.unsettled.lock().expect("kv lock");
        unsettled
            .get(&(plugin.to_string(), key.to_string()))
            .map(|(value, _)| value.clone())
    }
}

impl KvSource for StoreKv {
    fn get(&self, plugin: &str, key: &str) -> Result<Option<String>, String> {
        if let Some(value) = self.held(plugin, key) {
            return Ok(value);
        }
        self.handle
            .block_on(self.store.kv_get(plugin, key))
            .map_err(|e| format!("the host could not read the key-value store: {e}"))
    }
}
