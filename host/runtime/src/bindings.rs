//! The Rust side of `wit/jobhost.wit`, generated at build time.

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "job-plugin",
});

pub use jobhost::plugin::types::{EnqueueOptions, Job, JobError, Level, PluginInfo, ScheduleInfo};
