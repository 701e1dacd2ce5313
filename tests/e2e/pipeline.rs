//! The reference pipeline (the `orders` example plugin) through the real binary: an
//! order's confirmation fans out to its invoice and inventory jobs, the follow-up email
//! waits on both and on its delay, and the reports run from cron.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{World, count, wait_until};

const DAY: i64 = 86_400_000_000;
const HOUR: i64 = 3_600_000_000;
/// The follow-up email's delay in the test (24 hours in the plugin's default).
const FOLLOWUP_DELAY_MS: i64 = 1500;

fn completed(world: &World, id: &str) -> Value {
    wait_until(
        &format!("job {id} to complete"),
        Duration::from_secs(60),
        || world.job(id)["job"]["status"] == "completed",
    );
    world.job(id)
}

fn at(show: &Value, field: &str) -> i64 {
    show["job"][field].as_i64().unwrap()
}

fn result(show: &Value) -> Value {
    serde_json::from_str(show["job"]["result"].as_str().unwrap()).unwrap()
}

#[test]
fn an_order_runs_through_the_pipeline_in_order_and_every_job_completes() {
    let world = World::new();
    world.install_plugin("orders");
    // The reports' schedules, as an operator registers them (UTC).
    world.cli_ok(&[
        "cron",
        "add",
        "daily_sales",
        "0 0 * * *",
        "daily_sales_report",
    ]);
    world.cli_ok(&[
        "cron",
        "add",
        "cleanup",
        "0 3 * * *",
        "cleanup_completed_jobs",
    ]);
    let schedules = world.cli_json(&["cron", "list"]);
    let next = |name: &str| {
        schedules
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap()["next_run_at"]
            .as_i64()
            .unwrap()
    };
    assert_eq!(next("daily_sales").rem_euclid(DAY), 0, "midnight");
    assert_eq!(next("cleanup").rem_euclid(DAY), 3 * HOUR, "03:00");

    let order = json!({
        "order_id": "o-1",
        "email": "ada@example.com",
        "items": [{"sku": "tea", "qty": 2, "price": 450}, {"sku": "cup", "qty": 1, "price": 1200}],
        "followup_delay_ms": FOLLOWUP_DELAY_MS,
    });
    let placed = world.enqueue("place_order", &order.to_string(), &[]);
    let _daemon = world.start_daemon(&["--concurrency", "2"]);

    let placed = completed(&world, &placed);
    let confirmation_id = result(&placed)["confirmation"]
        .as_str()
        .unwrap()
        .to_string();
    let confirmation = completed(&world, &confirmation_id);
    assert_eq!(confirmation["job"]["priority"], 10, "high priority");
    assert_eq!(confirmation["job"]["parent_id"], placed["job"]["id"]);
    let steps = result(&confirmation);
    let invoice = completed(&world, steps["invoice"].as_str().unwrap());
    let inventory = completed(&world, steps["inventory"].as_str().unwrap());
    let followup = completed(&world, steps["followup"].as_str().unwrap());

    // What ran, in order: the order, its confirmation, then invoice and inventory, and
    // the follow-up only after both and after its delay.
    assert!(at(&confirmation, "started_at") >= at(&placed, "finished_at"));
    for fanned_out in [&invoice, &inventory] {
        assert!(at(fanned_out, "started_at") >= at(&confirmation, "finished_at"));
        assert!(at(&followup, "started_at") >= at(fanned_out, "finished_at"));
    }
    assert_eq!(
        at(&followup, "run_at") - at(&followup, "created_at"),
        FOLLOWUP_DELAY_MS * 1000
    );
    assert!(at(&followup, "started_at") >= at(&followup, "run_at"));
    assert_eq!(
        followup["links"]["waits_on"].as_array().unwrap().len(),
        2,
        "{followup}"
    );
    assert_eq!(result(&invoice)["total_cents"], 2100);
    assert_eq!(result(&inventory)["stock"], json!({"tea": 98, "cup": 99}));

    // The cron jobs' handlers, run now instead of at midnight and 03:00.
    let report = completed(&world, &world.enqueue("daily_sales_report", "{}", &[]));
    assert_eq!(result(&report), json!({"orders": 1, "revenue_cents": 2100}));
    let cleanup = world.enqueue("cleanup_completed_jobs", r#"{"order_ids":["o-1"]}"#, &[]);
    assert_eq!(
        result(&completed(&world, &cleanup))["forgotten"],
        json!(["o-1"])
    );

    let stats = world.stats();
    assert_eq!(count(&stats, "completed"), 7, "{stats}");
    for other in [
        "pending",
        "scheduled",
        "running",
        "waiting",
        "blocked",
        "dead",
    ] {
        assert_eq!(count(&stats, other), 0, "{other}: {stats}");
    }
}
