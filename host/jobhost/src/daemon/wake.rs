//! Wakes the dispatcher when another process (the CLI, another daemon) writes to the
//! database, so an enqueued job starts within milliseconds without tight polling. On
//! SQLite the signal is a change to the write-ahead log, seen through inotify.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::Notify;

/// Watches `file` (which may not exist yet) and notifies `wake` whenever it changes.
/// Dropping the returned watcher stops it.
pub fn watch_file(file: &Path, wake: Arc<Notify>) -> Result<notify::RecommendedWatcher> {
    let dir = file
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let name = file.file_name().map(|n| n.to_os_string());
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if !matches!(event.kind, EventKind::Modify(_) | EventKind::Create(_)) {
            return;
        }
        if event.paths.iter().any(|p| p.file_name() == name.as_deref()) {
            wake.notify_one();
        }
    })
    .context("creating a file watcher for database changes")?;
    watcher
        .watch(&dir, RecursiveMode::NonRecursive)
        .with_context(|| format!("watching {} for database changes", dir.display()))?;
    Ok(watcher)
}
