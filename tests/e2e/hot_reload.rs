//! A daemon started on an empty plugins directory picks plugins up as they are copied
//! in, runs a thousand jobs each exactly once, and serves a replaced plugin to a replayed
//! dead letter.

use std::time::Duration;

use crate::support::{World, count, wait_until};

#[test]
fn plugins_copied_into_a_running_daemon_run_a_thousand_jobs_exactly_once() {
    let world = World::new();
    let daemon = world.start_daemon(&[]);
    world.install_plugin("echo");
    daemon.wait_for_log("plugin loaded", Duration::from_secs(30));

    let lines: Vec<String> = (0..1000).map(|n| format!("{{\"n\":{n}}}")).collect();
    let file = world.dir.path().join("jobs.jsonl");
    std::fs::write(&file, lines.join("\n")).unwrap();
    let out = world.cli_ok(&["enqueue", "echo", "--from-file", file.to_str().unwrap()]);
    assert!(out.contains("enqueued 1000 jobs"), "{out}");

    wait_until("1,000 completed jobs", Duration::from_secs(120), || {
        count(&world.stats(), "completed") == 1000
    });
    let jobs = world.cli_json(&["jobs", "list", "--status", "completed", "--limit", "2000"]);
    let jobs = jobs.as_array().unwrap();
    assert_eq!(jobs.len(), 1000);
    let mut seen = std::collections::HashSet::new();
    for job in jobs {
        // `attempt` counts claims: 1 means the job was handed to a worker exactly once.
        assert_eq!(job["attempt"], 1, "job claimed more than once: {job}");
        assert_eq!(
            job["result"], job["payload"],
            "echo must return the payload: {job}"
        );
        assert!(seen.insert(job["payload"].as_str().unwrap().to_string()));
    }
    let stats = world.stats();
    assert_eq!(
        count(&stats, "pending") + count(&stats, "running") + count(&stats, "dead"),
        0
    );
    assert!(daemon.terminate().success());
}

#[test]
fn a_dead_letter_replayed_after_its_plugin_is_replaced_completes() {
    let world = World::new();
    world.install("repairable.wasm", "repairable.wasm");
    let daemon = world.start_daemon(&[]);

    let id = world.enqueue("repairable", "{}", &[]);
    wait_until(
        "the job to be dead-lettered",
        Duration::from_secs(30),
        || world.cli(&["dlq", "show", &id]).status.success(),
    );
    let dead = world.dead(&id);
    assert_eq!(dead["dead_letter"]["reason"], "permanent_failure");
    let old_digest = dead["dead_letter"]["plugin_digest"]
        .as_str()
        .unwrap()
        .to_string();

    world.install("extra/repairable.wasm", "repairable.wasm");
    daemon.wait_for_log_count("plugin loaded", 2, Duration::from_secs(30));

    let new_id = world.cli_ok(&["dlq", "replay", &id]).trim().to_string();
    assert_ne!(new_id, id);
    wait_until(
        "the replayed job to complete",
        Duration::from_secs(30),
        || world.job(&new_id)["job"]["status"] == "completed",
    );
    let job = world.job(&new_id)["job"].clone();
    assert_ne!(job["plugin_digest"].as_str().unwrap(), old_digest);
    let result: serde_json::Value = serde_json::from_str(job["result"].as_str().unwrap()).unwrap();
    assert_eq!(result["repaired"], true);

    let dead = world.dead(&id)["dead_letter"].clone();
    assert_eq!(
        dead["resurrection_count"], 1,
        "the row stays as the audit trail"
    );
    assert_eq!(dead["replayed_job_id"], new_id.as_str());
}

#[test]
fn a_corrupt_plugin_is_reported_and_changes_nothing_else() {
    let world = World::new();
    world.install_plugin("echo");
    let daemon = world.start_daemon(&[]);
    std::fs::write(world.plugins().join("broken.wasm"), b"\0asm but not really").unwrap();
    daemon.wait_for_log("plugin not loaded", Duration::from_secs(30));
    assert!(daemon.log_text().contains("broken.wasm"));

    let id = world.enqueue("echo", r#"{"still":"working"}"#, &[]);
    wait_until(
        "echo to complete beside the corrupt file",
        Duration::from_secs(30),
        || world.job(&id)["job"]["status"] == "completed",
    );
}

#[test]
fn every_version_is_recorded_and_rolling_back_is_copying_the_old_file_back() {
    let world = World::new();
    world.install("repairable.wasm", "repairable.wasm");
    let daemon = world.start_daemon(&[]);
    let serving = |world: &World| -> Vec<(String, bool)> {
        let listing = world.cli_json(&["plugins", "list"]);
        listing["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                let digest = v["digest"].as_str().unwrap()[..12].to_string();
                (digest, v["retired_at"].is_null())
            })
            .collect()
    };
    let v1 = world.cli_json(&["plugins", "list"])["loaded"][0]["digest"]
        .as_str()
        .unwrap()[..12]
        .to_string();

    world.install("extra/repairable.wasm", "repairable.wasm");
    daemon.wait_for_log_count("plugin loaded", 2, Duration::from_secs(30));
    let v2 = world.cli_json(&["plugins", "list"])["loaded"][0]["digest"]
        .as_str()
        .unwrap()[..12]
        .to_string();
    assert_ne!(v1, v2);
    wait_until("v1 to be retired", Duration::from_secs(10), || {
        serving(&world) == [(v2.clone(), true), (v1.clone(), false)]
    });

    // Roll back: the old file again. It serves new attempts; v2 is retired.
    world.install("repairable.wasm", "repairable.wasm");
    daemon.wait_for_log_count("plugin loaded", 3, Duration::from_secs(30));
    wait_until("v2 to be retired", Duration::from_secs(10), || {
        let history = serving(&world);
        history.contains(&(v1.clone(), true)) && history.contains(&(v2.clone(), false))
    });
    let id = world.enqueue("repairable", "{}", &[]);
    wait_until(
        "the job to fail on v1 again",
        Duration::from_secs(30),
        || world.cli(&["dlq", "show", &id]).status.success(),
    );
    let digest = world.dead(&id)["dead_letter"]["plugin_digest"]
        .as_str()
        .unwrap()[..12]
        .to_string();
    assert_eq!(digest, v1, "the attempt records the version it ran with");
}
