//! A loaded plugin: its compiled, pre-instantiated component and what its `describe`
//! declared, with limits resolved (host defaults, then the plugin's own, then the
//! operator's manifest) and payload schemas compiled.

use std::sync::Arc;

use serde_json::Value;

use crate::bindings::batch::BatchPluginPre;
use crate::bindings::{JobPluginPre, PluginInfo, ScheduleInfo};
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
    schedules: Vec<ScheduleSpec>,
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
    /// Starts a minute across every daemon, as the plugin and manifest resolve it.
    pub rate_per_minute: Option<u32>,
    /// Jobs running at once across every daemon, as the plugin and manifest resolve it.
    pub concurrency: Option<u32>,
    /// Payload fields whose values make the default unique key; empty for none.
    pub unique_key_fields: Vec<String>,
}

/// A cron schedule the plugin declares, as `describe` gave it. The daemon checks the
/// expression and time zone when it writes it to the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleSpec {
    pub name: String,
    pub expression: String,
    pub job_type: String,
    /// A JSON document.
    pub payload: String,
    /// An IANA time zone name; `None` for UTC.
    pub timezone: Option<String>,
}

impl JobTypeSpec {
    /// The unique key a payload's `unique_key_fields` make: the fields' JSON values
    /// joined with `:` (a string without its quotes, a missing field as `null`);
    /// `None` when the type declares no fields.
    pub fn default_unique_key(&self, payload: &Value) -> Option<String> {
        unique_key_from(&self.unique_key_fields, payload)
    }
}

/// The unique key `fields` make of a payload: their JSON values joined with `:` (a
/// string without its quotes, a missing field as `null`); `None` for no fields.
pub fn unique_key_from(fields: &[String], payload: &Value) -> Option<String> {
    if fields.is_empty() {
        return None;
    }
    let parts: Vec<String> = fields
        .iter()
        .map(|f| match payload.get(f) {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => "null".to_string(),
        })
        .collect();
    Some(parts.join(":"))
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
            .field("rate_per_minute", &self.rate_per_minute)
            .field("concurrency", &self.concurrency)
            .field("unique_key_fields", &self.unique_key_fields)
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
    /// The cron schedules `describe` declared.
    pub fn schedules(&self) -> &[ScheduleSpec] {
        &self.0.schedules
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
            rate_per_minute: declared_type.limits.rate_per_minute,
            concurrency: declared_type.limits.concurrency,
        };
        if own.rate_per_minute == Some(0) || own.concurrency == Some(0) {
            return Err(bad(format!(
                "job type {name:?} declares a rate or concurrency of 0, which would never \
                 start a job: leave it out for no limit"
            )));
        }
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
        if let Some(field) = declared_type
            .unique_key_fields
            .iter()
            .find(|f| f.is_empty())
        {
            return Err(bad(format!(
                "job type {name:?} names an empty unique-key field {field:?}"
            )));
        }
        job_types.push(JobTypeSpec {
            name,
            payload_schema,
            limits,
            max_attempts: overrides.max_attempts,
            // A manifest's 0 lifts the plugin's limit.
            rate_per_minute: overrides.rate_per_minute.filter(|&r| r > 0),
            concurrency: overrides.concurrency.filter(|&k| k > 0),
            unique_key_fields: declared_type.unique_key_fields,
            batch_size,
        });
    }
    let schedules = schedules_of(info.schedules).map_err(bad)?;
    Ok(Plugin(Arc::new(PluginInner {
        file_name: compiled.file_name,
        digest: compiled.digest,
        name: info.name.into(),
        version: info.version,
        size_bytes: compiled.size_bytes,
        job_types,
        schedules,
        default_limits: defaults,
        capabilities,
        pre: compiled.pre,
        batch: compiled.batch,
    })))
}

/// The declared schedules, with names unique and payloads JSON documents.
fn schedules_of(declared: Vec<ScheduleInfo>) -> Result<Vec<ScheduleSpec>, String> {
    let mut schedules: Vec<ScheduleSpec> = Vec::new();
    for s in declared {
        if !is_valid_name(&s.name) {
            return Err(format!(
                "schedule {:?} is not a valid name (letters, digits, `_`, `-`, `.`)",
                s.name
            ));
        }
        if schedules.iter().any(|t| t.name == s.name) {
            return Err(format!("schedule {:?} is declared twice", s.name));
        }
        if let Err(e) = serde_json::from_str::<Value>(&s.payload) {
            return Err(format!(
                "the payload of schedule {:?} is not a JSON document: {e}",
                s.name
            ));
        }
        schedules.push(ScheduleSpec {
            name: s.name,
            expression: s.expression,
            job_type: s.job_type,
            payload: s.payload,
            timezone: s.timezone,
        });
    }
    Ok(schedules)
}

fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}
