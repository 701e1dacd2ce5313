//! The on-disk compile cache. A plugin is compiled once per content and engine: the file
//! `<digest>-<engine hash>.cwasm` holds `Component::serialize` of that compilation, so a
//! restart (or the CLI) deserializes in a fraction of a millisecond instead of compiling.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use tracing::{debug, warn};
use wasmtime::Engine;
use wasmtime::component::Component;

/// A hash of everything that makes compiled code compatible with an engine: the
/// wasmtime version, the target and the engine's settings.
pub(crate) fn engine_hash(engine: &Engine) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

fn cache_file(dir: &Path, digest: &str, engine_hash: &str) -> PathBuf {
    dir.join(format!("{digest}-{engine_hash}.cwasm"))
}

/// Compiles `bytes`, or loads the cached compilation of the same digest.
pub(crate) fn compile(
    engine: &Engine,
    engine_hash: &str,
    cache_dir: Option<&Path>,
    digest: &str,
    bytes: &[u8],
) -> wasmtime::Result<Component> {
    let Some(dir) = cache_dir else {
        return Component::new(engine, bytes);
    };
    let file = cache_file(dir, digest, engine_hash);
    if file.exists() {
        match load_cached(engine, &file) {
            Ok(component) => {
                debug!(file = %file.display(), "compile cache hit");
                return Ok(component);
            }
            Err(e) => warn!(file = %file.display(), "ignoring an unusable cache file: {e}"),
        }
    }
    let component = Component::new(engine, bytes)?;
    if let Err(e) = store(&component, dir, &file) {
        warn!(dir = %dir.display(), "could not write the compile cache: {e}");
        return Ok(component);
    }
    // The compilation's code sits in anonymous memory, which counts whole in the
    // daemon's resident size; the cached file is mapped, and only the pages that run
    // are resident (shared with every process that maps it). A restart would map it
    // anyway, so the first run behaves the same.
    match load_cached(engine, &file) {
        Ok(mapped) => Ok(mapped),
        Err(e) => {
            warn!(file = %file.display(), "could not map the compile cache just written: {e}");
            Ok(component)
        }
    }
}

/// Keeps a compilation made outside [`compile`] (`plugins check` times its own), so the
/// next load of the same content deserializes it instead of compiling it again.
pub(crate) fn keep(
    engine_hash: &str,
    cache_dir: Option<&Path>,
    digest: &str,
    component: &Component,
) {
    let Some(dir) = cache_dir else {
        return;
    };
    let file = cache_file(dir, digest, engine_hash);
    if file.exists() {
        return;
    }
    if let Err(e) = store(component, dir, &file) {
        warn!(dir = %dir.display(), "could not write the compile cache: {e}");
    }
}

#[allow(unsafe_code)]
fn load_cached(engine: &Engine, file: &Path) -> wasmtime::Result<Component> {
    // SAFETY: files in the cache are only ever written by `store` below, from
    // `Component::serialize` of an engine with this very configuration: the engine
    // hash in the file name says so, and it is written under a temporary name and
    // renamed, so a file with this name is whole. wasmtime also checks the header.
    unsafe { Component::deserialize_file(engine, file) }
}

fn store(component: &Component, dir: &Path, file: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let bytes = component
        .serialize()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let temp = file.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&temp, bytes)?;
    std::fs::rename(&temp, file)?;
    Ok(())
}
