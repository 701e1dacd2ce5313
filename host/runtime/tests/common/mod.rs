//! Shared by the runtime's tests: the real plugins from `plugins/dist`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use jobhost_runtime::{CancelFlag, JobInput, Outcome, Plugin, Runtime, RuntimeConfig};

pub fn dist() -> PathBuf {
    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugins/dist");
    assert!(
        dist.join("noop.wasm").exists(),
        "{} has no plugins: run plugins/build.sh first",
        dist.display()
    );
    dist
}

/// A runtime whose compile cache is shared by the tests (it is keyed by digest).
pub fn runtime() -> Runtime {
    Runtime::new(RuntimeConfig {
        cache_dir: Some(Path::new(env!("CARGO_TARGET_TMPDIR")).join("runtime-cache")),
        max_instances: 16,
        ..RuntimeConfig::default()
    })
    .unwrap()
}

pub fn load(runtime: &Runtime, name: &str) -> Plugin {
    runtime
        .load_file(&dist().join(format!("{name}.wasm")))
        .unwrap()
}

pub fn input(job_type: &str, payload: &str, attempt: u32) -> JobInput {
    JobInput {
        id: format!("test-{job_type}-{attempt}"),
        job_type: job_type.into(),
        payload: payload.into(),
        attempt,
        max_attempts: 5,
    }
}

pub fn run(
    runtime: &Runtime,
    plugin: &Plugin,
    job_type: &str,
    payload: &str,
) -> jobhost_runtime::Attempt {
    runtime.run(plugin, &input(job_type, payload, 1), &CancelFlag::default())
}

pub fn completed(outcome: &Outcome) -> &str {
    match outcome {
        Outcome::Completed(result) => result,
        other => panic!("expected a completed attempt, got {other:?}"),
    }
}
