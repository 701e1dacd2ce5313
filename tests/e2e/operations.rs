//! Operating a queue from the command line: the dead-letter queue (list with filters,
//! show, review, replay one or by filter, delete, cleanup, export, stats), `stats` and
//! `health`, retention of completed jobs, bulk enqueue from a file. Dead letters come
//! from a daemon running the real failing fixtures, or, for the 100,000-row export,
//! through the store API.

use std::fs;
use std::process::Output;
use std::time::Duration;

use jobhost_store::{
    AttemptRecord, ClaimParams, ConnectOptions, DEFAULT_QUEUE, DeadReason, NewJob, SettleAction,
    Settlement,
};
use serde_json::Value;

use crate::support::{World, count, wait_until};

const MINUTE: Duration = Duration::from_secs(60);

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs the CLI expecting it to fail, and returns its stderr.
fn fails(world: &World, args: &[&str]) -> String {
    let out = world.cli(args);
    assert!(
        !out.status.success(),
        "jobhost {args:?} should have failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    stderr(&out)
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect()
}

pub(crate) fn wait_dead_count(world: &World, n: u64) {
    wait_until(&format!("{n} dead letters"), MINUTE, || {
        count(&world.stats(), "dead") >= n
    });
}

#[test]
fn dead_letters_from_real_failures_are_filtered_shown_reviewed_replayed_and_deleted() {
    let world = World::new();
    for plugin in ["reject", "trap"] {
        world.install_plugin(plugin);
    }
    let daemon = world.start_daemon(&["--backoff-base", "10ms"]);
    let rejected: Vec<String> = (0..3)
        .map(|n| world.enqueue("reject", &format!(r#"{{"reason":"bad {n}"}}"#), &[]))
        .collect();
    let trapped: Vec<String> = (0..2)
        .map(|_| world.enqueue("trap", "{}", &["--max-attempts", "2", "--priority", "high"]))
        .collect();
    wait_dead_count(&world, 5);
    // Each failed attempt is a log line that names the job, its type and attempt.
    let log = daemon.log_text();
    let about = |needle: &str| {
        log.lines()
            .find(|l| l.contains(needle) && l.contains(&format!("job_id={}", trapped[0])))
            .unwrap_or_else(|| panic!("no {needle:?} line for {}:\n{log}", trapped[0]))
            .to_string()
    };
    let retried = about("will retry");
    assert!(
        retried.contains("job_type=trap") && retried.contains("attempt=1"),
        "{retried}"
    );
    let dead = about("dead-lettered");
    assert!(
        dead.contains("attempt=2") && dead.contains("crashed"),
        "{dead}"
    );
    drop(daemon);

    let list = |args: &[&str]| {
        let mut all = vec!["dlq", "list"];
        all.extend_from_slice(args);
        ids(&world.cli_json(&all))
    };
    assert_eq!(list(&["--reason", "permanent_failure"]).len(), 3);
    assert_eq!(list(&["--type", "trap"]).len(), 2);
    assert_eq!(list(&["--since", "1h"]).len(), 5);
    assert!(list(&["--until", "1h"]).is_empty());
    assert_eq!(
        list(&["--since", "2020-01-01T00:00:00Z", "--limit", "2"]).len(),
        2
    );
    assert_eq!(list(&["--unreviewed"]).len(), 5);

    // Everything kept about a failure, every attempt's error among it.
    let shown = world.dead(&trapped[0]);
    let row = &shown["dead_letter"];
    assert_eq!(
        (
            &row["job_type"],
            &row["reason"],
            &row["attempts"],
            &row["priority"]
        ),
        (
            &Value::from("trap"),
            &Value::from("crashed"),
            &Value::from(2),
            &Value::from(10)
        )
    );
    assert!(row["plugin_digest"].as_str().is_some_and(|d| d.len() == 64));
    assert!(row["fuel_used"].as_u64().unwrap() > 0);
    let attempts = shown["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2);
    for attempt in attempts {
        assert!(
            attempt["error"]
                .as_str()
                .unwrap()
                .contains("panicked on purpose"),
            "{attempt}"
        );
    }
    let table = world.cli_ok(&["dlq", "show", &trapped[0]]);
    assert!(
        table.contains("panicked on purpose") && table.contains("crashed"),
        "{table}"
    );

    world.cli_ok(&[
        "dlq",
        "review",
        &rejected[0],
        "--note",
        "customer typo, fixed by hand",
    ]);
    let reviewed = world.dead(&rejected[0]);
    assert_eq!(reviewed["dead_letter"]["reviewed"], true);
    assert_eq!(
        reviewed["dead_letter"]["notes"],
        "customer typo, fixed by hand"
    );
    assert_eq!(list(&["--reviewed"]), [rejected[0].clone()]);

    // Keeping the spent attempts needs attempts left.
    let refused = fails(&world, &["dlq", "replay", &trapped[0], "--keep-attempts"]);
    assert!(refused.contains("--max-attempts above 2"), "{refused}");
    let new_id = world
        .cli_ok(&[
            "dlq",
            "replay",
            &trapped[0],
            "--keep-attempts",
            "--max-attempts",
            "4",
            "--queue",
            "retries",
            "--priority",
            "low",
        ])
        .trim()
        .to_string();
    let job = &world.job(&new_id)["job"];
    assert_eq!(
        (
            &job["status"],
            &job["attempt"],
            &job["max_attempts"],
            &job["queue"],
            &job["priority"]
        ),
        (
            &Value::from("pending"),
            &Value::from(2),
            &Value::from(4),
            &Value::from("retries"),
            &Value::from(-10)
        )
    );
    let row = world.dead(&trapped[0])["dead_letter"].clone();
    assert_eq!(
        (&row["resurrection_count"], &row["replayed_job_id"]),
        (&Value::from(1), &Value::from(new_id.as_str()))
    );
    let fresh = world
        .cli_ok(&["dlq", "replay", &trapped[1]])
        .trim()
        .to_string();
    assert_eq!(
        world.job(&fresh)["job"]["attempt"],
        0,
        "a replay starts afresh by default"
    );

    let stats = world.cli_json(&["dlq", "stats"]);
    assert_eq!(
        (stats["total"].as_u64(), stats["unreviewed"].as_u64()),
        (Some(5), Some(4))
    );
    assert_eq!(stats["by_reason"][0]["name"], "permanent_failure");
    assert_eq!(stats["by_reason"][0]["count"], 3);
    assert!(stats["oldest_age_ms"].as_i64().is_some());
    assert_eq!(
        world.cli_json(&["dlq", "stats", "--hours", "1"])["total"],
        5
    );

    world.cli_ok(&["dlq", "delete", &rejected[1]]);
    assert!(fails(&world, &["dlq", "show", &rejected[1]]).contains("no dead-lettered job"));
    let dry = world.cli_json(&["dlq", "cleanup", "--days", "1", "--dry-run"]);
    assert_eq!(dry["deleted"], 0, "nothing is a day old");
    assert_eq!(count(&world.stats(), "dead"), 4);
}

#[test]
fn bad_ids_filters_and_durations_are_refused_with_a_clear_error() {
    let world = World::new();
    for (args, expected) in [
        (
            &["dlq", "show", "nope"][..],
            "no dead-lettered job with id nope",
        ),
        (
            &["dlq", "replay", "nope"],
            "no dead-lettered job with id nope",
        ),
        (
            &["dlq", "review", "nope", "--note", "x"],
            "no dead-lettered job with id nope",
        ),
        (
            &["dlq", "delete", "nope"],
            "no dead-lettered job with id nope",
        ),
        (&["dlq", "list", "--since", "yesterday"], "RFC 3339"),
        (&["dlq", "list", "--until", "soon"], "neither an age"),
        (
            &["dlq", "list", "--reason", "bored"],
            "not a reason; one of",
        ),
        (
            &["dlq", "export", "--format", "xml"],
            "possible values: json, csv",
        ),
        (&["dlq", "cleanup", "--days", "0"], "--days"),
        (&["dlq", "replay"], "pass --all for every row"),
        (&["jobs", "purge", "--older-than", "a week"], "7d"),
        (&["serve", "--retain-completed", "forever"], "or off"),
    ] {
        let message = fails(&world, args);
        assert!(message.contains(expected), "{args:?}: {message}");
    }
}

/// Writes one payload per line.
pub(crate) fn jsonl(world: &World, name: &str, lines: impl Iterator<Item = String>) -> String {
    let path = world.dir.path().join(name);
    let text: Vec<String> = lines.collect();
    fs::write(&path, text.join("\n") + "\n").unwrap();
    path.display().to_string()
}

#[test]
fn bulk_replay_by_filter_dry_runs_asks_before_a_large_set_and_replays_each_row_once() {
    let world = World::new();
    world.install_plugin("reject");
    world.install_plugin("trap");
    let daemon = world.start_daemon(&[]);
    let file = jsonl(
        &world,
        "reject.jsonl",
        (0..120).map(|n| format!(r#"{{"reason":"r{n}"}}"#)),
    );
    world.cli_ok(&["enqueue", "reject", "--from-file", &file]);
    world.enqueue("trap", "{}", &["--max-attempts", "1"]);
    wait_dead_count(&world, 121);
    // Stopped, so the replayed jobs stay pending where they can be counted.
    daemon.terminate();

    let dry = world.cli_json(&["dlq", "replay", "--type", "reject", "--dry-run"]);
    assert_eq!(dry["would_replay"], 120);
    assert_eq!(dry["first"].as_array().unwrap().len(), 20);
    let text = world.cli_ok(&["dlq", "replay", "--type", "reject", "--dry-run"]);
    assert!(
        text.contains("would replay 120") && text.contains("and 100 more"),
        "{text}"
    );
    assert_eq!(
        count(&world.stats(), "pending"),
        0,
        "a dry run changes nothing"
    );

    // More than 100 rows, no terminal to ask on, no --yes: refused, nothing replayed.
    let refused = fails(&world, &["dlq", "replay", "--type", "reject"]);
    assert!(
        refused.contains("--yes") && refused.contains("not a terminal"),
        "{refused}"
    );
    assert_eq!(count(&world.stats(), "pending"), 0);

    let done = world.cli_json(&[
        "dlq", "replay", "--type", "reject", "--since", "1h", "--yes",
    ]);
    assert_eq!(done["replayed"].as_array().unwrap().len(), 120);
    assert_eq!(count(&world.stats(), "pending"), 120);
    let rows = world.cli_json(&["dlq", "list", "--type", "reject", "--limit", "200"]);
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .all(|r| r["resurrection_count"] == 1)
    );
    // The trap row was outside the filter.
    assert_eq!(
        world.cli_json(&["dlq", "list", "--type", "trap"])[0]["resurrection_count"],
        0
    );

    // Replayed rows are left out of the next bulk replay unless asked for.
    let again = world.cli_ok(&["dlq", "replay", "--type", "reject", "--yes"]);
    assert!(again.contains("nothing to replay"), "{again}");
    let including = world.cli_json(&["dlq", "replay", "--all", "--include-replayed", "--dry-run"]);
    assert_eq!(including["would_replay"], 121);
    assert_eq!(count(&world.stats(), "pending"), 120);
}

/// Dead-letters `n` jobs through the store API, as a daemon would, 1,000 at a time.
pub(crate) fn dead_letters_through_the_store(world: &World, n: usize) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = jobhost_store::connect(&world.db(), &ConnectOptions::default())
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let t0 = 1_700_000_000_000_000;
        let jobs: Vec<NewJob> = (0..n)
            .map(|i| NewJob {
                id: format!("job-{i:06}"),
                job_type: if i % 2 == 0 { "mail" } else { "report" }.into(),
                queue: DEFAULT_QUEUE.into(),
                payload: format!(r#"{{"n":{i},"note":"comma, \"quote\""}}"#),
                priority: 0,
                max_attempts: 1,
                run_at: t0,
                created_at: t0,
                parent_id: None,
                after: vec![],
            })
            .collect();
        store.enqueue(&jobs).await.unwrap();
        loop {
            let claimed = store
                .claim(&ClaimParams {
                    worker_id: "w".into(),
                    limit: 1000,
                    now: t0,
                })
                .await
                .unwrap()
                .jobs;
            if claimed.is_empty() {
                break;
            }
            let dead: Vec<Settlement> = claimed
                .iter()
                .map(|job| Settlement {
                    record: AttemptRecord {
                        job_id: job.id.clone(),
                        attempt: job.attempt,
                        worker_id: "w".into(),
                        started_at: t0,
                        finished_at: t0 + 1,
                        outcome: "timeout".into(),
                        error: Some("ran out of fuel".into()),
                        fuel_used: 10,
                        plugin_digest: None,
                    },
                    action: SettleAction::DeadLetter {
                        reason: DeadReason::Timeout,
                        error: "ran out of fuel\nafter 10 units".into(),
                    },
                })
                .collect();
            store.settle(&dead).await.unwrap();
        }
    });
}

#[test]
fn export_streams_a_hundred_thousand_rows_as_json_lines_and_as_csv() {
    let world = World::new();
    dead_letters_through_the_store(&world, 100_000);

    let json_path = world.dir.path().join("dead.jsonl");
    let out = world.cli(&[
        "dlq",
        "export",
        "--format",
        "json",
        "--output",
        json_path.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("exported 100000 dead letters"));
    let text = fs::read_to_string(&json_path).unwrap();
    let mut seen = std::collections::HashSet::new();
    for line in text.lines() {
        let row: Value = serde_json::from_str(line).unwrap();
        assert_eq!(row["reason"], "timeout");
        assert!(
            seen.insert(row["id"].as_str().unwrap().to_string()),
            "a row came twice"
        );
    }
    assert_eq!(seen.len(), 100_000, "every row exactly once");
    assert!(!json_path.with_extension("jsonl.partial").exists());

    let csv_path = world.dir.path().join("dead.csv");
    world.cli_ok(&[
        "dlq",
        "export",
        "--format",
        "csv",
        "--type",
        "mail",
        "-o",
        csv_path.to_str().unwrap(),
    ]);
    let mut reader = csv::Reader::from_path(&csv_path).unwrap();
    let header = reader.headers().unwrap().clone();
    assert_eq!(&header[0], "id");
    let payload = header.iter().position(|h| h == "payload").unwrap();
    let error = header.iter().position(|h| h == "last_error").unwrap();
    let mut rows = 0;
    for record in reader.records() {
        let record = record.unwrap();
        assert_eq!(record.len(), header.len());
        assert!(
            record[payload].contains(r#""note":"comma, \"quote\"""#),
            "{record:?}"
        );
        assert_eq!(&record[error], "ran out of fuel\nafter 10 units");
        rows += 1;
    }
    assert_eq!(rows, 50_000, "only the mail rows");

    let first = world.cli_ok(&["dlq", "export", "--limit", "3"]);
    let first: Vec<Value> = first
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(first.len(), 3);
}

#[test]
fn stats_show_rates_and_timings_and_health_judges_them_with_exit_codes() {
    let world = World::new();
    world.install_plugin("echo");
    world.install_plugin("reject");
    let daemon = world.start_daemon(&[]);
    let echo = jsonl(
        &world,
        "echo.jsonl",
        (0..20).map(|n| format!(r#"{{"n":{n}}}"#)),
    );
    world.cli_ok(&["enqueue", "echo", "--from-file", &echo]);
    for _ in 0..5 {
        world.enqueue("reject", "{}", &[]);
    }
    wait_until("25 jobs finished", MINUTE, || {
        let stats = world.stats();
        count(&stats, "completed") == 20 && count(&stats, "dead") == 5
    });

    let stats = world.stats();
    assert_eq!(stats["completed_last_hour"], 20);
    assert_eq!(stats["failed_last_hour"], 5);
    assert_eq!(stats["failure_rate"], 0.2);
    assert!((stats["completed_per_minute"].as_f64().unwrap() - 20.0 / 60.0).abs() < 1e-9);
    let timings = stats["timings"].as_array().unwrap();
    let of = |t: &str| timings.iter().find(|x| x["job_type"] == t).unwrap().clone();
    assert_eq!(
        (
            of("echo")["attempts"].as_u64(),
            of("echo")["failed"].as_u64()
        ),
        (Some(20), Some(0))
    );
    assert_eq!(of("reject")["failed"], 5);
    assert!(of("echo")["fuel_p99"].as_u64().unwrap() >= of("echo")["fuel_p50"].as_u64().unwrap());
    assert!(of("echo")["fuel_p50"].as_u64().unwrap() > 0);
    let table = world.cli_ok(&["stats"]);
    assert!(
        table.contains("p99 ms") && table.contains("failure rate"),
        "{table}"
    );

    // 5 failed of 25 attempts is 20%: degraded by the default 10%.
    let out = world.cli(&["--json", "health"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let health: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(health["status"], "degraded");
    assert!(
        health["reasons"][0].as_str().unwrap().contains("20%"),
        "{health}"
    );
    let relaxed = [
        "health",
        "--failure-rate-degraded",
        "0.5",
        "--failure-rate-unhealthy",
        "0.9",
    ];
    let out = world.cli(&relaxed);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "healthy");
    let strict = world.cli(&["health", "--dlq-degraded", "1", "--dlq-unhealthy", "5"]);
    assert_eq!(strict.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&strict.stdout).contains("5 dead letters are unreviewed"));

    // With the daemon gone, waiting work will never run.
    daemon.terminate();
    world.enqueue("echo", "{}", &[]);
    let out = world.cli(&relaxed);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).contains("no daemon is running"));

    // A check that cannot be made is neither healthy nor unhealthy: 3.
    let bad = world.cli(&["health", "--failure-rate-degraded", "2"]);
    assert_eq!(bad.status.code(), Some(3), "{}", stderr(&bad));
    let upside_down = world.cli(&[
        "health",
        "--pending-degraded",
        "10",
        "--pending-unhealthy",
        "5",
    ]);
    assert_eq!(upside_down.status.code(), Some(3));
    assert!(stderr(&upside_down).contains("must be the lower one"));
}

#[test]
fn the_daemon_purges_completed_jobs_past_their_retention_and_spares_the_rest() {
    let world = World::new();
    world.install_plugin("echo");
    let daemon = world.start_daemon(&[
        "--retain-completed",
        "1s",
        "--maintenance-interval",
        "100ms",
    ]);
    let done: Vec<String> = (0..5)
        .map(|n| world.enqueue("echo", &format!(r#"{{"n":{n}}}"#), &[]))
        .collect();
    let later = world.enqueue("echo", "{}", &["--delay", "1h"]);
    daemon.wait_for_log("purged completed jobs past their retention", MINUTE);
    wait_until("every completed job purged", MINUTE, || {
        done.iter()
            .all(|id| !world.cli(&["jobs", "show", id]).status.success())
    });
    assert_eq!(world.job(&later)["job"]["status"], "pending");
    assert_eq!(count(&world.stats(), "scheduled"), 1);
}

#[test]
fn jobs_purge_by_hand_dry_runs_then_deletes_old_completed_jobs() {
    let world = World::new();
    world.install_plugin("echo");
    let daemon = world.start_daemon(&[]);
    let ids: Vec<String> = (0..3)
        .map(|n| world.enqueue("echo", &format!(r#"{{"n":{n}}}"#), &[]))
        .collect();
    wait_until("3 completed", MINUTE, || {
        count(&world.stats(), "completed") == 3
    });
    daemon.terminate();

    assert_eq!(
        world.cli_json(&["jobs", "purge", "--older-than", "1h", "--dry-run"])["deleted"],
        0
    );
    let dry = world.cli_ok(&["jobs", "purge", "--older-than", "1ms", "--dry-run"]);
    assert!(dry.contains("would delete 3 completed jobs"), "{dry}");
    assert_eq!(count(&world.stats(), "completed"), 3);
    assert_eq!(
        world.cli_json(&["jobs", "purge", "--older-than", "1ms"])["deleted"],
        3
    );
    assert_eq!(count(&world.stats(), "completed"), 0);
    assert!(!world.cli(&["jobs", "show", &ids[0]]).status.success());
}

#[test]
fn bulk_enqueue_checks_every_line_first_and_writes_nothing_when_one_is_bad() {
    let world = World::new();
    world.install_plugin("send_email");
    let lines = (1..=2500).map(|n| {
        if n == 1800 {
            r#"{"to":"not-an-address","subject":"hi"}"#.to_string()
        } else {
            format!(r#"{{"to":"user{n}@example.com","subject":"hi"}}"#)
        }
    });
    let bad = jsonl(&world, "bad.jsonl", lines);
    let message = fails(&world, &["enqueue", "send_email", "--from-file", &bad]);
    assert!(
        message.contains("line 1800") && message.contains("/to"),
        "{message}"
    );
    assert!(message.contains("nothing was enqueued"), "{message}");
    assert_eq!(count(&world.stats(), "pending"), 0, "no batch was written");

    let good = jsonl(
        &world,
        "good.jsonl",
        (1..=2500).map(|n| format!(r#"{{"to":"user{n}@example.com","subject":"hi"}}"#)),
    );
    assert_eq!(
        world.cli_json(&["enqueue", "send_email", "--from-file", &good])["enqueued"],
        2500
    );
    assert_eq!(count(&world.stats(), "pending"), 2500);
}

/// One HTTP/1.1 request to the daemon's API: `(status, JSON body)`.
fn http(addr: &str, method: &str, path: &str, token: Option<&str>, body: &str) -> (u16, Value) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let (_, body) = response.split_once("\r\n\r\n").unwrap();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// The address the daemon's API listens on, from its log.
pub(crate) fn api_addr(daemon: &crate::support::Daemon) -> String {
    daemon.wait_for_log("HTTP API listening", MINUTE);
    let log = daemon.log_text();
    let line = log
        .lines()
        .find(|l| l.contains("HTTP API listening"))
        .unwrap();
    let start = line.find("addr=").unwrap() + 5;
    line[start..].split_whitespace().next().unwrap().to_string()
}

#[test]
fn the_http_api_offers_the_same_operations_as_json() {
    let world = World::new();
    world.install_plugin("reject");
    let daemon = world.start_daemon(&["--http", "127.0.0.1:0"]);
    let addr = api_addr(&daemon);
    let id = world.enqueue("reject", r#"{"reason":"over http"}"#, &[]);
    wait_dead_count(&world, 1);

    let (status, doc) = http(&addr, "GET", "/openapi.json", None, "");
    assert_eq!((status, &doc["openapi"]), (200, &Value::from("3.1.0")));
    assert!(doc["paths"]["/dlq/{id}/replay"]["post"].is_object());
    let (_, list) = http(
        &addr,
        "GET",
        "/dlq?reason=permanent_failure&since=1h",
        None,
        "",
    );
    assert_eq!(ids(&list), [id.as_str()]);
    let (_, shown) = http(&addr, "GET", &format!("/dlq/{id}"), None, "");
    assert!(
        shown["attempts"][0]["error"]
            .as_str()
            .unwrap()
            .contains("over http")
    );
    let (status, _) = http(
        &addr,
        "POST",
        &format!("/dlq/{id}/review"),
        None,
        r#"{"note":"seen"}"#,
    );
    assert_eq!(status, 200);
    assert_eq!(world.dead(&id)["dead_letter"]["notes"], "seen");
    let (status, replayed) = http(
        &addr,
        "POST",
        &format!("/dlq/{id}/replay"),
        None,
        r#"{"queue":"again"}"#,
    );
    assert_eq!(status, 200, "{replayed}");
    assert_eq!(
        world.dead(&id)["dead_letter"]["replayed_job_id"],
        replayed["id"]
    );
    // The replayed job runs and is rejected again: one row or two by now.
    let (_, stats) = http(&addr, "GET", "/dlq/stats?hours=1", None, "");
    assert!(stats["total"].as_u64().unwrap() >= 1, "{stats}");
    assert_eq!(stats["by_reason"][0]["name"], "permanent_failure");
    let (_, stats) = http(&addr, "GET", "/stats", None, "");
    assert!(
        stats["timings"].is_array() && stats["dead"].is_u64(),
        "{stats}"
    );
    let (status, health) = http(&addr, "GET", "/health", None, "");
    assert!(status == 200 || status == 503, "{status}");
    assert!(health["status"].is_string());

    let (status, error) = http(&addr, "GET", "/dlq/nope", None, "");
    assert_eq!((status, error["error"].as_str().is_some()), (404, true));
    let (status, error) = http(&addr, "GET", "/dlq?since=yesterday", None, "");
    assert_eq!(status, 400);
    assert!(error["error"].as_str().unwrap().contains("RFC 3339"));
    let (status, _) = http(
        &addr,
        "POST",
        &format!("/dlq/{id}/replay"),
        None,
        r#"{"bogus":1}"#,
    );
    assert_eq!(status, 400);
    let (status, _) = http(&addr, "DELETE", &format!("/dlq/{id}"), None, "");
    assert_eq!(status, 200);
    assert!(!world.cli(&["dlq", "show", &id]).status.success());
}

#[test]
fn the_http_api_off_loopback_needs_a_token_and_refuses_requests_without_it() {
    let world = World::new();
    let refused = fails(&world, &["serve", "--http", "0.0.0.0:0"]);
    assert!(refused.contains("JOBHOST_HTTP_TOKEN"), "{refused}");

    let token = "t0ps3cret-token";
    let daemon = world.start_daemon(&["--http", "0.0.0.0:0", "--http-token", token]);
    let port = api_addr(&daemon).rsplit(':').next().unwrap().to_string();
    let addr = format!("127.0.0.1:{port}");
    assert_eq!(http(&addr, "GET", "/stats", None, "").0, 401);
    assert_eq!(http(&addr, "GET", "/stats", Some("wrong"), "").0, 401);
    assert_eq!(http(&addr, "GET", "/openapi.json", None, "").0, 401);
    assert_eq!(http(&addr, "GET", "/stats", Some(token), "").0, 200);
    assert!(
        !daemon.log_text().contains(token),
        "the token must never be logged"
    );
}

#[test]
fn the_dead_letter_operations_work_the_same_on_postgres() {
    let world = World::on_postgres();
    dead_letters_through_the_store(&world, 2_500);

    let csv_path = world.dir.path().join("dead.csv");
    world.cli_ok(&[
        "dlq",
        "export",
        "--format",
        "csv",
        "-o",
        csv_path.to_str().unwrap(),
    ]);
    let mut reader = csv::Reader::from_path(&csv_path).unwrap();
    assert_eq!(
        reader.records().count(),
        2_500,
        "every row once, across pages"
    );

    let stats = world.cli_json(&["dlq", "stats"]);
    assert_eq!(
        (
            stats["total"].as_u64(),
            stats["by_type"].as_array().map(Vec::len)
        ),
        (Some(2_500), Some(2))
    );
    world.cli_ok(&["dlq", "review", "job-000000", "--note", "on postgres"]);
    assert_eq!(
        world.cli_json(&["dlq", "list", "--reviewed"])[0]["notes"],
        "on postgres"
    );

    let refused = fails(&world, &["dlq", "replay", "--type", "mail"]);
    assert!(refused.contains("--yes"), "{refused}");
    let done = world.cli_json(&[
        "dlq",
        "replay",
        "--type",
        "mail",
        "--until",
        "2030-01-01T00:00:00Z",
        "--yes",
    ]);
    assert_eq!(done["replayed"].as_array().unwrap().len(), 1_250);
    assert_eq!(count(&world.stats(), "pending"), 1_250);

    world.cli_ok(&["dlq", "delete", "job-000001"]);
    // The rows failed in 2023: all of them are more than a day old.
    assert_eq!(
        world.cli_json(&["dlq", "cleanup", "--days", "1", "--dry-run"])["deleted"],
        2_499
    );
    assert_eq!(
        world.cli_json(&["dlq", "cleanup", "--days", "1"])["deleted"],
        2_499
    );
    assert_eq!(count(&world.stats(), "dead"), 0);
}
