//! A plugin's key-value store, as one attempt sees it: reads go to a [`KvSource`] the
//! host supplies (the database, in the daemon), writes are buffered in the attempt and
//! handed back with a completed [`Attempt`](crate::Attempt), for the host to commit with
//! the completion. This crate never touches the database itself.

use std::collections::BTreeMap;
use std::sync::Arc;

/// Longest key, in bytes.
pub const MAX_KV_KEY: usize = 512;
/// Largest value, in bytes.
pub const MAX_KV_VALUE: usize = 1024 * 1024;
/// Most keys one attempt may write (or delete).
pub const MAX_KV_WRITES: usize = 10_000;

/// Where committed values are read from. Called on the executor's thread, in the middle
/// of an attempt, so it may block.
pub trait KvSource: Send + Sync {
    /// The committed value of `key` in `plugin`'s store; `Err` says why it could not be
    /// read (the guest sees the message).
    fn get(&self, plugin: &str, key: &str) -> Result<Option<String>, String>;
}

/// A source with nothing in it: for runtimes that run no jobs against a database.
pub struct EmptyKv;

impl KvSource for EmptyKv {
    fn get(&self, _plugin: &str, _key: &str) -> Result<Option<String>, String> {
        Ok(None)
    }
}

/// One buffered write: `value` `None` removes the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvWrite {
    pub key: String,
    pub value: Option<String>,
}

/// An attempt's view of its plugin's store.
pub(crate) struct KvView {
    /// `None` while `describe` runs: the store belongs to jobs, not to loading.
    source: Option<Arc<dyn KvSource>>,
    plugin: Arc<str>,
    writes: BTreeMap<String, Option<String>>,
}

impl KvView {
    pub fn new(source: Option<Arc<dyn KvSource>>, plugin: Arc<str>) -> KvView {
        KvView {
            source,
            plugin,
            writes: BTreeMap::new(),
        }
    }

    fn source(&self) -> Result<&dyn KvSource, String> {
        self.source
            .as_deref()
            .ok_or_else(|| "the key-value store is not available in describe".to_string())
    }

    pub fn get(&self, key: &str) -> Result<Option<String>, String> {
        let source = self.source()?;
        if let Some(buffered) = self.writes.get(key) {
            return Ok(buffered.clone());
        }
        source.get(&self.plugin, key)
    }

    pub fn put(&mut self, key: String, value: Option<String>) -> Result<(), String> {
        self.source()?;
        if key.is_empty() || key.len() > MAX_KV_KEY {
            return Err(format!(
                "a key must be 1 to {MAX_KV_KEY} bytes long; this one is {}",
                key.len()
            ));
        }
        if let Some(value) = &value
            && value.len() > MAX_KV_VALUE
        {
            return Err(format!(
                "a value may be at most {MAX_KV_VALUE} bytes; this one is {}",
                value.len()
            ));
        }
        if self.writes.len() >= MAX_KV_WRITES && !self.writes.contains_key(&key) {
            return Err(format!("an attempt may write at most {MAX_KV_WRITES} keys"));
        }
        self.writes.insert(key, value);
        Ok(())
    }

    /// The buffered writes, in key order.
    pub fn take_writes(&mut self) -> Vec<KvWrite> {
        std::mem::take(&mut self.writes)
            .into_iter()
            .map(|(key, value)| KvWrite { key, value })
            .collect()
    }
}
