//! `jobhost workers`: two daemons on one PostgreSQL database are listed with their host,
//! pid, start, heartbeat and the jobs each is running; a daemon that stops leaves the
//! list.

use std::time::Duration;

use serde_json::Value;

use crate::support::{World, wait_until};

fn running(workers: &Value) -> u64 {
    workers
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["running"].as_u64().unwrap())
        .sum()
}

#[test]
fn workers_lists_every_daemon_with_its_running_jobs() {
    let world = World::on_postgres();
    world.install_plugin("loop_forever");
    // Lift the loop's deadline: the jobs run until the daemons stop them.
    std::fs::write(
        world.plugins().join("loop_forever.toml"),
        "[types.loop_until_deadline]\ntimeout_ms = 600000\n",
    )
    .unwrap();
    assert!(
        world
            .cli_ok(&["workers"])
            .contains("no daemon is registered"),
        "nothing runs yet"
    );
    let flags = [
        "--concurrency",
        "1",
        "--claim-batch",
        "1",
        "--grace",
        "100ms",
    ];
    let first = world.start_daemon(&flags);
    let second = world.start_daemon(&flags);
    for _ in 0..2 {
        world.enqueue("loop_until_deadline", "{}", &["--max-attempts", "5"]);
    }
    wait_until("two running jobs", Duration::from_secs(60), || {
        running(&world.cli_json(&["workers"])) == 2
    });

    let workers = world.cli_json(&["workers"]);
    let workers = workers.as_array().unwrap();
    assert_eq!(workers.len(), 2, "{workers:?}");
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    let mut pids: Vec<u64> = workers.iter().map(|w| w["pid"].as_u64().unwrap()).collect();
    pids.sort();
    let mut expected = vec![u64::from(first.child.id()), u64::from(second.child.id())];
    expected.sort();
    assert_eq!(pids, expected);
    for w in workers {
        assert_eq!(w["host"], host.as_str(), "{w}");
        assert!(w["id"].as_str().unwrap().starts_with(&host), "{w}");
        assert!(
            w["started_at"].as_i64() <= w["heartbeat_at"].as_i64(),
            "{w}"
        );
    }

    let table = world.cli_ok(&["workers"]);
    for needle in ["host", "pid", "started", "last heartbeat", "running jobs"] {
        assert!(table.contains(needle), "{table}");
    }
    for pid in expected {
        assert!(table.contains(&pid.to_string()), "{table}");
    }

    let second_pid = u64::from(second.child.id());
    assert!(second.terminate().success());
    let workers = world.cli_json(&["workers"]);
    let workers = workers.as_array().unwrap();
    assert_eq!(
        workers.len(),
        1,
        "a stopped daemon deregisters: {workers:?}"
    );
    assert_ne!(workers[0]["pid"].as_u64().unwrap(), second_pid);
    assert!(first.terminate().success());
}
