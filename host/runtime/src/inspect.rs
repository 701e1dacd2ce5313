//! `plugins check`: everything an operator wants to know about a component before
//! deploying it, whether or not this host can run it.

use std::path::Path;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::Component;

use crate::error::LoadError;
use crate::plugin::Plugin;
use crate::runtime::Runtime;

/// What a component file is, what it needs, and whether this host loads it.
pub struct Inspection {
    pub file: String,
    pub size_bytes: u64,
    pub digest: String,
    /// How long a compilation from scratch took (the daemon caches it on disk).
    pub compile_time: Option<Duration>,
    /// The interfaces (and functions) the component imports, as WIT names.
    pub imports: Vec<String>,
    pub exports: Vec<String>,
    /// The loaded plugin, with what `describe` declared; or why it cannot run here.
    pub loaded: Result<Plugin, LoadError>,
}

impl Runtime {
    /// Compiles `path` from scratch (ignoring the cache, so the compile time is real),
    /// lists its imports and exports, then loads it as the daemon would.
    pub fn inspect_file(&self, path: &Path) -> Result<Inspection, LoadError> {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Unreadable {
            file: path.display().to_string(),
            source,
        })?;
        let digest = hex::encode(Sha256::digest(&bytes));
        let started = Instant::now();
        let compiled = Component::new(self.engine(), &bytes);
        let compile_time = started.elapsed();
        let (imports, exports) = match &compiled {
            Ok(component) => {
                // The load below then finds it in the cache: a component with an
                // interpreter inside takes tens of seconds to compile, once is enough.
                self.keep_compiled(&digest, component);
                names(self, component)
            }
            Err(_) => (vec![], vec![]),
        };
        Ok(Inspection {
            file: path.display().to_string(),
            size_bytes: bytes.len() as u64,
            digest,
            compile_time: compiled.is_ok().then_some(compile_time),
            imports,
            exports,
            loaded: self.load_file_bytes(path, &bytes),
        })
    }
}

fn names(runtime: &Runtime, component: &Component) -> (Vec<String>, Vec<String>) {
    let ty = component.component_type();
    let engine = runtime.engine();
    let imports = ty
        .imports(engine)
        .map(|(name, _)| name.to_string())
        .collect();
    let exports = ty
        .exports(engine)
        .map(|(name, _)| name.to_string())
        .collect();
    (imports, exports)
}
