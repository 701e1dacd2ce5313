//! Handlers as plain functions: `fn(payload: T, job: &Job) -> Result<R, JobError>` over
//! serde types, declared with [`JobSpec`] and the [`plugin!`](crate::plugin) macro, which
//! writes `describe` and `run` for them.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Job, JobError, JobTypeInfo, Limits, PluginInfo, ScheduleInfo, payload, result};

type Run = Box<dyn Fn(&Job) -> Result<String, JobError>>;

/// One job type: its name, its payload schema and limits, and the function that runs it.
pub struct JobSpec {
    info: JobTypeInfo,
    run: Run,
}

impl JobSpec {
    /// A job type served by `handler`. Its payload is decoded into `P` (a payload that
    /// does not fit fails permanently) and its return value encoded as the result.
    pub fn new<P, R, F>(name: &str, handler: F) -> JobSpec
    where
        P: DeserializeOwned,
        R: Serialize,
        F: Fn(P, &Job) -> Result<R, JobError> + 'static,
    {
        JobSpec {
            info: JobTypeInfo {
                name: name.to_string(),
                payload_schema: None,
                batch_size: None,
                limits: Limits::host_defaults(),
                unique_key_fields: Vec::new(),
            },
            run: Box::new(move |job| result(&handler(payload(job)?, job)?)),
        }
    }

    /// The payload's JSON Schema: the host refuses a payload that fails it at enqueue.
    pub fn schema(mut self, schema: serde_json::Value) -> JobSpec {
        self.info.payload_schema = Some(schema.to_string());
        self
    }

    /// Takes jobs of this type in batches of up to `size`: the plugin must then be
    /// declared with `jobhost_plugin_batch::batch_plugin!`, which exports `run-batch`.
    pub fn batch_size(mut self, size: u32) -> JobSpec {
        self.info.batch_size = Some(size);
        self
    }

    pub fn max_attempts(mut self, attempts: u32) -> JobSpec {
        self.info.limits.max_attempts = Some(attempts);
        self
    }

    pub fn fuel(mut self, fuel: u64) -> JobSpec {
        self.info.limits.fuel = Some(fuel);
        self
    }

    pub fn timeout_ms(mut self, timeout_ms: u64) -> JobSpec {
        self.info.limits.timeout_ms = Some(timeout_ms);
        self
    }

    pub fn memory_mib(mut self, memory_mib: u32) -> JobSpec {
        self.info.limits.memory_mib = Some(memory_mib);
        self
    }

    /// At most this many jobs of the type start a minute, across every daemon sharing
    /// the database (an operator's limit or manifest replaces it).
    pub fn rate_per_minute(mut self, rate: u32) -> JobSpec {
        self.info.limits.rate_per_minute = Some(rate);
        self
    }

    /// At most this many jobs of the type run at once, across every daemon sharing the
    /// database (an operator's limit or manifest replaces it).
    pub fn concurrency(mut self, concurrency: u32) -> JobSpec {
        self.info.limits.concurrency = Some(concurrency);
        self
    }

    /// Payload fields whose values make a job's unique key when its enqueue names none.
    pub fn unique_key_fields(mut self, fields: &[&str]) -> JobSpec {
        self.info.unique_key_fields = fields.iter().map(|f| f.to_string()).collect();
        self
    }
}

/// What [`plugin!`](crate::plugin)'s `describe` returns.
#[doc(hidden)]
pub fn describe_jobs(
    name: &str,
    version: &str,
    jobs: Vec<JobSpec>,
    schedules: Vec<ScheduleInfo>,
) -> PluginInfo {
    PluginInfo {
        name: name.to_string(),
        version: version.to_string(),
        job_types: jobs.into_iter().map(|j| j.info).collect(),
        schedules,
    }
}

/// What [`plugin!`](crate::plugin)'s `run` does: the job's function, by its type.
#[doc(hidden)]
pub fn run_job(jobs: Vec<JobSpec>, job: Job) -> Result<String, JobError> {
    match jobs.iter().find(|j| j.info.name == job.job_type) {
        Some(spec) => (spec.run)(&job),
        None => Err(JobError::Fail(format!(
            "this plugin does not handle job type {:?}",
            job.job_type
        ))),
    }
}

/// A retryable error: the host runs the job again after a backoff.
pub fn retry(message: impl Into<String>) -> JobError {
    JobError::Retry(message.into())
}

/// A permanent error: the job goes to the dead-letter queue at once.
pub fn fail(message: impl Into<String>) -> JobError {
    JobError::Fail(message.into())
}

/// Declares a plugin made of plain functions, and exports it; cron schedules may
/// follow the job types:
///
/// ```ignore
/// jobhost_plugin_sdk::plugin!("greeter", "1.0.0", [
///     JobSpec::new("greet", greet).schema(json!({ "type": "object" })),
/// ], schedules: [
///     schedule("morning", "0 8 * * *", "greet", &json!({})).in_timezone("Europe/Paris"),
/// ]);
/// ```
#[macro_export]
macro_rules! plugin {
    ($name:expr, $version:expr, [$($job:expr),+ $(,)?]) => {
        $crate::plugin!($name, $version, [$($job),+], schedules: []);
    };
    ($name:expr, $version:expr, [$($job:expr),+ $(,)?], schedules: [$($schedule:expr),* $(,)?]) => {
        struct JobhostPlugin;

        fn jobhost_jobs() -> ::std::vec::Vec<$crate::JobSpec> {
            ::std::vec![$($job),+]
        }

        impl $crate::Handler for JobhostPlugin {
            fn describe() -> $crate::PluginInfo {
                $crate::describe_jobs($name, $version, jobhost_jobs(), ::std::vec![$($schedule),*])
            }

            fn run(job: $crate::Job) -> ::std::result::Result<::std::string::String, $crate::JobError> {
                $crate::run_job(jobhost_jobs(), job)
            }
        }

        $crate::export!(JobhostPlugin);
    };
}
