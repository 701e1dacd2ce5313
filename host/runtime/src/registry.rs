//! The live set of plugins in a directory. [`Registry::sync`] brings it in line with the
//! files: new and changed `*.wasm` files are loaded, removed ones dropped. A file that
//! cannot be loaded changes nothing else: if it replaced a good version, that version
//! keeps serving. Each job type is served by exactly one file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use crate::plugin::Plugin;
use crate::runtime::Runtime;

/// What a sync changed.
#[derive(Debug, Clone)]
pub enum RegistryEvent {
    Loaded {
        plugin: Plugin,
        /// The version of the same file it replaced.
        replaced: Option<Plugin>,
    },
    Removed {
        file_name: String,
        digest: String,
    },
    Failed {
        file_name: String,
        digest: Option<String>,
        error: String,
    },
}

pub struct Registry {
    runtime: Runtime,
    dir: PathBuf,
    state: RwLock<State>,
    /// One sync at a time, so two never load the same file at once.
    syncing: Mutex<()>,
}

#[derive(Default)]
struct State {
    by_file: HashMap<String, Entry>,
    by_type: HashMap<String, Plugin>,
}

/// What the registry knows of one file.
#[derive(Default)]
struct Entry {
    stamp: Option<Stamp>,
    /// The version serving now, if any.
    plugin: Option<Plugin>,
    /// The digest of the latest content that failed to load, so it is not retried
    /// until the file changes.
    failed_digest: Option<String>,
}

/// Size and modification times of a file and its manifest: a cheap "did it change".
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    manifest_modified: Option<SystemTime>,
}

fn stamp_of(path: &Path) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok()?;
    let manifest_modified = std::fs::metadata(path.with_extension("toml"))
        .and_then(|m| m.modified())
        .ok();
    Some(Stamp {
        len: meta.len(),
        modified: meta.modified().ok(),
        manifest_modified,
    })
}

fn wasm_files(dir: &Path) -> Vec<(String, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<(String, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .filter(|(name, path)| !name.starts_with('.') && name.ends_with(".wasm") && path.is_file())
        .collect();
    files.sort();
    files
}

impl Registry {
    pub fn new(runtime: Runtime, dir: PathBuf) -> Registry {
        Registry {
            runtime,
            dir,
            state: RwLock::default(),
            syncing: Mutex::new(()),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The plugin serving a job type.
    pub fn get(&self, job_type: &str) -> Option<Plugin> {
        self.state.read().unwrap().by_type.get(job_type).cloned()
    }

    pub fn plugins(&self) -> Vec<Plugin> {
        let state = self.state.read().unwrap();
        state
            .by_file
            .values()
            .filter_map(|e| e.plugin.clone())
            .collect()
    }

    /// Rescans the directory and returns what changed. Compiles on the calling thread.
    pub fn sync(&self) -> Vec<RegistryEvent> {
        let _one_at_a_time = self.syncing.lock().unwrap();
        let files = wasm_files(&self.dir);
        let mut events = Vec::new();
        for (file_name, path) in &files {
            if let Some(event) = self.sync_file(file_name, path) {
                events.push(event);
            }
        }
        let present: Vec<&str> = files.iter().map(|(name, _)| name.as_str()).collect();
        let mut state = self.state.write().unwrap();
        let gone: Vec<String> = state
            .by_file
            .keys()
            .filter(|name| !present.contains(&name.as_str()))
            .cloned()
            .collect();
        for file_name in gone {
            let entry = state.by_file.remove(&file_name).unwrap_or_default();
            if let Some(plugin) = entry.plugin {
                state.by_type.retain(|_, p| p.file_name() != file_name);
                events.push(RegistryEvent::Removed {
                    file_name,
                    digest: plugin.digest().to_string(),
                });
            }
        }
        if !events.is_empty() {
            crate::memory::give_back_freed();
        }
        events
    }

    fn sync_file(&self, file_name: &str, path: &Path) -> Option<RegistryEvent> {
        let stamp = stamp_of(path)?;
        let (current, failed_digest, old_stamp) = {
            let state = self.state.read().unwrap();
            let entry = state.by_file.get(file_name);
            (
                entry.and_then(|e| e.plugin.clone()),
                entry.and_then(|e| e.failed_digest.clone()),
                entry.and_then(|e| e.stamp),
            )
        };
        if old_stamp == Some(stamp) {
            return None;
        }
        let failed = |digest: Option<String>, error: String| RegistryEvent::Failed {
            file_name: file_name.to_string(),
            digest,
            error,
        };
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) => return Some(failed(None, format!("cannot read {}: {e}", path.display()))),
        };
        let digest = hex::encode(Sha256::digest(&bytes));
        let manifest_unchanged =
            old_stamp.map(|s| s.manifest_modified) == Some(stamp.manifest_modified);
        let same_content = current.as_ref().map(|p| p.digest()) == Some(digest.as_str())
            || failed_digest.as_deref() == Some(digest.as_str());
        if same_content && manifest_unchanged {
            self.remember(file_name, stamp, current, failed_digest);
            return None;
        }
        match self.runtime.load_file_bytes(path, &bytes) {
            Ok(plugin) => Some(self.install(file_name, stamp, plugin, current)),
            Err(e) => {
                self.remember(file_name, stamp, current, Some(digest.clone()));
                Some(failed(Some(digest), e.to_string()))
            }
        }
    }

    fn remember(
        &self,
        file_name: &str,
        stamp: Stamp,
        plugin: Option<Plugin>,
        failed_digest: Option<String>,
    ) {
        let mut state = self.state.write().unwrap();
        state.by_file.insert(
            file_name.to_string(),
            Entry {
                stamp: Some(stamp),
                plugin,
                failed_digest,
            },
        );
    }

    /// Makes `plugin` serve its types, unless another file already serves one of them.
    fn install(
        &self,
        file_name: &str,
        stamp: Stamp,
        plugin: Plugin,
        replaced: Option<Plugin>,
    ) -> RegistryEvent {
        let mut state = self.state.write().unwrap();
        let taken = plugin.job_types().iter().find_map(|t| {
            state
                .by_type
                .get(&t.name)
                .filter(|other| other.file_name() != file_name)
                .map(|other| (t.name.clone(), other.file_name().to_string()))
        });
        if let Some((job_type, other_file)) = taken {
            let digest = plugin.digest().to_string();
            state.by_file.insert(
                file_name.to_string(),
                Entry {
                    stamp: Some(stamp),
                    plugin: replaced,
                    failed_digest: Some(digest.clone()),
                },
            );
            return RegistryEvent::Failed {
                file_name: file_name.to_string(),
                digest: Some(digest),
                error: format!(
                    "job type {job_type:?} is already served by {other_file}; \
                     one job type can be served by one file only"
                ),
            };
        }
        state.by_type.retain(|_, p| p.file_name() != file_name);
        for t in plugin.job_types() {
            state.by_type.insert(t.name.clone(), plugin.clone());
        }
        state.by_file.insert(
            file_name.to_string(),
            Entry {
                stamp: Some(stamp),
                plugin: Some(plugin.clone()),
                failed_digest: None,
            },
        );
        RegistryEvent::Loaded { plugin, replaced }
    }
}
