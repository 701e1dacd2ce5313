//! What can go wrong in the runtime.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum RuntimeError {
    #[error("invalid runtime configuration: {0}")]
    Config(String),
    #[error("could not start the WebAssembly engine: {0}")]
    Engine(String),
    #[error("could not watch the plugins directory: {0}")]
    Watch(#[from] notify::Error),
}

/// Why a plugin file could not be loaded. Each message says what was wrong with the file.
#[derive(Debug, Error)]
pub enum LoadError {
    #[error("cannot read {file}: {source}")]
    Unreadable {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file} is not a WebAssembly component this host can compile: {reason}")]
    NotAComponent { file: String, reason: String },
    #[error(
        "{file} cannot run on this host (it needs an import jobhost does not offer, or \
         another version of the jobhost:plugin WIT): {reason}"
    )]
    Incompatible { file: String, reason: String },
    #[error("{file}: `describe` failed: {reason}")]
    DescribeFailed { file: String, reason: String },
    #[error("{file}: {reason}")]
    BadDescription { file: String, reason: String },
    #[error("{file}: the manifest {manifest} is invalid: {reason}")]
    BadManifest {
        file: String,
        manifest: String,
        reason: String,
    },
}

/// Why a payload does not satisfy its job type's schema; names the fields.
#[derive(Debug, Error, Clone, PartialEq)]
#[error("the payload does not match the schema of job type {job_type:?}: {problems}")]
pub struct PayloadError {
    pub job_type: String,
    pub problems: String,
}
