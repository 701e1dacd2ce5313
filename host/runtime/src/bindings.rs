//! The Rust side of `wit/jobhost.wit`, generated at build time: the `job-plugin` world
//! every plugin is built for, and (in [`batch`]) the `batch-plugin` world, whose extra
//! export a plugin that takes job types in batches has.

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "job-plugin",
});

pub use jobhost::plugin::types::{EnqueueOptions, Job, JobError, Level, PluginInfo, ScheduleInfo};

/// `batch-plugin`: the same imports and types (shared with the bindings above), plus
/// the `batch-handler` export.
pub mod batch {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "batch-plugin",
        with: {
            "jobhost:plugin/types": super::jobhost::plugin::types,
            "jobhost:plugin/host": super::jobhost::plugin::host,
            "jobhost:plugin/handler": super::exports::jobhost::plugin::handler,
        },
    });
}
