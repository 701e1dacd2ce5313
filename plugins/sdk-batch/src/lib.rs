//! Batches for Rust plugins: the bindings of the `batch-plugin` world, which adds the
//! `batch-handler` export to `job-plugin`. A crate of its own, so that only the plugins
//! that batch build for that world: one that depends on `jobhost-plugin-sdk` alone exports
//! what it always did.
//!
//! A batching plugin declares the type's batch size with [`JobSpec::batch_size`], and
//! writes `describe`/`run` and `run-batch` with [`batch_plugin!`]. The host then calls
//! `run-batch` with up to that many claimed jobs of the type at once, and settles each by
//! its own result; `run` still serves a job the host runs alone. During `run-batch` the
//! host's `enqueue` and `kv-set`/`kv-delete` fail: a batch's jobs settle one by one, and
//! those belong to one job's completion.

wit_bindgen::generate!({
    path: "../../wit",
    world: "batch-plugin",
    with: {
        "jobhost:plugin/types@0.1.0": jobhost_plugin_sdk::jobhost::plugin::types,
        "jobhost:plugin/host@0.1.0": jobhost_plugin_sdk::jobhost::plugin::host,
    },
    pub_export_macro: true,
    export_macro_name: "export",
    default_bindings_module: "jobhost_plugin_batch",
});

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use exports::jobhost::plugin::batch_handler::Guest as BatchHandler;
pub use exports::jobhost::plugin::handler::Guest as Handler;
pub use jobhost_plugin_sdk::{Job, JobError, JobSpec, PluginInfo, describe_jobs, run_job};

/// Runs `handler` on each job of a batch, in order, decoding each payload as `P`: a
/// payload that does not fit fails that job alone.
pub fn each<P, R, F>(jobs: &[Job], mut handler: F) -> Vec<Result<String, JobError>>
where
    P: DeserializeOwned,
    R: Serialize,
    F: FnMut(P, &Job) -> Result<R, JobError>,
{
    jobs.iter()
        .map(|job| {
            let payload = jobhost_plugin_sdk::payload::<P>(job)?;
            jobhost_plugin_sdk::result(&handler(payload, job)?)
        })
        .collect()
}

/// Declares a plugin of plain functions that takes some of its types in batches, and
/// exports it:
///
/// ```ignore
/// jobhost_plugin_batch::batch_plugin!("mailer", "1.0.0",
///     [JobSpec::new("send_email", send_email).batch_size(10)],
///     run_batch: |jobs: Vec<Job>| jobhost_plugin_batch::each(&jobs, send_email));
/// ```
///
/// Cron schedules may follow the job types, as in `plugin!`: `schedules: [...]`, before
/// `run_batch`.
///
/// `run_batch` gets the jobs of one type that declares a batch size, and returns one
/// result per job, in order.
#[macro_export]
macro_rules! batch_plugin {
    ($name:expr, $version:expr, [$($job:expr),+ $(,)?], run_batch: $run_batch:expr $(,)?) => {
        $crate::batch_plugin!($name, $version, [$($job),+], schedules: [], run_batch: $run_batch);
    };
    ($name:expr, $version:expr, [$($job:expr),+ $(,)?], schedules: [$($schedule:expr),* $(,)?], run_batch: $run_batch:expr $(,)?) => {
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

        impl $crate::BatchHandler for JobhostPlugin {
            fn run_batch(
                jobs: ::std::vec::Vec<$crate::Job>,
            ) -> ::std::vec::Vec<::std::result::Result<::std::string::String, $crate::JobError>> {
                ($run_batch)(jobs)
            }
        }

        $crate::export!(JobhostPlugin);
    };
}
