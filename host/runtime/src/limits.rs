//! The three limits every attempt runs under, and their defaults.

use std::time::Duration;

use serde::Serialize;

/// Fuel of one attempt: about 1.5 s of a tight loop on the project's machines (a tight
/// loop burns ~7 million units per millisecond).
pub const DEFAULT_FUEL: u64 = 10_000_000_000;
/// Wall-clock deadline of one attempt.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Linear memory one attempt may grow to.
pub const DEFAULT_MEMORY_MIB: u32 = 128;
/// How often the epoch advances: the granularity of deadlines and cancellation.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);
/// The largest memory cap a job type or manifest may ask for.
pub const MAX_MEMORY_MIB: u32 = 4096;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// Fuel (roughly, wasm instructions) one attempt may burn.
    pub fuel: u64,
    /// Wall-clock deadline of one attempt.
    #[serde(rename = "timeout_ms", with = "millis")]
    pub timeout: Duration,
    /// Linear memory one attempt may grow to, in MiB.
    pub memory_mib: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: DEFAULT_FUEL,
            timeout: DEFAULT_TIMEOUT,
            memory_mib: DEFAULT_MEMORY_MIB,
        }
    }
}

impl Limits {
    pub fn memory_bytes(&self) -> usize {
        self.memory_mib as usize * 1024 * 1024
    }
}

/// Limits expressed in the WIT's `limits` record or a manifest: each may be left out.
/// The flow limits (`rate_per_minute`, `concurrency`) are not the sandbox's: the daemon
/// writes them to the database, where every claim honours them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LimitOverrides {
    pub fuel: Option<u64>,
    pub timeout_ms: Option<u64>,
    pub memory_mib: Option<u32>,
    pub max_attempts: Option<u32>,
    pub rate_per_minute: Option<u32>,
    pub concurrency: Option<u32>,
}

impl LimitOverrides {
    /// `self` where it says something, `base` elsewhere.
    pub fn over(self, base: LimitOverrides) -> LimitOverrides {
        LimitOverrides {
            fuel: self.fuel.or(base.fuel),
            timeout_ms: self.timeout_ms.or(base.timeout_ms),
            memory_mib: self.memory_mib.or(base.memory_mib),
            max_attempts: self.max_attempts.or(base.max_attempts),
            rate_per_minute: self.rate_per_minute.or(base.rate_per_minute),
            concurrency: self.concurrency.or(base.concurrency),
        }
    }

    pub fn apply(self, defaults: Limits) -> Limits {
        Limits {
            fuel: self.fuel.unwrap_or(defaults.fuel),
            timeout: self
                .timeout_ms
                .map_or(defaults.timeout, Duration::from_millis),
            memory_mib: self.memory_mib.unwrap_or(defaults.memory_mib),
        }
    }
}

mod millis {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }
}
