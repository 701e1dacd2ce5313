//! A loaded plugin: its compiled, pre-instantiated component and what its `describe`
//! declared, with limits resolved (host defaults, then the plugin's own, then the
//! operator's manifest) and payload schemas compiled.

use std::sync::Arc;

use serde_json::Value;

use crate::bindings::batch::BatchPluginPre;
use crate::bindings::{JobPluginPre, PluginInfo};
use crate::capabilities::{Capabilities, Secrets};
use crate::error::{LoadError, PayloadError};
use crate::host::AttemptState;
use crate::limits::{LimitOverrides, Limits, MAX_MEMORY_MIB};
use crate::manifest::Manifest;
use crate::schema::PayloadSchema;

/// A loaded plugin. Cheap to clone: an attempt holds its own clone, so replacing the
/// file does not disturb attempts already running on this version.
#[derive(Clone)]
pub struct Plugin(Arc<PluginInner>);

struct PluginInner {
    file_name: String,
    digest: String,
    name: Arc<str>,
    version: String,
    size_bytes: u64,
    job_types: Vec<JobTypeSpec>,
    default_limits: Limits,
    capabilities: Capabilities,
    pre: JobPluginPre<AttemptState>,
    /// The same component seen as a `batch-plugin`, when it exports `batch-handler`.
    batch: Option<BatchPluginPre<AttemptState>>,
}

/// One job type as the plugin declared it.
pub struct JobTypeSpec {
    pub name: String,
    pub payload_schema: Option<PayloadSchema>,
    pub limits: Limits,
    pub max_attempts: Option<u32>,
    /// Takes jobs of this type in batches of up to this many (at least 2; a declared 1
    /// is the same as none).
    pub batch_size: Option<u32>,
}

impl JobTypeSpec {
    /// Checks a payload against the type's schema; every problem names its field.
    pub fn validate_payload(&self, payload: &Value) -> Result<(), PayloadError> {
        let Some(schema) = &self.payload_schema else {
            return Ok(());
        };
        schema.check(payload).map_err(|problems| PayloadError {
            job_type: self.name.clone(),
            problems,
        })
    }
}

impl std::fmt::Debug for JobTypeSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobTypeSpec")
            .field("name", &self.name)
            .field(
                "payload_schema",
                &self.payload_schema.as_ref().map(|s| s.schema()),
            )
            .field("limits", &self.limits)
            .field("max_attempts", &self.max_attempts)
            .field("batch_size", &self.batch_size)
            .finish()
    }
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("file_name", &self.0.file_name)
            .field("digest", &self.0.digest)
            .field("job_types", &self.0.job_types)
            .finish()
    }
}

impl Plugin {
    pub fn digest(&self) -> &str {
        &self.0.digest
    }
    pub fn file_name(&self) -> &str {
        &self.0.file_name
    }
    pub fn name(&self) -> &str {
        &self.0.name
    }
    pub fn version(&self) -> &str {
        &self.0.version
    }
    pub fn size_bytes(&self) -> u64 {
        self.0.size_bytes
    }
    pub fn job_types(&self) -> &[JobTypeSpec] {
        &self.0.job_types
    }
    pub fn job_type(&self, name: &str) -> Option<&JobTypeSpec> {
        self.0.job_types.iter().find(|t| t.name == name)
    }

    pub(crate) fn name_arc(&self) -> Arc<str> {
        self.0.name.clone()
    }
    pub(crate) fn default_limits(&self) -> Limits {
        self.0.default_limits
    }
    pub(crate) fn pre(&self) -> &JobPluginPre<AttemptState> {
        &self.0.pre
    }
    pub(crate) fn batch_pre(&self) -> Option<&BatchPluginPre<AttemptState>> {
        self.0.batch.as_ref()
    }
    /// Whether the component exports `batch-handler`.
    pub fn takes_batches(&self) -> bool {
        self.0.batch.is_some()
    }
    /// What the operator's manifest granted it (nothing without one).
    pub fn capabilities(&self) -> &Capabilities {
        &self.0.capabilities
    }
}

/// What is known of a file before its description is checked.
pub(crate) struct Compiled {
    pub file_name: String,
    pub digest: String,
    pub size_bytes: u64,
    pub pre: JobPluginPre<AttemptState>,
    pub batch: Option<BatchPluginPre<AttemptState>>,
}

/// Checks what `describe` returned and resolves each type's limits.
pub(crate) fn from_description(
    compiled: Compiled,
    info: PluginInfo,
    defaults: Limits,
    manifest: Option<(String, Manifest)>,
    host_secrets: &Secrets,
) -> Result<Plugin, LoadError> {
    let file = compiled.file_name.clone();
    let bad = |reason: String| LoadError::BadDescription {
        file: file.clone(),
        reason,
    };
    if info.job_types.is_empty() {
        return Err(bad("`describe` declares no job types".into()));
    }
    let declared: Vec<String> = info.job_types.iter().map(|t| t.name.clone()).collect();
    let mut capabilities = Capabilities::default();
    if let Some((manifest_name, manifest)) = &manifest {
        let bad_manifest = |reason: String| LoadError::BadManifest {
            file: file.clone(),
            manifest: manifest_name.clone(),
            reason,
        };
        let unknown = manifest.unknown_types(&declared);
        if !unknown.is_empty() {
            return Err(bad_manifest(format!(
                "it names job types the plugin does not declare: {unknown:?}"
            )));
        }
        let granted = &manifest.capabilities;
        capabilities = Capabilities::grant(&granted.http, &granted.secrets, host_secrets)
            .map_err(bad_manifest)?;
    }
    let mut job_types = Vec::new();
    for declared_type in info.job_types {
        let name = declared_type.name;
        if !is_valid_name(&name) {
            return Err(bad(format!(
                "job type {name:?} is not a valid name (letters, digits, `_`, `-`, `.`)"
            )));
        }
        if job_types.iter().any(|t: &JobTypeSpec| t.name == name) {
            return Err(bad(format!("job type {name:?} is declared twice")));
        }
        let own = LimitOverrides {
            fuel: declared_type.limits.fuel,
            timeout_ms: declared_type.limits.timeout_ms,
            memory_mib: declared_type.limits.memory_mib,
            max_attempts: declared_type.limits.max_attempts,
        };
        let overrides = match &manifest {
            Some((_, manifest)) => manifest.for_type(&name).over(own),
            None => own,
        };
        let limits = overrides.apply(defaults);
        if limits.fuel == 0 || limits.timeout.is_zero() || limits.memory_mib == 0 {
            return Err(bad(format!("job type {name:?} has a limit of zero")));
        }
        if limits.memory_mib > MAX_MEMORY_MIB {
            return Err(bad(format!(
                "job type {name:?} asks for {} MiB of memory; at most {MAX_MEMORY_MIB} MiB is allowed",
                limits.memory_mib
            )));
        }
        if overrides.max_attempts == Some(0) {
            return Err(bad(format!("job type {name:?} declares max-attempts 0")));
        }
        let batch_size = match declared_type.batch_size {
            Some(0) => return Err(bad(format!("job type {name:?} declares batch-size 0"))),
            Some(_) if compiled.batch.is_none() => {
                return Err(bad(format!(
                    "job type {name:?} declares a batch-size, but the plugin does not export \
                     batch-handler (build it for the batch-plugin world)"
                )));
            }
            Some(1) | None => None,
            Some(n) => Some(n),
        };
        let payload_schema = match declared_type.payload_schema {
            None => None,
            Some(text) => Some(
                PayloadSchema::parse(&text)
                    .map_err(|e| bad(format!("the payload schema of {name:?} is {e}")))?,
            ),
        };
        job_types.push(JobTypeSpec {
            name,
            payload_schema,
            limits,
            max_attempts: overrides.max_attempts,
            batch_size,
        });
    }
    Ok(Plugin(Arc::new(PluginInner {
        file_name: compiled.file_name,
        digest: compiled.digest,
        name: info.name.into(),
        version: info.version,
        size_bytes: compiled.size_bytes,
        job_types,
        default_limits: defaults,
        capabilities,
        pre: compiled.pre,
        batch: compiled.batch,
    })))
}

fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}
