//! Rate and concurrency limits through the real binary: an operator's limit set with
//! the CLI and a plugin's declared default hold across one daemon and across two on
//! one PostgreSQL database. What is measured is the limiter's correctness (the rate the
//! job rows' start times show, the overlap the handlers saw by their own clocks), not
//! speed.

use std::time::Duration;

use serde_json::Value;

use crate::support::{World, count, wait_until};

/// The rate's tolerance: the achieved rate must lie within 5% of the limit.
const RATE_TOLERANCE: f64 = 0.05;

/// Enqueues `n` jobs of `job_type` with the same payload, in one CLI call.
fn enqueue_many(world: &World, job_type: &str, payload: &str, n: usize) {
    let lines = vec![payload; n].join("\n");
    let file = world.dir.path().join(format!("{job_type}.jsonl"));
    std::fs::write(&file, lines).unwrap();
    world.cli_ok(&["enqueue", job_type, "--from-file", file.to_str().unwrap()]);
}

fn completed_jobs(world: &World, job_type: &str, n: usize) -> Vec<Value> {
    wait_until(
        &format!("{n} completed {job_type} jobs"),
        Duration::from_secs(120),
        || count(&world.stats(), "completed") as usize >= n,
    );
    let jobs = world.cli_json(&[
        "jobs",
        "list",
        "--type",
        job_type,
        "--status",
        "completed",
        "--limit",
        "10000",
    ]);
    let jobs = jobs.as_array().unwrap().clone();
    assert_eq!(jobs.len(), n);
    for job in &jobs {
        assert_eq!(job["attempt"], 1, "a held-back job spent an attempt: {job}");
    }
    jobs
}

/// Starts a minute, from the first start to the last, over `starts` (microseconds).
fn achieved_rate(starts: &mut [i64]) -> f64 {
    starts.sort_unstable();
    let span = (starts[starts.len() - 1] - starts[0]) as f64 / 60_000_000.0;
    (starts.len() - 1) as f64 / span
}

/// The most handlers that ran at once, by the start and end times they reported.
fn max_overlap(jobs: &[Value]) -> usize {
    let mut events: Vec<(u64, i32)> = Vec::new();
    for job in jobs {
        let result: Value = serde_json::from_str(job["result"].as_str().unwrap()).unwrap();
        let (start, end) = (
            result["start_us"].as_u64().unwrap(),
            result["end_us"].as_u64().unwrap(),
        );
        assert!(end >= start, "{result}");
        events.push((start, 1));
        events.push((end, -1));
    }
    // An end at the same instant as a start is counted first: touching is not overlap.
    events.sort_by_key(|&(at, delta)| (at, delta));
    let (mut now, mut most) = (0i32, 0i32);
    for (_, delta) in events {
        now += delta;
        most = most.max(now);
    }
    most as usize
}

fn assert_rate_within_tolerance(world: &World, limit_per_minute: f64, n: usize) {
    let jobs = completed_jobs(world, "overlap", n);
    let mut starts: Vec<i64> = jobs
        .iter()
        .map(|j| j["started_at"].as_i64().unwrap())
        .collect();
    let rate = achieved_rate(&mut starts);
    let error = (rate - limit_per_minute).abs() / limit_per_minute;
    println!("{n} jobs at a limit of {limit_per_minute}/min: achieved {rate:.1}/min");
    assert!(
        error <= RATE_TOLERANCE,
        "achieved {rate:.1}/min against a limit of {limit_per_minute}/min"
    );
}

#[test]
fn a_rate_limit_holds_within_five_percent_over_a_burst() {
    let world = World::new();
    world.install_plugin("overlap");
    world.cli_ok(&["limits", "set", "--type", "overlap", "--rate", "600/m"]);
    enqueue_many(&world, "overlap", r#"{"ms":0}"#, 60);
    let _daemon = world.start_daemon(&["--poll-interval", "1s"]);
    assert_rate_within_tolerance(&world, 600.0, 60);
}

#[test]
fn a_rate_limit_holds_across_two_daemons_on_postgres() {
    let world = World::on_postgres();
    world.install_plugin("overlap");
    world.cli_ok(&["limits", "set", "--type", "overlap", "--rate", "10/s"]);
    let _one = world.start_daemon(&["--poll-interval", "1s"]);
    let _two = world.start_daemon(&["--poll-interval", "1s"]);
    enqueue_many(&world, "overlap", r#"{"ms":0}"#, 60);
    assert_rate_within_tolerance(&world, 600.0, 60);
}

#[test]
fn a_concurrency_limit_is_never_exceeded_across_two_daemons() {
    const LIMIT: usize = 3;
    let world = World::on_postgres();
    world.install_plugin("overlap");
    world.cli_ok(&["limits", "set", "--type", "overlap", "--concurrency", "3"]);
    let limits = world.cli_json(&["limits", "list"]);
    assert_eq!(limits[0]["concurrency"], 3, "{limits}");
    assert_eq!(limits[0]["source"], "operator", "{limits}");
    // Eight executors in all, for a limit of three.
    let _one = world.start_daemon(&["--concurrency", "4"]);
    let _two = world.start_daemon(&["--concurrency", "4"]);
    enqueue_many(&world, "overlap", r#"{"ms":150}"#, 24);
    let jobs = completed_jobs(&world, "overlap", 24);
    let most = max_overlap(&jobs);
    println!("at most {most} of 24 handlers ran at once, for a limit of {LIMIT}");
    assert!(most <= LIMIT, "{most} handlers ran at once");
}

#[test]
fn a_plugin_declares_a_concurrency_limit_and_its_manifest_overrides_it() {
    let world = World::new();
    world.install_plugin("overlap");
    let daemon = world.start_daemon(&["--concurrency", "4"]);
    let limits = world.cli_json(&["limits", "list"]);
    assert_eq!(
        (
            &limits[0]["name"],
            &limits[0]["concurrency"],
            &limits[0]["source"]
        ),
        (
            &Value::from("overlap_limited"),
            &Value::from(2),
            &Value::from("plugin")
        ),
        "{limits}"
    );
    enqueue_many(&world, "overlap_limited", r#"{"ms":100}"#, 12);
    let jobs = completed_jobs(&world, "overlap_limited", 12);
    let most = max_overlap(&jobs);
    assert!(
        most <= 2,
        "{most} handlers ran at once against the plugin's 2"
    );
    drop(daemon);

    // The operator's manifest beside the file overrides the plugin's declaration.
    std::fs::write(
        world.plugins().join("overlap.toml"),
        "[types.overlap_limited]\nconcurrency = 1\n",
    )
    .unwrap();
    let _daemon = world.start_daemon(&["--concurrency", "4"]);
    let limits = world.cli_json(&["limits", "list"]);
    assert_eq!(limits[0]["concurrency"], 1, "{limits}");
    // And an operator's own limit is never replaced by the plugin's.
    world.cli_ok(&[
        "limits",
        "set",
        "--type",
        "overlap_limited",
        "--rate",
        "60/m",
    ]);
    let limits = world.cli_json(&["limits", "list"]);
    assert_eq!(
        (&limits[0]["rate_per_minute"], &limits[0]["source"]),
        (&Value::from(60), &Value::from("operator")),
        "{limits}"
    );
}

#[test]
fn queue_limits_show_in_the_queue_listing_and_bad_limits_are_refused() {
    let world = World::new();
    world.install_plugin("echo");
    world.cli_ok(&[
        "limits",
        "set",
        "--queue",
        "bulk",
        "--rate",
        "2/s",
        "--concurrency",
        "2",
    ]);
    world.enqueue("echo", "{}", &["--queue", "bulk"]);
    let queues = world.cli_json(&["queues", "list"]);
    let bulk = queues
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["queue"] == "bulk")
        .unwrap_or_else(|| panic!("no bulk queue in {queues}"));
    assert_eq!(
        (&bulk["rate_per_minute"], &bulk["concurrency"]),
        (&Value::from(120), &Value::from(2))
    );

    for (args, says) in [
        (
            vec!["limits", "set", "--queue", "bulk"],
            "--rate, --concurrency",
        ),
        (
            vec!["limits", "set", "--queue", "bulk", "--rate", "30/h"],
            "multiple of 60",
        ),
        (
            vec!["limits", "set", "--queue", "bulk", "--concurrency", "0"],
            "never start",
        ),
        (vec!["limits", "set", "--rate", "1/s"], "--type"),
    ] {
        let out = world.cli(&args);
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    // Nothing a refused command said changed the limit.
    let limits = world.cli_json(&["limits", "list"]);
    assert_eq!(limits.as_array().unwrap().len(), 1, "{limits}");
    assert_eq!(limits[0]["rate_per_minute"], 120, "{limits}");
    assert!(
        world
            .cli_ok(&["limits", "remove", "--queue", "bulk"])
            .contains("removed")
    );
    assert!(world.cli_ok(&["limits", "list", "--json"]).trim() == "[]");
}
