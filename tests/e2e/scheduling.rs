//! Cron time zones, the schedules a plugin declares, and unique keys (a plugin's default
//! key, and a key kept reserved after completion), through the real binary.

use std::time::Duration;

use serde_json::Value;

use crate::support::{World, wait_until};

fn schedule<'a>(schedules: &'a Value, name: &str) -> &'a Value {
    schedules
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no schedule {name}: {schedules}"))
}

#[test]
fn a_schedule_keeps_its_time_zone_and_a_bad_zone_is_refused() {
    let world = World::new();
    world.install_plugin("echo");
    world.cli_ok(&[
        "cron",
        "add",
        "paris",
        "0 9 * * *",
        "echo",
        "{}",
        "--tz",
        "Europe/Paris",
    ]);
    let listed = world.cli_json(&["cron", "list"]);
    let paris = schedule(&listed, "paris");
    assert_eq!(paris["timezone"], "Europe/Paris", "{paris}");
    assert_eq!(paris["source"], "operator", "{paris}");
    // 09:00 in Paris is 07:00 or 08:00 UTC, never 09:00 UTC.
    let next = paris["next_run_at"].as_i64().unwrap();
    let hour_utc = (next / 3_600_000_000) % 24;
    assert!(matches!(hour_utc, 7 | 8), "{paris}");
    assert!(world.cli_ok(&["cron", "list"]).contains("Europe/Paris"));

    let out = world.cli(&[
        "cron",
        "add",
        "bad",
        "0 9 * * *",
        "echo",
        "{}",
        "--tz",
        "Mars/Olympus",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("IANA"));
    assert_eq!(
        world.cli_json(&["cron", "list"]).as_array().unwrap().len(),
        1
    );
}

#[test]
fn a_plugins_schedule_is_written_once_by_every_daemon_that_loads_it() {
    let world = World::on_postgres();
    world.install_plugin("overlap");
    let check = world.cli_ok(&[
        "plugins",
        "check",
        world.plugins().join("overlap.wasm").to_str().unwrap(),
    ]);
    assert!(check.contains("overlap_new_year"), "{check}");
    let _one = world.start_daemon(&[]);
    let _two = world.start_daemon(&[]);
    let listed = world.cli_json(&["cron", "list"]);
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    let declared = schedule(&listed, "overlap_new_year");
    assert_eq!(declared["source"], "plugin overlap", "{declared}");
    assert_eq!(declared["timezone"], "Europe/Paris", "{declared}");
    // Midnight on 1 January in Paris is 23:00 UTC on 31 December.
    let next = declared["next_run_at"].as_i64().unwrap();
    assert_eq!((next / 3_600_000_000) % 24, 23, "{declared}");
}

#[test]
fn a_plugins_unique_fields_make_the_default_key_and_a_window_keeps_it_after_completion() {
    let world = World::new();
    world.install_plugin("overlap");
    // Loads the plugin, so the database knows the type's unique-key fields.
    let daemon = world.start_daemon(&[]);
    world.cli_ok(&["queues", "pause", "default"]);
    let first = world.cli_json(&["enqueue", "overlap_keyed", r#"{"key":"a","ms":0}"#]);
    let again = world.cli_json(&["enqueue", "overlap_keyed", r#"{"key":"a","ms":5}"#]);
    let other = world.cli_json(&["enqueue", "overlap_keyed", r#"{"key":"b","ms":0}"#]);
    assert_eq!(first["created"], true);
    assert_eq!(
        (&again["id"], &again["created"]),
        (&first["id"], &Value::from(false))
    );
    assert_eq!(other["created"], true);

    let kept = world.cli_json(&[
        "enqueue",
        "overlap",
        r#"{"ms":0}"#,
        "--unique-key",
        "k",
        "--unique-for",
        "1h",
    ]);
    world.cli_ok(&["queues", "resume", "default"]);
    let id = kept["id"].as_str().unwrap().to_string();
    wait_until("the kept job to complete", Duration::from_secs(60), || {
        world.job(&id)["job"]["status"] == "completed"
    });
    // Completed, its key stays reserved for the hour.
    let within = world.cli_json(&["enqueue", "overlap", r#"{"ms":0}"#, "--unique-key", "k"]);
    assert_eq!(
        (&within["id"], &within["created"]),
        (&kept["id"], &Value::from(false))
    );
    let out = world.cli(&["enqueue", "overlap", "{}", "--unique-for", "1h"]);
    assert!(!out.status.success(), "a window without a key is refused");
    drop(daemon);
}
