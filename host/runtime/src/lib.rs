//! The sandbox: the only code in jobhost that touches wasmtime.
//!
//! A plugin is a WASI 0.2 component of the `jobhost:plugin` world. [`Runtime`] compiles
//! it once (cached on disk by content digest and engine version), asks it what job types
//! it handles (`describe`), and runs each attempt in a fresh instance from a
//! pre-instantiated component, under three limits: fuel (deterministic), a wall-clock
//! deadline (epoch interruption) and a memory cap. A trap never escapes: it comes back
//! as a classified [`Outcome`].
//!
//! # Layout
//! - `limits.rs`: [`Limits`] and the named defaults.
//! - `config.rs`: [`RuntimeConfig`] and the one place a `wasmtime::Config` is built.
//! - `runtime.rs`: [`Runtime`] — engine, linker, epoch ticker, loading.
//! - `cache.rs`: the on-disk compile cache.
//! - `bindings.rs` + `host.rs`: the WIT bindings, and the per-attempt state with the
//!   host functions (`log`, `enqueue`, `kv-*`) and the memory limiter.
//! - `kv.rs`: a plugin's key-value store as an attempt sees it: reads through a
//!   [`KvSource`] the host supplies, writes buffered until the attempt completes.
//! - `plugin.rs`: [`Plugin`] and [`JobTypeSpec`] (what `describe` declared, resolved
//!   limits, compiled payload schema); `manifest.rs`: an operator's `NAME.toml`;
//!   `capabilities.rs`: what it grants (HTTP to listed hosts, named secrets);
//!   `schema.rs`: [`PayloadSchema`], shared with the CLI's enqueue.
//! - `run.rs`: one attempt, and how its end is classified; `batch.rs`: one call of
//!   `run-batch` for several jobs of a type that takes batches, and its limits.
//! - `registry.rs` + `watch.rs`: the live set of plugins in a directory, hot reload.
//! - `inspect.rs`: [`Inspection`], what `plugins check` reports of a file.

mod batch;
mod bindings;
mod cache;
mod capabilities;
mod config;
mod error;
mod host;
mod inspect;
mod kv;
mod limits;
mod manifest;
mod memory;
mod plugin;
mod registry;
mod run;
mod runtime;
mod schema;
mod watch;

pub use batch::batch_limits;
pub use capabilities::{Capabilities, Secrets};
pub use config::RuntimeConfig;
pub use error::{LoadError, PayloadError, RuntimeError};
pub use inspect::Inspection;
pub use kv::{EmptyKv, KvSource, KvWrite, MAX_KV_KEY, MAX_KV_VALUE, MAX_KV_WRITES};
pub use limits::{DEFAULT_FUEL, DEFAULT_MEMORY_MIB, DEFAULT_TIMEOUT, EPOCH_TICK, Limits};
pub use plugin::{JobTypeSpec, Plugin, ScheduleSpec, unique_key_from};
pub use registry::{Registry, RegistryEvent};
pub use run::{Attempt, CancelFlag, FollowUp, JobInput, Outcome};
pub use runtime::Runtime;
pub use schema::PayloadSchema;
pub use watch::Watcher;
