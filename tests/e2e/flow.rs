//! Flow control and plugin state, through the real binary: the key-value store that
//! makes a side effect idempotent.

use std::time::Duration;

use serde_json::Value;

use crate::support::{World, wait_until};

fn wait_completed(world: &World, id: &str) -> Value {
    wait_until(
        &format!("job {id} to complete"),
        Duration::from_secs(60),
        || world.job(id)["job"]["status"] == "completed",
    );
    let job = world.job(id);
    serde_json::from_str(job["job"]["result"].as_str().unwrap()).unwrap()
}

#[test]
fn an_effect_happens_once_per_key_however_often_its_jobs_run() {
    let world = World::new();
    world.install_plugin("once");
    // The first job does the effect for `a`, then fails: its writes must vanish, and
    // whichever attempt comes next for `a` does the effect for real, once.
    let jobs = [
        world.enqueue("once", r#"{"key":"a","fail_first":true}"#, &[]),
        world.enqueue("once", r#"{"key":"a"}"#, &[]),
        world.enqueue("once", r#"{"key":"b"}"#, &[]),
        world.enqueue("once", r#"{"key":"b"}"#, &[]),
    ];
    let _daemon = world.start_daemon(&["--concurrency", "1", "--backoff-base", "10ms"]);
    let results: Vec<Value> = jobs.iter().map(|id| wait_completed(&world, id)).collect();
    let effects: Vec<u64> = results
        .iter()
        .filter(|r| r["effect"] == true)
        .map(|r| r["effects"].as_u64().unwrap())
        .collect();
    let mut sorted = effects.clone();
    sorted.sort();
    assert_eq!(sorted, vec![1, 2], "one effect per key: {results:?}");
    assert_eq!(world.job(&jobs[0])["job"]["attempt"], 2);
}
