//! Workflows through the real binary: follow-ups linked to the job that enqueued them,
//! `enqueue --after` (fan-in), and a job blocked by a dead prerequisite that a replay
//! releases.

use std::time::Duration;

use serde_json::Value;

use crate::support::{World, count, wait_until};

const PATIENCE: Duration = Duration::from_secs(60);

fn status(world: &World, id: &str) -> String {
    world.job(id)["job"]["status"].as_str().unwrap().to_string()
}

fn wait_status(world: &World, id: &str, wanted: &str) -> Value {
    wait_until(&format!("job {id} to be {wanted}"), PATIENCE, || {
        status(world, id) == wanted
    });
    world.job(id)
}

fn time(show: &Value, field: &str) -> i64 {
    show["job"][field]
        .as_i64()
        .unwrap_or_else(|| panic!("{field} in {show}"))
}

#[test]
fn follow_ups_appear_only_once_their_parent_completes_and_name_it() {
    let world = World::new();
    world.install_plugin("generate_report");
    world.install_plugin("send_email");
    let parent = world.enqueue(
        "generate_report",
        r#"{"report":"weekly","rows":10,"notify":"ops@example.com"}"#,
        &[],
    );
    assert_eq!(
        world.job(&parent)["links"]["children"],
        serde_json::json!([])
    );
    assert_eq!(
        count(&world.stats(), "pending"),
        1,
        "no child before the run"
    );

    let _daemon = world.start_daemon(&[]);
    let shown = wait_status(&world, &parent, "completed");
    let children = shown["links"]["children"].as_array().unwrap().clone();
    assert_eq!(children.len(), 1, "{shown}");
    assert_eq!(children[0]["job_type"], "send_email");
    let child_id = children[0]["id"].as_str().unwrap();
    let child = wait_status(&world, child_id, "completed");
    assert_eq!(child["job"]["parent_id"], parent.as_str());
    assert_eq!(child["links"]["parent"]["id"], parent.as_str());
    assert!(time(&child, "created_at") >= time(&shown, "started_at"));

    let drawn = world.cli_ok(&["jobs", "show", &parent]);
    assert!(drawn.contains("◀ this job"), "{drawn}");
    assert!(
        drawn.contains(&format!("child {child_id} send_email")),
        "{drawn}"
    );
}

#[test]
fn a_fan_in_job_runs_only_after_all_of_its_prerequisites() {
    let world = World::new();
    world.install_plugin("echo");
    // The prerequisites come due in two seconds; the fan-in job is due at once, so only
    // its wait keeps it from running first.
    let a = world.enqueue("echo", r#"{"name":"a"}"#, &["--delay", "2s"]);
    let b = world.enqueue("echo", r#"{"name":"b"}"#, &["--delay", "2s"]);
    let c = world.enqueue("echo", r#"{"name":"c"}"#, &["--after", &a, "--after", &b]);
    assert_eq!(status(&world, &c), "waiting");
    assert_eq!(count(&world.stats(), "waiting"), 1);
    let listed = world.cli_json(&["jobs", "list", "--status", "waiting"]);
    assert_eq!(listed.as_array().unwrap().len(), 1);

    let _daemon = world.start_daemon(&["--concurrency", "2"]);
    let c_shown = wait_status(&world, &c, "completed");
    for prerequisite in [&a, &b] {
        let shown = world.job(prerequisite);
        assert_eq!(shown["job"]["status"], "completed");
        assert!(
            time(&c_shown, "started_at") >= time(&shown, "finished_at"),
            "{c_shown} started before {shown} finished"
        );
    }
    let waits = c_shown["links"]["waits_on"].as_array().unwrap();
    assert_eq!(waits.len(), 2);
    assert!(waits.iter().all(|w| w["state"] == "done"), "{waits:?}");

    let refused = world.cli(&["enqueue", "echo", "{}", "--after", "no-such-job"]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("no-such-job"), "{stderr}");
}

#[test]
fn a_job_blocked_by_a_dead_prerequisite_runs_after_its_replay_completes() {
    let world = World::new();
    world.install_plugin("flaky");
    world.install_plugin("echo");
    let parent = world.enqueue("flaky", r#"{"fail_times":1}"#, &["--max-attempts", "1"]);
    let waiter = world.enqueue("echo", r#"{"name":"after flaky"}"#, &["--after", &parent]);
    let daemon = world.start_daemon(&[]);
    wait_status(&world, &waiter, "blocked");
    assert_eq!(count(&world.stats(), "blocked"), 1);
    assert_eq!(
        world.dead(&parent)["dead_letter"]["reason"],
        "max_retries_exceeded"
    );

    // The replay counts on from the spent attempt, so flaky's second attempt succeeds.
    world.cli_ok(&[
        "dlq",
        "replay",
        &parent,
        "--keep-attempts",
        "--max-attempts",
        "2",
    ]);
    let replayed = world.dead(&parent)["dead_letter"]["replayed_job_id"]
        .as_str()
        .unwrap()
        .to_string();
    let done = wait_status(&world, &waiter, "completed");
    let replacement = world.job(&replayed);
    assert_eq!(replacement["job"]["status"], "completed");
    assert!(time(&done, "started_at") >= time(&replacement, "finished_at"));
    assert_eq!(done["links"]["waits_on"][0]["job"]["id"], replayed.as_str());
    assert_eq!(count(&world.stats(), "blocked"), 0);
    drop(daemon);
}
