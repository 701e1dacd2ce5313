//! The key-value host functions, with the `once` fixture: reads go through the host's
//! source, writes come back only with a completed attempt.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use common::{completed, dist, input};
use jobhost_runtime::{CancelFlag, KvSource, KvWrite, Outcome, Runtime, RuntimeConfig};

/// A committed store in memory, keyed by plugin and key, that remembers who read it.
#[derive(Default)]
struct MapKv {
    values: HashMap<(String, String), String>,
    reads: Mutex<Vec<(String, String)>>,
}

impl KvSource for MapKv {
    fn get(&self, plugin: &str, key: &str) -> Result<Option<String>, String> {
        self.reads
            .lock()
            .unwrap()
            .push((plugin.to_string(), key.to_string()));
        Ok(self.values.get(&(plugin.into(), key.into())).cloned())
    }
}

fn runtime_with(kv: Arc<MapKv>) -> Runtime {
    Runtime::with_kv(
        RuntimeConfig {
            cache_dir: Some(Path::new(env!("CARGO_TARGET_TMPDIR")).join("runtime-cache")),
            max_instances: 16,
            ..RuntimeConfig::default()
        },
        kv,
    )
    .unwrap()
}

fn write(key: &str, value: &str) -> KvWrite {
    KvWrite {
        key: key.into(),
        value: Some(value.into()),
    }
}

#[test]
fn a_completed_attempt_hands_back_its_writes_read_under_the_plugins_name() {
    let kv = Arc::new(MapKv::default());
    let rt = runtime_with(kv.clone());
    let once = rt.load_file(&dist().join("once.wasm")).unwrap();
    let attempt = rt.run(
        &once,
        &input("once", r#"{"key":"k1"}"#, 1),
        &CancelFlag::default(),
    );
    let result: serde_json::Value = serde_json::from_str(completed(&attempt.outcome)).unwrap();
    assert_eq!(result["effect"], true);
    assert_eq!(
        attempt.kv_writes,
        vec![write("done:k1", "test-once-1"), write("effects", "1")]
    );
    let reads = kv.reads.lock().unwrap().clone();
    assert_eq!(
        reads,
        vec![
            ("once".to_string(), "done:k1".to_string()),
            ("once".to_string(), "effects".to_string())
        ]
    );
}

#[test]
fn a_committed_key_is_seen_and_the_effect_skipped() {
    let mut kv = MapKv::default();
    kv.values
        .insert(("once".into(), "done:k1".into()), "earlier".into());
    let rt = runtime_with(Arc::new(kv));
    let once = rt.load_file(&dist().join("once.wasm")).unwrap();
    let attempt = rt.run(
        &once,
        &input("once", r#"{"key":"k1"}"#, 1),
        &CancelFlag::default(),
    );
    let result: serde_json::Value = serde_json::from_str(completed(&attempt.outcome)).unwrap();
    assert_eq!(result["effect"], false);
    assert!(attempt.kv_writes.is_empty());
}

#[test]
fn a_failed_attempt_hands_back_no_writes() {
    let rt = runtime_with(Arc::new(MapKv::default()));
    let once = rt.load_file(&dist().join("once.wasm")).unwrap();
    let attempt = rt.run(
        &once,
        &input("once", r#"{"key":"k1","fail_first":true}"#, 1),
        &CancelFlag::default(),
    );
    assert!(matches!(attempt.outcome, Outcome::Retry(_)), "{attempt:?}");
    assert!(attempt.kv_writes.is_empty());
}

#[test]
fn a_plugin_that_never_imports_the_store_still_loads_and_runs() {
    let rt = runtime_with(Arc::new(MapKv::default()));
    let noop = rt.load_file(&dist().join("noop.wasm")).unwrap();
    let attempt = rt.run(&noop, &input("noop", "{}", 1), &CancelFlag::default());
    completed(&attempt.outcome);
    assert!(attempt.kv_writes.is_empty());
}
