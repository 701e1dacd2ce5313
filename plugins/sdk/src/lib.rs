//! The Rust SDK for jobhost plugins: the bindings of the `jobhost:plugin` world, with
//! the plumbing hidden. A handler is a plain function over a serde payload, declared with
//! [`JobSpec`] and [`plugin!`] (see `plugins/README.md`); the [`Handler`] trait with
//! `export!` is the level below, for a plugin that wants the WIT types themselves.

wit_bindgen::generate!({
    path: "../../wit",
    world: "job-plugin",
    pub_export_macro: true,
    export_macro_name: "export",
    default_bindings_module: "jobhost_plugin_sdk",
});

mod jobs;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use jobs::{JobSpec, describe_jobs, fail, retry, run_job};

pub use exports::jobhost::plugin::handler::Guest as Handler;
pub use jobhost::plugin::types::{
    EnqueueOptions, Job, JobError, JobTypeInfo, Level, Limits, PluginInfo, ScheduleInfo,
};

impl Limits {
    /// No limits of the type's own: the host's defaults apply.
    pub fn host_defaults() -> Limits {
        Limits {
            fuel: None,
            timeout_ms: None,
            memory_mib: None,
            max_attempts: None,
            rate_per_minute: None,
            concurrency: None,
        }
    }
}

impl EnqueueOptions {
    /// Every option left to the host's defaults.
    pub fn host_defaults() -> EnqueueOptions {
        EnqueueOptions {
            priority: None,
            delay_ms: None,
            max_attempts: None,
            queue: None,
            after: Vec::new(),
        }
    }

    /// Waits on these jobs (ids `enqueue` returned, or any other job's): the new job
    /// starts only after every one of them completed.
    pub fn after<I: IntoIterator<Item = S>, S: Into<String>>(mut self, ids: I) -> EnqueueOptions {
        self.after = ids.into_iter().map(Into::into).collect();
        self
    }

    /// Higher runs first; 10 is `high`, 0 `normal`, -10 `low`.
    pub fn priority(mut self, priority: i32) -> EnqueueOptions {
        self.priority = Some(priority);
        self
    }

    /// Waits this many milliseconds before the job may start.
    pub fn delay_ms(mut self, delay_ms: u64) -> EnqueueOptions {
        self.delay_ms = Some(delay_ms);
        self
    }
}

/// Describes one job type; `schema` is the payload's JSON Schema, if it has one.
pub fn job_type(name: &str, schema: Option<serde_json::Value>, limits: Limits) -> JobTypeInfo {
    JobTypeInfo {
        name: name.to_string(),
        payload_schema: schema.map(|s| s.to_string()),
        batch_size: None,
        limits,
        unique_key_fields: Vec::new(),
    }
}

/// A cron schedule for `describe` to declare: a job of `job_type` with `payload` at
/// every time `expression` names (5 fields, or 6 with seconds first), in UTC unless
/// [`ScheduleInfo::in_timezone`] says otherwise.
pub fn schedule<T: Serialize>(
    name: &str,
    expression: &str,
    job_type: &str,
    payload: &T,
) -> ScheduleInfo {
    ScheduleInfo {
        name: name.to_string(),
        expression: expression.to_string(),
        job_type: job_type.to_string(),
        payload: serde_json::to_string(payload).unwrap_or_else(|_| "{}".into()),
        timezone: None,
    }
}

impl ScheduleInfo {
    /// Reads the expression in an IANA time zone, e.g. `Europe/Paris`.
    pub fn in_timezone(mut self, timezone: &str) -> ScheduleInfo {
        self.timezone = Some(timezone.to_string());
        self
    }
}

/// Writes to the host's log, tagged with the job being run.
pub fn log(level: Level, message: &str) {
    jobhost::plugin::host::log(level, message);
}

/// `log(Level::Info, message)`.
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// `log(Level::Warn, message)`.
pub fn warn(message: &str) {
    log(Level::Warn, message);
}

/// Enqueues a follow-up job, committed only if the current attempt completes.
pub fn enqueue<T: Serialize>(
    job_type: &str,
    payload: &T,
    options: EnqueueOptions,
) -> Result<String, String> {
    let payload = serde_json::to_string(payload).map_err(|e| e.to_string())?;
    jobhost::plugin::host::enqueue(job_type, &payload, &options)
}

/// Reads the job's payload as `T`; a payload of the wrong shape is a permanent failure.
pub fn payload<T: DeserializeOwned>(job: &Job) -> Result<T, JobError> {
    serde_json::from_str(&job.payload)
        .map_err(|e| JobError::Fail(format!("the payload does not fit {}: {e}", job.job_type)))
}

/// Encodes a handler's result as the JSON document `run` returns.
pub fn result<T: Serialize>(value: &T) -> Result<String, JobError> {
    serde_json::to_string(value).map_err(|e| JobError::Fail(format!("unencodable result: {e}")))
}

/// Reads a key of this plugin's key-value store: the committed value, with this
/// attempt's own writes applied over it. Fails only when the host cannot reach its
/// database (returning `JobError::Retry` with the message is the usual answer).
pub fn kv_get(key: &str) -> Result<Option<String>, String> {
    jobhost::plugin::host::kv_get(key)
}

/// Sets a key of this plugin's key-value store, committed only if the current attempt
/// completes, together with its completion: check a key before a side effect and set it
/// after, and the effect happens once however often the job runs.
pub fn kv_set(key: &str, value: &str) -> Result<(), String> {
    jobhost::plugin::host::kv_set(key, value)
}

/// Removes a key of this plugin's key-value store, committed like [`kv_set`].
pub fn kv_delete(key: &str) -> Result<(), String> {
    jobhost::plugin::host::kv_delete(key)
}
