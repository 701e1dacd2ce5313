//! Hot reload: a watcher on the plugins directory wakes a background thread, which waits
//! for the writes to settle and then syncs the registry. A full sync also runs every
//! few seconds, for file systems whose events do not arrive. Compiling happens on that
//! thread, never on a job's path.

use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use notify::{RecursiveMode, Watcher as _};

use crate::error::RuntimeError;
use crate::registry::{Registry, RegistryEvent};

/// Quiet time after the last file event before a sync: a copy in progress is not loaded
/// half-written.
pub const SETTLE_TIME: Duration = Duration::from_millis(150);
/// A full sync runs at least this often, events or not.
pub const RESCAN_INTERVAL: Duration = Duration::from_secs(2);

/// Stops watching when dropped.
pub struct Watcher {
    _watcher: notify::RecommendedWatcher,
}

impl Registry {
    pub fn watch(
        self: &Arc<Self>,
        on_event: impl Fn(RegistryEvent) + Send + Sync + 'static,
    ) -> Result<Watcher, RuntimeError> {
        let (tx, rx) = mpsc::channel::<()>();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                let relevant = event.is_ok_and(|e| {
                    e.paths.iter().any(|p| {
                        p.extension()
                            .is_some_and(|ext| ext == "wasm" || ext == "toml")
                    })
                });
                if relevant {
                    let _ = tx.send(());
                }
            })?;
        watcher.watch(self.dir(), RecursiveMode::NonRecursive)?;
        let registry = self.clone();
        std::thread::Builder::new()
            .name("plugin-watcher".into())
            .spawn(move || {
                loop {
                    match rx.recv_timeout(RESCAN_INTERVAL) {
                        Ok(()) => loop {
                            match rx.recv_timeout(SETTLE_TIME) {
                                Ok(()) => continue,
                                Err(RecvTimeoutError::Timeout) => break,
                                Err(RecvTimeoutError::Disconnected) => return,
                            }
                        },
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => return,
                    }
                    for event in registry.sync() {
                        on_event(event);
                    }
                }
            })
            .map_err(|e| RuntimeError::Engine(format!("starting the plugin watcher: {e}")))?;
        Ok(Watcher { _watcher: watcher })
    }
}
