//! The daemon on PostgreSQL: jobs enqueued from the CLI all run, each exactly once, and
//! a job enqueued while the daemon idles starts at once because the enqueue notified it
//! (LISTEN/NOTIFY), not because it polled; once it has claimed every due job, it does not
//! claim again until woken. The CLI and the daemon end their database sessions when
//! done, rather than leave the server to find them cut off.

use std::time::Duration;

use crate::http_api::Api;
use crate::support::{World, count, wait_until};

#[test]
fn a_daemon_on_postgres_runs_every_job_once_and_wakes_when_notified() {
    let world = World::on_postgres();
    world.install_plugin("echo");
    world.install_plugin("noop");
    // An hour between polls: within this test, only a notification wakes the daemon.
    let daemon = world.start_daemon(&["--poll-interval", "1h"]);

    let lines: Vec<String> = (0..300).map(|n| format!("{{\"n\":{n}}}")).collect();
    let file = world.dir.path().join("jobs.jsonl");
    std::fs::write(&file, lines.join("\n")).unwrap();
    let out = world.cli_ok(&["enqueue", "echo", "--from-file", file.to_str().unwrap()]);
    assert!(out.contains("enqueued 300 jobs"), "{out}");
    wait_until("300 completed jobs", Duration::from_secs(60), || {
        count(&world.stats(), "completed") == 300
    });
    let jobs = world.cli_json(&["jobs", "list", "--status", "completed", "--limit", "1000"]);
    let jobs = jobs.as_array().unwrap();
    assert_eq!(jobs.len(), 300);
    let mut seen = std::collections::HashSet::new();
    for job in jobs {
        assert_eq!(job["attempt"], 1, "job claimed more than once: {job}");
        assert_eq!(job["result"], job["payload"], "{job}");
        assert!(seen.insert(job["payload"].as_str().unwrap().to_string()));
    }

    // The daemon is idle now; the next job gets to it by notification only.
    let id = world.enqueue("noop", "{}", &[]);
    wait_until(
        "the notified job to complete",
        Duration::from_secs(30),
        || world.job(&id)["job"]["status"] == "completed",
    );
    let stats = world.stats();
    assert_eq!(
        count(&stats, "pending") + count(&stats, "running") + count(&stats, "dead"),
        0
    );
    assert!(daemon.terminate().success());
}

/// Claims the daemon counted that took `took` (`jobs` or `nothing`), from a scrape of
/// its metrics (both series are there from the start).
fn claims_that_took(api: &Api, took: &str) -> f64 {
    let (_, _, text) = api.raw("GET", "/metrics", None);
    let series = format!("jobhost_claims_total{{took=\"{took}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&series))
        .unwrap_or_else(|| panic!("no {series}in the scrape:\n{text}"))
        .parse()
        .unwrap()
}

/// Once a claim has taken every due job, the daemon claims again when woken (new work
/// notified, the poll, a rate limit's next token), not each time one of its jobs
/// finishes: those claims would find nothing (15 of them here, before). (On SQLite the
/// daemon's own commits wake it, so this holds on PostgreSQL only.)
#[test]
fn a_daemon_that_claimed_every_due_job_claims_again_only_when_woken() {
    let world = World::on_postgres();
    world.install_plugin("overlap");
    let daemon = world.start_daemon(&["--poll-interval", "1h", "--http", "127.0.0.1:0"]);
    let api = Api::of(&daemon);
    let empty_before = claims_that_took(&api, "nothing");

    // 40 jobs of 10 ms: the executors finish one every few milliseconds for a while
    // after the claims have taken them all.
    let lines = vec![r#"{"ms":10}"#; 40].join("\n");
    let file = world.dir.path().join("jobs.jsonl");
    std::fs::write(&file, lines).unwrap();
    world.cli_ok(&["enqueue", "overlap", "--from-file", file.to_str().unwrap()]);
    wait_until("40 completed jobs", Duration::from_secs(60), || {
        count(&world.stats(), "completed") == 40
    });

    assert!(claims_that_took(&api, "jobs") >= 1.0);
    let empty = claims_that_took(&api, "nothing") - empty_before;
    assert!(
        empty <= 1.0,
        "{empty} claims took nothing while the daemon worked through what it had claimed"
    );
    assert!(daemon.terminate().success());
}

/// Every session the CLI and the daemon open ends with a goodbye: none is cut off when
/// the process exits, which the server would log as a reset connection and count as
/// abandoned, once for every CLI command.
#[test]
fn the_cli_and_the_daemon_end_their_database_sessions_when_done() {
    let world = World::on_postgres();
    world.install_plugin("noop");
    world.cli_ok(&["migrate"]);
    for _ in 0..5 {
        world.enqueue("noop", "{}", &[]);
        world.cli_ok(&["jobs", "list"]);
    }
    let daemon = world.start_daemon(&[]);
    wait_until("5 completed jobs", Duration::from_secs(30), || {
        count(&world.stats(), "completed") == 5
    });
    assert!(daemon.terminate().success());

    let sessions = world.postgres().ended_sessions();
    // Eleven commands and a daemon (its pool, its claiming and its listening connections).
    assert!(sessions.total >= 14, "{sessions:?}");
    assert_eq!(sessions.abandoned, 0, "{sessions:?}");
}
