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

#[test]
fn one_worker_runs_jobs_strictly_by_priority_then_in_order_of_enqueue() {
    let world = World::new();
    world.install_plugin("echo");
    let enqueued: Vec<(&str, String)> = [
        ("a", "low"),
        ("b", "normal"),
        ("c", "high"),
        ("d", "normal"),
        ("e", "5"),
        ("f", "low"),
        ("g", "HIGH"),
        ("h", "-20"),
    ]
    .into_iter()
    .map(|(name, priority)| {
        let payload = format!(r#"{{"name":"{name}"}}"#);
        (
            name,
            world.enqueue("echo", &payload, &["--priority", priority]),
        )
    })
    .collect();
    let in_an_hour = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let later = world.enqueue("echo", r#"{"name":"later"}"#, &["--at", &in_an_hour]);
    let past = world.enqueue(
        "echo",
        r#"{"name":"past"}"#,
        &["--at", "2020-01-01T00:00:00+02:00"],
    );

    let _daemon = world.start_daemon(&["--concurrency", "1"]);
    let mut started: Vec<(i64, &str)> = enqueued
        .iter()
        .map(|(name, id)| {
            wait_completed(&world, id);
            (world.job(id)["job"]["started_at"].as_i64().unwrap(), *name)
        })
        .collect();
    started.sort();
    let order: Vec<&str> = started.iter().map(|(_, name)| *name).collect();
    assert_eq!(order, ["c", "g", "e", "b", "d", "a", "f", "h"]);

    wait_completed(&world, &past);
    let later = world.job(&later)["job"].clone();
    assert_eq!(later["status"], "pending", "{later}");
    assert_eq!(later["attempt"], 0);
}

#[test]
fn cancel_ends_a_pending_job_at_once_and_interrupts_a_running_one() {
    let world = World::new();
    world.install_plugin("echo");
    world.install_plugin("loop_forever");
    // An operator's manifest lifts the loop's deadline: only a cancel stops it.
    std::fs::write(
        world.plugins().join("loop_forever.toml"),
        "[types.loop_until_deadline]\ntimeout_ms = 600000\n",
    )
    .unwrap();
    let waiting = world.enqueue("echo", "{}", &["--at", "2099-01-01T00:00:00Z"]);
    assert_eq!(
        world.cli_ok(&["jobs", "cancel", &waiting]).trim(),
        format!("cancelled {waiting}")
    );
    assert_eq!(world.job(&waiting)["job"]["status"], "cancelled");

    let _daemon = world.start_daemon(&["--concurrency", "1"]);
    let looping = world.enqueue("loop_until_deadline", "{}", &["--max-attempts", "3"]);
    wait_until("the loop to run", Duration::from_secs(60), || {
        world.job(&looping)["job"]["status"] == "running"
    });
    let said = world.cli_ok(&["jobs", "cancel", &looping]);
    assert!(said.contains("is running"), "{said}");
    wait_until("the loop to be cancelled", Duration::from_secs(60), || {
        world.job(&looping)["job"]["status"] == "cancelled"
    });
    let shown = world.job(&looping);
    assert_eq!(shown["job"]["attempt"], 1, "not retried: {shown}");
    assert_eq!(shown["attempts"][0]["outcome"], "cancelled", "{shown}");
    assert!(!world.cli(&["dlq", "show", &looping]).status.success());

    // The one executor is free again, and its next job is not cancelled.
    let after = world.enqueue("echo", r#"{"after":true}"#, &[]);
    assert_eq!(
        wait_completed(&world, &after),
        serde_json::json!({"after": true})
    );

    let again = world.cli(&["jobs", "cancel", &looping]);
    assert!(!again.status.success());
    let message = String::from_utf8_lossy(&again.stderr);
    assert!(message.contains("already cancelled"), "{message}");
}

#[test]
fn a_paused_queue_keeps_its_jobs_until_resumed() {
    let world = World::new();
    world.install_plugin("echo");
    assert_eq!(
        world.cli_ok(&["queues", "pause", "bulk"]).trim(),
        "queue bulk paused"
    );
    // Enqueued first and more urgent: unpaused, it would run before the other.
    let bulk = world.enqueue("echo", "{}", &["--queue", "bulk", "--priority", "high"]);
    let other = world.enqueue("echo", "{}", &[]);
    let _daemon = world.start_daemon(&["--concurrency", "1"]);
    wait_completed(&world, &other);
    let held = world.job(&bulk)["job"].clone();
    assert_eq!(
        (&held["status"], &held["attempt"]),
        (&"pending".into(), &0.into())
    );

    let queues = world.cli_json(&["queues", "list"]);
    let bulk_row = queues
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["queue"] == "bulk")
        .unwrap_or_else(|| panic!("no bulk queue in {queues}"));
    assert_eq!(bulk_row["paused"], true);
    assert_eq!(bulk_row["pending"], 1);

    assert_eq!(
        world.cli_ok(&["queues", "resume", "bulk"]).trim(),
        "queue bulk resumed"
    );
    wait_completed(&world, &bulk);
}

/// Eight `jobhost enqueue --unique-key` processes at once: one job, one id for all.
fn racing_unique_enqueues_print_one_id(world: &World) {
    world.install_plugin("echo");
    // Racing first uses of a fresh SQLite file would race on its migrations instead.
    world.cli_ok(&["migrate"]);
    let racers: Vec<std::thread::JoinHandle<String>> = (0..8)
        .map(|n| {
            let payload = format!(r#"{{"n":{n}}}"#);
            let args: Vec<String> = ["enqueue", "echo", &payload, "--unique-key", "nightly"]
                .map(String::from)
                .to_vec();
            let world_db = world.db();
            let plugins = world.plugins();
            std::thread::spawn(move || {
                let out = std::process::Command::new(crate::support::BINARY)
                    .arg("--db")
                    .arg(world_db)
                    .arg("--plugins")
                    .arg(plugins)
                    .args(&args)
                    .stdin(std::process::Stdio::null())
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                String::from_utf8(out.stdout).unwrap().trim().to_string()
            })
        })
        .collect();
    let ids: std::collections::HashSet<String> =
        racers.into_iter().map(|r| r.join().unwrap()).collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let id = ids.into_iter().next().unwrap();
    let pending = world.cli_json(&["jobs", "list", "--status", "pending"]);
    assert_eq!(pending.as_array().unwrap().len(), 1, "{pending}");

    // Once it has run, the key is free again.
    let _daemon = world.start_daemon(&[]);
    wait_completed(world, &id);
    let next = world.enqueue("echo", "{}", &["--unique-key", "nightly"]);
    assert_ne!(next, id);
}

#[test]
fn racing_unique_enqueues_print_one_id_on_sqlite() {
    racing_unique_enqueues_print_one_id(&World::new());
}

#[test]
fn racing_unique_enqueues_print_one_id_on_postgres() {
    racing_unique_enqueues_print_one_id(&World::on_postgres());
}

#[test]
fn two_daemons_enqueue_each_cron_firing_once() {
    let world = World::on_postgres();
    world.install_plugin("echo");
    let bad = world.cli(&["cron", "add", "tick", "every second", "echo"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("5 fields"));
    let said = world.cli_ok(&[
        "cron",
        "add",
        "tick",
        "* * * * * *",
        "echo",
        r#"{"from":"cron"}"#,
    ]);
    assert!(
        said.starts_with("schedule tick added; first run "),
        "{said}"
    );
    let again = world.cli(&["cron", "add", "tick", "0 3 * * *", "echo"]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"));

    let _first = world.start_daemon(&[]);
    let _second = world.start_daemon(&[]);
    let completed = || {
        world
            .cli_json(&["jobs", "list", "--type", "echo", "--status", "completed"])
            .as_array()
            .unwrap()
            .len()
    };
    wait_until("four firings to complete", Duration::from_secs(60), || {
        completed() >= 4
    });
    world.cli_ok(&["cron", "pause", "tick"]);
    let listed = world.cli_json(&["cron", "list"]);
    assert_eq!(listed[0]["paused"], true, "{listed}");
    assert!(listed[0]["next_run_at"].as_i64().is_some());

    // Each firing is one job, due at the second it was scheduled for.
    let jobs = world.cli_json(&["jobs", "list", "--type", "echo", "--limit", "1000"]);
    let due: Vec<i64> = jobs
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["run_at"].as_i64().unwrap())
        .collect();
    let distinct: std::collections::HashSet<&i64> = due.iter().collect();
    assert_eq!(
        distinct.len(),
        due.len(),
        "a firing enqueued twice: {due:?}"
    );
    assert!(due.iter().all(|t| t % 1_000_000 == 0), "{due:?}");

    world.cli_ok(&["cron", "remove", "tick"]);
    assert_eq!(world.cli_json(&["cron", "list"]), serde_json::json!([]));
    let gone = world.cli(&["cron", "remove", "tick"]);
    assert!(String::from_utf8_lossy(&gone.stderr).contains("no schedule is named"));
}
