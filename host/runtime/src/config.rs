//! [`RuntimeConfig`], and the one place a `wasmtime::Config` is built.

use std::path::PathBuf;

use wasmtime::{Enabled, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::capabilities::Secrets;
use crate::error::RuntimeError;
use crate::limits::{Limits, MAX_MEMORY_MIB};

/// Attempts (plus `describe` calls) alive at once with the pooling allocator.
pub const DEFAULT_MAX_INSTANCES: u32 = 64;
/// Core instances, memories and tables one component may hold in a pool slot; a Rust
/// component has a handful of each (its module plus the shims that bind WASI).
const MAX_CORE_INSTANCES_PER_COMPONENT: u32 = 32;
const MAX_MEMORIES_PER_COMPONENT: u32 = 4;
const MAX_TABLES_PER_COMPONENT: u32 = 16;
/// Memory a reused pool slot keeps resident and resets in place rather than handing
/// back to the kernel. With Linux's PAGEMAP_SCAN (kernel 6.7+) only the pages an attempt
/// dirtied are reset, so a small handler's next attempt takes no page faults; without
/// it, wasmtime falls back to resetting by `madvise`.
const KEEP_RESIDENT: usize = 2 * 1024 * 1024;

#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// The on-disk compile cache; `None` compiles every load.
    pub cache_dir: Option<PathBuf>,
    /// Limits of an attempt whose job type and manifest say nothing.
    pub default_limits: Limits,
    /// Pooling allocator capacity: attempts (and `describe` calls) alive at once.
    pub max_instances: u32,
    /// The pooling allocator makes a fresh instance cheap (slots are reused, not
    /// mapped anew); the CLI turns it off to start fast and reserve nothing.
    pub pooling: bool,
    /// Named secrets a plugin's manifest may grant it (`[capabilities] secrets`).
    pub secrets: Secrets,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            cache_dir: None,
            default_limits: Limits::default(),
            max_instances: DEFAULT_MAX_INSTANCES,
            pooling: true,
            secrets: Secrets::default(),
        }
    }
}

impl RuntimeConfig {
    pub fn validate(&self) -> Result<(), RuntimeError> {
        let limits = &self.default_limits;
        if limits.fuel == 0 || limits.timeout.is_zero() || limits.memory_mib == 0 {
            return Err(RuntimeError::Config(
                "default fuel, timeout and memory must all be positive".into(),
            ));
        }
        if limits.memory_mib > MAX_MEMORY_MIB {
            return Err(RuntimeError::Config(format!(
                "the default memory cap {} MiB is above the most a sandbox allows ({MAX_MEMORY_MIB} MiB)",
                limits.memory_mib
            )));
        }
        if self.pooling && self.max_instances == 0 {
            return Err(RuntimeError::Config(
                "max_instances must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// The engine configuration: component model, fuel, epoch interruption (wasm
    /// backtraces are on by default), and the instance allocator.
    pub(crate) fn wasmtime_config(&self) -> wasmtime::Config {
        let mut config = wasmtime::Config::new();
        config
            .wasm_component_model(true)
            .consume_fuel(true)
            .epoch_interruption(true);
        if self.pooling {
            let n = self.max_instances;
            let mut pool = PoolingAllocationConfig::default();
            pool.total_component_instances(n)
                .total_core_instances(n * MAX_CORE_INSTANCES_PER_COMPONENT)
                .total_memories(n * MAX_MEMORIES_PER_COMPONENT)
                .total_tables(n * MAX_TABLES_PER_COMPONENT)
                .max_core_instances_per_component(MAX_CORE_INSTANCES_PER_COMPONENT)
                .max_memories_per_component(MAX_MEMORIES_PER_COMPONENT)
                .max_tables_per_component(MAX_TABLES_PER_COMPONENT)
                .max_memory_size(MAX_MEMORY_MIB as usize * 1024 * 1024)
                .pagemap_scan(Enabled::Auto)
                .linear_memory_keep_resident(KEEP_RESIDENT)
                .table_keep_resident(KEEP_RESIDENT);
            config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        }
        config
    }
}
