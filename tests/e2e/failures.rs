//! Every way an attempt can fail ends as the right outcome, and never disturbs the jobs
//! running beside it.

use std::time::Duration;

use serde_json::Value;

use crate::support::{World, wait_until};

const HOSTILE: [&str; 4] = ["loop_forever", "eat_memory", "trap", "reject"];

fn wait_dead(world: &World, id: &str) -> Value {
    wait_until(
        &format!("job {id} to be dead-lettered"),
        Duration::from_secs(60),
        || world.cli(&["dlq", "show", id]).status.success(),
    );
    world.dead(id)
}

#[test]
fn hostile_plugins_are_classified_while_good_jobs_keep_completing() {
    let world = World::new();
    for plugin in ["echo", "loop_forever", "eat_memory", "trap", "reject"] {
        world.install_plugin(plugin);
    }
    let _daemon = world.start_daemon(&["--concurrency", "2"]);

    let mut hostile = Vec::new();
    let mut good = Vec::new();
    for round in 0..3 {
        for job_type in HOSTILE {
            hostile.push((
                job_type,
                world.enqueue(job_type, "{}", &["--max-attempts", "1"]),
            ));
        }
        hostile.push((
            "loop_until_deadline",
            world.enqueue("loop_until_deadline", "{}", &["--max-attempts", "1"]),
        ));
        for n in 0..5 {
            good.push(world.enqueue("echo", &format!(r#"{{"round":{round},"n":{n}}}"#), &[]));
        }
    }

    for (job_type, id) in &hostile {
        let dead = wait_dead(&world, id);
        let row = &dead["dead_letter"];
        let expected = match *job_type {
            "loop_forever" | "loop_until_deadline" => "timeout",
            "eat_memory" => "out_of_memory",
            "trap" => "crashed",
            "reject" => "permanent_failure",
            other => unreachable!("{other}"),
        };
        assert_eq!(row["reason"], expected, "{job_type}: {dead}");
        let error = row["last_error"].as_str().unwrap();
        match *job_type {
            "loop_forever" => assert!(error.contains("fuel"), "{error}"),
            "loop_until_deadline" => assert!(error.contains("deadline"), "{error}"),
            "trap" => assert!(error.contains("trap plugin panicked on purpose"), "{error}"),
            _ => {}
        }
        assert!(row["plugin_digest"].as_str().is_some_and(|d| d.len() == 64));
    }

    // Fuel is deterministic: every loop_forever attempt burnt exactly the same amount.
    let fuels: Vec<u64> = hostile
        .iter()
        .filter(|(t, _)| *t == "loop_forever")
        .map(|(_, id)| world.dead(id)["dead_letter"]["fuel_used"].as_u64().unwrap())
        .collect();
    assert!(fuels.iter().all(|f| *f == fuels[0] && *f > 0), "{fuels:?}");

    for id in &good {
        wait_until("echo jobs to complete", Duration::from_secs(60), || {
            world.job(id)["job"]["status"] == "completed"
        });
    }
}

#[test]
fn a_flaky_job_retries_with_growing_delays_then_completes() {
    let world = World::new();
    world.install_plugin("flaky");
    let _daemon = world.start_daemon(&["--backoff-base", "200ms", "--poll-interval", "10ms"]);
    let id = world.enqueue("flaky", r#"{"fail_times":3}"#, &[]);
    wait_until("the flaky job to complete", Duration::from_secs(30), || {
        world.job(&id)["job"]["status"] == "completed"
    });
    let shown = world.job(&id);
    let attempts = shown["attempts"].as_array().unwrap();
    let outcomes: Vec<&str> = attempts
        .iter()
        .map(|a| a["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["retry", "retry", "retry", "completed"]);

    // The wait after failed attempt k is between half of and all of 200ms·2^(k-1),
    // plus the little it takes to notice a due job.
    let waits: Vec<i64> = attempts
        .windows(2)
        .map(|w| {
            (w[1]["started_at"].as_i64().unwrap() - w[0]["finished_at"].as_i64().unwrap()) / 1000
        })
        .collect();
    for (k, wait) in waits.iter().enumerate() {
        let ceiling = 200 << k;
        assert!(
            *wait >= ceiling / 2 && *wait <= ceiling + 250,
            "wait {k} was {wait} ms, outside [{}, {}]: {waits:?}",
            ceiling / 2,
            ceiling + 250
        );
    }
    assert!(waits[2] > waits[0], "delays must grow: {waits:?}");
    let result: Value = serde_json::from_str(shown["job"]["result"].as_str().unwrap()).unwrap();
    assert_eq!(result["succeeded_on_attempt"], 4);
}

#[test]
fn a_permanent_error_goes_straight_to_the_dead_letter_queue() {
    let world = World::new();
    world.install_plugin("reject");
    let _daemon = world.start_daemon(&[]);
    let id = world.enqueue(
        "reject",
        r#"{"reason":"bad customer id"}"#,
        &["--max-attempts", "5"],
    );
    let dead = wait_dead(&world, &id);
    assert_eq!(dead["dead_letter"]["reason"], "permanent_failure");
    assert_eq!(
        dead["dead_letter"]["attempts"], 1,
        "no retry after a permanent error"
    );
    assert!(
        dead["dead_letter"]["last_error"]
            .as_str()
            .unwrap()
            .contains("bad customer id")
    );
    assert_eq!(dead["attempts"].as_array().unwrap().len(), 1);
}

#[test]
fn a_payload_that_fails_the_schema_is_refused_at_enqueue_naming_the_field() {
    let world = World::new();
    world.install_plugin("send_email");
    // No daemon has run: the CLI reads the schema from the plugins directory itself.
    let out = world.cli(&[
        "enqueue",
        "send_email",
        r#"{"to":"not-an-address","subject":"hi"}"#,
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("/to"),
        "the error must name the field: {stderr}"
    );
    assert!(stderr.contains("nothing was enqueued"), "{stderr}");
    let out = world.cli(&["enqueue", "send_email", "{not json"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not valid JSON"));
    assert_eq!(
        world.stats()["pending"],
        0,
        "nothing half-done is left behind"
    );

    let id = world.enqueue(
        "send_email",
        r#"{"to":"ops@example.com","subject":"hi"}"#,
        &[],
    );
    assert_eq!(world.job(&id)["job"]["status"], "pending");
}

#[test]
fn a_job_whose_type_no_plugin_handles_is_dead_lettered_as_job_not_found() {
    let world = World::new();
    let _daemon = world.start_daemon(&[]);
    let out = world.cli(&["enqueue", "no_such_type", "{}"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no plugin declares job type"));
    let id = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let dead = wait_dead(&world, &id);
    assert_eq!(dead["dead_letter"]["reason"], "job_not_found");
}
