//! Crashes lose nothing: a daemon killed with SIGKILL mid-work leaves jobs `running`;
//! the next daemon rescues them and every job completes.

use std::time::Duration;

use crate::support::{World, count, wait_until};

/// Reports over enough rows to take tens of milliseconds each, so jobs are mid-attempt
/// when the daemon is stopped.
fn enqueue_slow_reports(world: &World, count: usize) {
    let lines: Vec<String> = (0..count)
        .map(|n| format!(r#"{{"report":"r{n}","rows":5000000}}"#))
        .collect();
    let file = world.dir.path().join("jobs.jsonl");
    std::fs::write(&file, lines.join("\n")).unwrap();
    world.cli_ok(&[
        "enqueue",
        "generate_report",
        "--from-file",
        file.to_str().unwrap(),
    ]);
}

#[test]
fn kill_nine_mid_work_then_restart_and_every_job_completes() {
    let world = World::new();
    world.install_plugin("generate_report");
    let daemon = world.start_daemon(&["--concurrency", "2", "--claim-batch", "10"]);

    enqueue_slow_reports(&world, 100);

    wait_until("some jobs to complete", Duration::from_secs(60), || {
        count(&world.stats(), "completed") >= 5
    });
    daemon.kill_hard();
    let stats = world.stats();
    assert!(
        count(&stats, "running") > 0,
        "the kill should leave jobs running: {stats}"
    );
    assert!(
        count(&stats, "completed") < 300,
        "the kill came too late: {stats}"
    );

    let daemon = world.start_daemon(&[]);
    wait_until("all 100 jobs to complete", Duration::from_secs(180), || {
        count(&world.stats(), "completed") == 100
    });
    let stats = world.stats();
    assert_eq!(count(&stats, "dead"), 0, "{stats}");
    assert_eq!(
        count(&stats, "pending") + count(&stats, "running"),
        0,
        "{stats}"
    );
    assert!(
        daemon
            .log_text()
            .contains("rescued the jobs of daemons that stopped")
    );
    assert!(daemon.terminate().success());
}

#[test]
fn sigterm_lets_running_attempts_finish_and_puts_the_rest_back() {
    let world = World::new();
    world.install_plugin("generate_report");
    let daemon = world.start_daemon(&["--concurrency", "1", "--claim-batch", "20"]);
    enqueue_slow_reports(&world, 100);
    wait_until("some jobs to complete", Duration::from_secs(60), || {
        count(&world.stats(), "completed") >= 3
    });
    assert!(daemon.terminate().success(), "a graceful stop exits 0");

    let stats = world.stats();
    assert_eq!(
        count(&stats, "running"),
        0,
        "nothing is left running: {stats}"
    );
    assert_eq!(
        count(&stats, "completed") + count(&stats, "pending"),
        100,
        "{stats}"
    );
    let pending = world.cli_json(&["jobs", "list", "--status", "pending", "--limit", "200"]);
    for job in pending.as_array().unwrap() {
        assert_eq!(
            job["attempt"], 0,
            "a job put back keeps its attempts: {job}"
        );
    }
}
