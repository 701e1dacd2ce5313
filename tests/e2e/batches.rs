//! Batches through the real binary: `send_email` takes its jobs in batches, so the jobs
//! one claim brings run in one call, and each settles by its own outcome.

use std::time::Duration;

use crate::support::{World, wait_until};

#[test]
fn one_call_runs_a_claimed_batch_and_each_job_settles_on_its_own() {
    let world = World::new();
    world.install_plugin("send_email");
    let email = |to: &str| format!(r#"{{"to":"{to}","subject":"hi"}}"#);
    let delivered: Vec<String> = (0..4)
        .map(|n| world.enqueue("send_email", &email(&format!("u{n}@example.com")), &[]))
        .collect();
    let bounced = world.enqueue("send_email", &email("no@bounce.invalid"), &[]);
    let busy = world.enqueue(
        "send_email",
        &email("busy@tempfail.invalid"),
        &["--max-attempts", "2"],
    );

    let daemon = world.start_daemon(&["--concurrency", "1", "--backoff-base", "10ms"]);
    wait_until("every email to end", Duration::from_secs(60), || {
        delivered
            .iter()
            .all(|id| world.job(id)["job"]["status"] == "completed")
            && [&bounced, &busy]
                .iter()
                .all(|id| world.cli(&["dlq", "show", id]).status.success())
    });
    daemon.wait_for_log(
        "one connection for a batch of 6 emails",
        Duration::from_secs(10),
    );

    // One call ran them all: the same start for every job of the batch.
    let started: Vec<i64> = delivered
        .iter()
        .map(|id| world.job(id)["job"]["started_at"].as_i64().unwrap())
        .collect();
    assert!(started.iter().all(|s| *s == started[0]), "{started:?}");
    let bounce = world.dead(&bounced);
    assert_eq!(bounce["dead_letter"]["reason"], "permanent_failure");
    assert_eq!(
        bounce["attempts"][0]["started_at"].as_i64(),
        Some(started[0])
    );
    // The busy one was retried on its own, and gave up after its two attempts.
    let retried = world.dead(&busy);
    assert_eq!(retried["dead_letter"]["reason"], "max_retries_exceeded");
    let attempts = retried["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{retried}");
    assert_eq!(attempts[0]["started_at"].as_i64(), Some(started[0]));
    assert!(attempts[1]["started_at"].as_i64() > Some(started[0]));
}
