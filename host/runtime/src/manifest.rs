//! An operator's manifest, `NAME.toml` beside `NAME.wasm`: limit overrides for every job
//! type of the plugin (`[limits]`) or for one (`[types.NAME]`), and what the plugin is
//! granted (`[capabilities]`, see `capabilities.rs`). Unknown keys are errors, so a typo
//! never silently does nothing. `rate_per_minute` and `concurrency` override the flow
//! limits the plugin declares; 0 lifts the plugin's.
//!
//! ```toml
//! [limits]
//! timeout_ms = 60000
//!
//! [types.send_email]
//! fuel = 50000000000
//! max_attempts = 10
//! rate_per_minute = 120
//! concurrency = 4
//!
//! [capabilities]
//! http = ["api.example.com"]
//! secrets = ["WEBHOOK_SECRET"]
//! ```

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use crate::limits::LimitOverrides;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Manifest {
    #[serde(default)]
    limits: ManifestLimits,
    #[serde(default)]
    types: HashMap<String, ManifestLimits>,
    #[serde(default)]
    pub capabilities: ManifestCapabilities,
}

/// What the operator grants; nothing when absent.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ManifestCapabilities {
    /// Hosts (`name` for any port, `name:port` for one) outbound HTTP may reach.
    #[serde(default)]
    pub http: Vec<String>,
    /// Names of the host's secrets the plugin may read, as environment variables.
    #[serde(default)]
    pub secrets: Vec<String>,
}

#[derive(Debug, Default, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestLimits {
    fuel: Option<u64>,
    timeout_ms: Option<u64>,
    memory_mib: Option<u32>,
    max_attempts: Option<u32>,
    rate_per_minute: Option<u32>,
    concurrency: Option<u32>,
}

impl From<ManifestLimits> for LimitOverrides {
    fn from(m: ManifestLimits) -> Self {
        LimitOverrides {
            fuel: m.fuel,
            timeout_ms: m.timeout_ms,
            memory_mib: m.memory_mib,
            max_attempts: m.max_attempts,
            rate_per_minute: m.rate_per_minute,
            concurrency: m.concurrency,
        }
    }
}

impl Manifest {
    /// Reads the manifest beside `wasm`, if there is one.
    pub fn beside(wasm: &Path) -> Result<Option<(String, Manifest)>, String> {
        let path = wasm.with_extension("toml");
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let name = path.display().to_string();
        toml::from_str(&text)
            .map(|m| Some((name, m)))
            .map_err(|e| e.to_string())
    }

    /// The overrides for one job type: its own table over the plugin-wide one.
    pub fn for_type(&self, job_type: &str) -> LimitOverrides {
        let all: LimitOverrides = self.limits.into();
        self.types
            .get(job_type)
            .map_or(all, |own| LimitOverrides::from(*own).over(all))
    }

    /// Job types named in `[types.…]` that the plugin does not declare.
    pub fn unknown_types<'a>(&'a self, declared: &[String]) -> Vec<&'a str> {
        self.types
            .keys()
            .filter(|t| !declared.contains(t))
            .map(String::as_str)
            .collect()
    }
}
