//! The plugins directory as the daemon sees it: loaded at start before any job is
//! claimed, then watched, so a `.wasm` copied in becomes a job type without a restart.
//! Every load (and every failed one) is logged and recorded in the database, where the
//! CLI finds job types and their schemas; a good load also writes the rate and
//! concurrency limits its types declare (never over an operator's), so every daemon's
//! claims honour them, and the cron schedules it declares (`plugin_schedules.rs`).

use std::sync::Arc;

use jobhost_runtime::{Plugin, Registry, RegistryEvent};
use jobhost_store::{JobTypeRecord, PluginLimit, PluginRecord, Store, now_micros};
use tokio::sync::mpsc;
use tracing::{error, info};

pub fn record_of(plugin: &Plugin) -> PluginRecord {
    PluginRecord {
        digest: plugin.digest().to_string(),
        file: plugin.file_name().to_string(),
        name: plugin.name().to_string(),
        version: plugin.version().to_string(),
        loaded_at: now_micros(),
        retired_at: None,
        error: None,
        job_types: plugin
            .job_types()
            .iter()
            .map(|t| JobTypeRecord {
                name: t.name.clone(),
                plugin_digest: plugin.digest().to_string(),
                payload_schema: t.payload_schema.as_ref().map(|s| s.schema().to_string()),
                max_attempts: t.max_attempts,
                unique_key_fields: t.unique_key_fields.clone(),
            })
            .collect(),
    }
}

/// Logs an event and turns it into the record to keep, if any.
fn log_event(event: &RegistryEvent) -> Option<PluginRecord> {
    match event {
        RegistryEvent::Loaded { plugin, replaced } => {
            let types: Vec<&str> = plugin.job_types().iter().map(|t| t.name.as_str()).collect();
            info!(
                file = plugin.file_name(),
                digest = &plugin.digest()[..12],
                replaced = replaced.as_ref().map(|p| &p.digest()[..12]),
                ?types,
                "plugin loaded"
            );
            Some(record_of(plugin))
        }
        RegistryEvent::Removed { file_name, digest } => {
            info!(file = %file_name, digest = %&digest[..12.min(digest.len())], "plugin removed");
            None
        }
        RegistryEvent::Failed {
            file_name,
            digest,
            error,
        } => {
            error!(file = %file_name, "plugin not loaded: {error}");
            Some(PluginRecord {
                digest: digest.clone().unwrap_or_default(),
                file: file_name.clone(),
                name: String::new(),
                version: String::new(),
                loaded_at: now_micros(),
                retired_at: None,
                error: Some(error.clone()),
                job_types: Vec::new(),
            })
        }
    }
}

/// The flow limits of every type the plugin declares, a type without any included (so
/// a version that dropped its limit lifts it), by name: the order in which claims lock
/// limit rows, so a writer and a claimer never wait for each other in a cycle.
fn limits_of(plugin: &Plugin) -> Vec<PluginLimit> {
    let mut limits: Vec<PluginLimit> = plugin
        .job_types()
        .iter()
        .map(|t| PluginLimit {
            job_type: t.name.clone(),
            rate_per_minute: t.rate_per_minute,
            concurrency: t.concurrency,
        })
        .collect();
    limits.sort_by(|a, b| a.job_type.cmp(&b.job_type));
    limits
}

pub async fn record(store: &dyn Store, event: &RegistryEvent) {
    if let Some((file, digest)) = retired_by(event)
        && let Err(e) = store.retire_plugin(file, digest, now_micros()).await
    {
        error!("could not record that {file} stopped serving: {e}");
    }
    if let Some(record) = log_event(event)
        && let Err(e) = store.record_plugin(&record).await
    {
        error!(
            "could not record plugin {} in the database: {e}",
            record.file
        );
    }
    if let RegistryEvent::Loaded { plugin, .. } = event {
        if let Err(e) = store
            .set_plugin_limits(&limits_of(plugin), now_micros())
            .await
        {
            error!(
                "could not write the limits of plugin {} to the database: {e}",
                plugin.file_name()
            );
        }
        super::plugin_schedules::sync(store, plugin).await;
    }
}

/// The version an event took out of service: the one a new file replaced, or a
/// removed file's.
fn retired_by(event: &RegistryEvent) -> Option<(&str, &str)> {
    match event {
        RegistryEvent::Loaded {
            replaced: Some(old),
            ..
        } => Some((old.file_name(), old.digest())),
        RegistryEvent::Removed { file_name, digest } => Some((file_name, digest)),
        _ => None,
    }
}

/// Loads the directory once, on a blocking thread (compiling can take seconds).
pub async fn load_all(store: &dyn Store, registry: Arc<Registry>) {
    let events = tokio::task::spawn_blocking(move || registry.sync())
        .await
        .unwrap_or_default();
    for event in &events {
        record(store, event).await;
    }
}

/// Starts watching the directory; events are recorded by a task until the returned
/// watcher is dropped.
pub fn watch(
    store: Arc<dyn Store>,
    registry: &Arc<Registry>,
) -> anyhow::Result<jobhost_runtime::Watcher> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let watcher = registry.watch(move |event| {
        let _ = tx.send(event);
    })?;
    tokio::spawn(async move {
        while let Some(event) = rx.recv().await {
            record(store.as_ref(), &event).await;
        }
    });
    Ok(watcher)
}
