//! [`Runtime`]: the engine, the linker that offers WASI and the `host` interface, the
//! thread that ticks the epoch, and loading a plugin file into a [`Plugin`].

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::{Component, HasSelf, Linker};

use crate::bindings::batch::BatchPluginPre;
use crate::bindings::{JobPlugin, JobPluginPre};
use crate::capabilities::Capabilities;
use crate::config::RuntimeConfig;
use crate::error::{LoadError, RuntimeError};
use crate::host::{AttemptState, LogContext};
use crate::kv::{EmptyKv, KvSource, KvView};
use crate::limits::EPOCH_TICK;
use crate::manifest::Manifest;
use crate::plugin::{Compiled, Plugin, from_description};
use crate::run::{self, Attempt, CancelFlag, JobInput};
use crate::{cache, limits};

/// The sandbox. Cheap to clone; the epoch ticker stops when the last clone is dropped.
#[derive(Clone)]
pub struct Runtime(Arc<RuntimeInner>);

struct RuntimeInner {
    engine: Engine,
    engine_hash: String,
    linker: Linker<AttemptState>,
    config: RuntimeConfig,
    kv: Arc<dyn KvSource>,
    ticker_stop: Arc<AtomicBool>,
}

impl Drop for RuntimeInner {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

impl Runtime {
    /// A runtime whose plugins see an empty key-value store: for loading and describing
    /// plugins, not for running jobs against a database.
    pub fn new(config: RuntimeConfig) -> Result<Runtime, RuntimeError> {
        Runtime::with_kv(config, Arc::new(EmptyKv))
    }

    /// A runtime whose plugins read their key-value stores from `kv`.
    pub fn with_kv(config: RuntimeConfig, kv: Arc<dyn KvSource>) -> Result<Runtime, RuntimeError> {
        config.validate()?;
        let engine = Engine::new(&config.wasmtime_config())
            .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .map_err(|e| RuntimeError::Engine(format!("linking WASI: {e:#}")))?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_sync(&mut linker)
            .map_err(|e| RuntimeError::Engine(format!("linking WASI HTTP: {e:#}")))?;
        JobPlugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)
            .map_err(|e| RuntimeError::Engine(format!("linking the host interface: {e:#}")))?;
        let ticker_stop = Arc::new(AtomicBool::new(false));
        spawn_epoch_ticker(engine.clone(), ticker_stop.clone())?;
        Ok(Runtime(Arc::new(RuntimeInner {
            engine_hash: cache::engine_hash(&engine),
            engine,
            linker,
            config,
            kv,
            ticker_stop,
        })))
    }

    /// Loads a plugin file, with the operator's manifest beside it if there is one.
    pub fn load_file(&self, path: &Path) -> Result<Plugin, LoadError> {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Unreadable {
            file: path.display().to_string(),
            source,
        })?;
        self.load_file_bytes(path, &bytes)
    }

    /// Loads a plugin file whose bytes the caller has already read.
    pub(crate) fn load_file_bytes(&self, path: &Path, bytes: &[u8]) -> Result<Plugin, LoadError> {
        let file_name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let manifest = Manifest::beside(path).map_err(|reason| LoadError::BadManifest {
            file: file_name.clone(),
            manifest: path.with_extension("toml").display().to_string(),
            reason,
        })?;
        self.load(&file_name, bytes, manifest)
    }

    /// Loads a plugin from bytes (no manifest).
    pub fn load_bytes(&self, file_name: &str, bytes: &[u8]) -> Result<Plugin, LoadError> {
        self.load(file_name, bytes, None)
    }

    fn load(
        &self,
        file_name: &str,
        bytes: &[u8],
        manifest: Option<(String, Manifest)>,
    ) -> Result<Plugin, LoadError> {
        let inner = &self.0;
        let digest = hex::encode(Sha256::digest(bytes));
        let component = cache::compile(
            &inner.engine,
            &inner.engine_hash,
            inner.config.cache_dir.as_deref(),
            &digest,
            bytes,
        )
        .map_err(|e| LoadError::NotAComponent {
            file: file_name.to_string(),
            reason: format!("{e:#}"),
        })?;
        let incompatible = |e: wasmtime::Error| LoadError::Incompatible {
            file: file_name.to_string(),
            reason: format!("{e:#}"),
        };
        let instance_pre = inner
            .linker
            .instantiate_pre(&component)
            .map_err(incompatible)?;
        // A component that does not export batch-handler is a plain job-plugin.
        let batch = BatchPluginPre::new(instance_pre.clone()).ok();
        let pre = JobPluginPre::new(instance_pre).map_err(incompatible)?;
        let compiled = Compiled {
            file_name: file_name.to_string(),
            digest,
            size_bytes: bytes.len() as u64,
            pre,
            batch,
        };
        let info = self.describe(&compiled)?;
        from_description(
            compiled,
            info,
            inner.config.default_limits,
            manifest,
            &inner.config.secrets,
        )
    }

    /// Calls `describe` under the default limits, so a plugin that misbehaves there
    /// fails to load instead of hanging the loader.
    fn describe(&self, compiled: &Compiled) -> Result<crate::bindings::PluginInfo, LoadError> {
        let limits = self.0.config.default_limits;
        let log = LogContext {
            plugin: compiled.file_name.as_str().into(),
            job_id: "describe".into(),
            job_type: String::new(),
        };
        // `describe` runs with no capabilities and no key-value store, whatever the
        // manifest grants.
        let nothing = Capabilities::default();
        let kv = KvView::new(None, compiled.file_name.as_str().into());
        let mut store = run::new_store(
            &self.0.engine,
            log,
            kv,
            &limits,
            &nothing,
            CancelFlag::default(),
        );
        let result = compiled
            .pre
            .instantiate(&mut store)
            .and_then(|bindings| bindings.jobhost_plugin_handler().call_describe(&mut store));
        result.map_err(|e| LoadError::DescribeFailed {
            file: compiled.file_name.clone(),
            reason: run::classify(&e, store.data(), &limits).to_string(),
        })
    }

    /// Runs one attempt in a fresh instance. Never panics on guest misbehaviour.
    pub fn run(&self, plugin: &Plugin, job: &JobInput, cancel: &CancelFlag) -> Attempt {
        run::run(&self.0.engine, &self.0.kv, plugin, job, cancel)
    }

    /// Runs one attempt of each of `jobs`, all of one type that `plugin` takes in
    /// batches, in one call of `run-batch`; one [`Attempt`] per job, in order. See
    /// `batch.rs` for the limits. Never panics on guest misbehaviour.
    pub fn run_batch(
        &self,
        plugin: &Plugin,
        jobs: &[JobInput],
        cancel: &CancelFlag,
    ) -> Vec<Attempt> {
        crate::batch::run_batch(&self.0.engine, &self.0.kv, plugin, jobs, cancel)
    }

    pub fn default_limits(&self) -> limits::Limits {
        self.0.config.default_limits
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.0.engine
    }

    /// Puts a component compiled by this engine into the compile cache, if there is one.
    pub(crate) fn keep_compiled(&self, digest: &str, component: &Component) {
        let inner = &self.0;
        cache::keep(
            &inner.engine_hash,
            inner.config.cache_dir.as_deref(),
            digest,
            component,
        );
    }
}

fn spawn_epoch_ticker(engine: Engine, stop: Arc<AtomicBool>) -> Result<(), RuntimeError> {
    std::thread::Builder::new()
        .name("epoch-ticker".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            }
        })
        .map(|_| ())
        .map_err(|e| RuntimeError::Engine(format!("starting the epoch ticker: {e}")))
}
