//! Wakes the dispatcher when another process (the CLI, another daemon) writes to the
//! database, so an enqueued job starts within milliseconds without tight polling. On
//! SQLite the signal is a change to the write-ahead log, seen through inotify; on
//! PostgreSQL it is a notification the store's writes send (LISTEN/NOTIFY). Either way
//! the dispatcher still polls, so a missed signal delays a job by one poll interval at
//! most.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use jobhost_store::{Change, ChangeStream};
use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

/// After the listening connection failed to reopen, wait this long before the next try.
const RELISTEN_PAUSE: Duration = Duration::from_secs(1);

/// The task that turns database notifications into wake-ups. [`Listening::stop`] ends
/// it and closes its connection; dropping it stops it too, the connection merely cut.
pub struct Listening {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Listening {
    /// Stops listening and closes the listening connection, telling the server.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Notifies `wake` whenever `changes` reports new work, and whenever its connection
/// comes back after a drop (notifications sent meanwhile are lost, so look anyway).
pub fn listen(mut changes: ChangeStream, wake: Arc<Notify>) -> Listening {
    let (stop, mut stopped) = oneshot::channel();
    let task = tokio::spawn(async move {
        let mut lost = false;
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                () = hear(&mut changes, &wake, &mut lost) => {}
            }
        }
        changes.close().await;
    });
    Listening {
        stop: Some(stop),
        task,
    }
}

/// Waits for the next change and wakes the dispatcher for it; `lost` says whether the
/// connection is away, so that its loss is logged once.
async fn hear(changes: &mut ChangeStream, wake: &Notify, lost: &mut bool) {
    match changes.next().await {
        Ok(Change::Notified) => wake.notify_one(),
        Ok(Change::Reconnected) => {
            if *lost {
                info!("listening for new work again; looking for work sent meanwhile");
            } else {
                warn!(
                    "the connection listening for new work dropped and was reopened; \
                     looking for work sent meanwhile"
                );
            }
            *lost = false;
            wake.notify_one();
        }
        Err(e) => {
            if !*lost {
                warn!(
                    "lost the connection that listens for new work, reconnecting \
                     (polling every poll interval meanwhile): {e}"
                );
                *lost = true;
            } else {
                debug!("still cannot listen for new work: {e}");
            }
            tokio::time::sleep(RELISTEN_PAUSE).await;
            wake.notify_one();
        }
    }
}

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
