//! Several daemons on one PostgreSQL database lose nothing and do nothing twice: three
//! daemons share 20,000 jobs of the `once` fixture, whose effect is a key in the plugin
//! key-value store committed with the completion, and every job's effect is there
//! exactly once and every job completed exactly once; the same with one daemon killed
//! with SIGKILL half-way (the others rescue its jobs), and with every connection to the
//! database cut, repeatedly, while they run (they reconnect and carry on).

use std::collections::{HashMap, HashSet};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jobhost_store::{ConnectOptions, Job, JobFilter, JobStatus, Store, now_micros};
use serde_json::Value;
use tokio::runtime::Runtime;

use crate::support::{Daemon, World};

const JOBS: usize = 20_000;
const DAEMONS: usize = 3;
/// How long all the jobs may take; far more than they need, on a busy machine.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(240);
/// Reads of the key-value store in flight at once while checking the effects.
const CHECKS_AT_ONCE: usize = 8;

/// The test's own view of the database, through the store (the daemons are separate
/// processes). Reads that fail (while the test cuts connections) are tried again.
struct Observer {
    runtime: Runtime,
    store: Arc<dyn Store>,
}

impl Observer {
    fn new(world: &World) -> Observer {
        let runtime = Runtime::new().unwrap();
        let store = runtime
            .block_on(jobhost_store::connect(
                &world.db(),
                &ConnectOptions::default(),
            ))
            .unwrap();
        Observer { runtime, store }
    }

    fn completed(&self) -> Option<u64> {
        let stats = self.runtime.block_on(self.store.stats(now_micros())).ok()?;
        Some(stats.completed)
    }

    /// Waits until at least `n` jobs completed; panics after `timeout`. Returns the
    /// workers it saw running jobs meanwhile (`jobhost workers`' numbers).
    fn wait_completed(&self, n: u64, timeout: Duration) -> HashSet<String> {
        let start = Instant::now();
        let mut busy = HashSet::new();
        loop {
            if self.completed().is_some_and(|done| done >= n) {
                return busy;
            }
            if let Ok(loads) = self.runtime.block_on(self.store.worker_loads()) {
                let running = loads.into_iter().filter(|l| l.running > 0);
                busy.extend(running.map(|l| l.worker.id));
            }
            assert!(
                start.elapsed() < timeout,
                "fewer than {n} jobs completed after {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn completed_jobs(&self) -> Vec<Job> {
        let filter = JobFilter {
            status: Some(JobStatus::Completed),
            limit: (JOBS * 2) as u32,
            ..JobFilter::default()
        };
        self.runtime
            .block_on(self.store.list_jobs(&filter))
            .unwrap()
    }
}

/// Enqueues the jobs, one per key `k0`…, in one `enqueue --from-file`.
fn enqueue_jobs(world: &World) {
    let lines: Vec<String> = (0..JOBS)
        .map(|n| format!(r#"{{"key":"k{n}","tally":false}}"#))
        .collect();
    let file = world.dir.path().join("jobs.jsonl");
    std::fs::write(&file, lines.join("\n")).unwrap();
    let out = world.cli_ok(&["enqueue", "once", "--from-file", file.to_str().unwrap()]);
    assert!(out.contains(&format!("enqueued {JOBS} jobs")), "{out}");
}

fn start_daemons(world: &World, extra: &[&str]) -> Vec<Daemon> {
    (0..DAEMONS).map(|_| world.start_daemon(extra)).collect()
}

/// Every job completed exactly once and its effect is in the key-value store exactly
/// once, made by the attempt that completed; returns the jobs by key.
fn check_everything_done_once(world: &World, observer: &Observer) -> HashMap<String, Job> {
    let stats = world.stats();
    for field in ["pending", "scheduled", "running", "cancelled", "dead"] {
        assert_eq!(stats[field], 0, "{field}: {stats}");
    }
    assert_eq!(stats["completed"], JOBS as u64, "{stats}");

    let jobs = observer.completed_jobs();
    assert_eq!(jobs.len(), JOBS, "one row per job");
    let mut by_key = HashMap::new();
    for job in jobs {
        let payload: Value = serde_json::from_str(&job.payload).unwrap();
        let result: Value = serde_json::from_str(job.result.as_deref().unwrap()).unwrap();
        // The completing attempt found no effect committed before it, and made it.
        assert_eq!(result["effect"], true, "{job:?}");
        let key = payload["key"].as_str().unwrap().to_string();
        assert!(
            by_key.insert(key, job).is_none(),
            "a key enqueued once ran twice"
        );
    }
    check_effects(observer, &by_key);
    by_key
}

/// Each job's effect, the key `done:KEY`, holds the id of that job.
fn check_effects(observer: &Observer, by_key: &HashMap<String, Job>) {
    let keys: Vec<(String, String)> = by_key
        .iter()
        .map(|(key, job)| (format!("done:{key}"), job.id.clone()))
        .collect();
    let store = observer.store.clone();
    observer.runtime.block_on(async move {
        let mut tasks = tokio::task::JoinSet::new();
        for part in keys.chunks(JOBS.div_ceil(CHECKS_AT_ONCE)) {
            let store = store.clone();
            let part = part.to_vec();
            tasks.spawn(async move {
                for (key, job_id) in part {
                    let value = store.kv_get("once", &key).await.unwrap();
                    assert_eq!(value.as_deref(), Some(job_id.as_str()), "{key}");
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.unwrap();
        }
    });
}

fn stop_all(daemons: Vec<Daemon>) {
    for daemon in daemons {
        assert!(daemon.terminate().success());
    }
}

#[test]
fn three_daemons_run_twenty_thousand_jobs_each_once() {
    let world = World::on_postgres();
    world.install_plugin("once");
    let daemons = start_daemons(&world, &[]);
    let observer = Observer::new(&world);
    enqueue_jobs(&world);
    let busy = observer.wait_completed(JOBS as u64, DRAIN_TIMEOUT);

    let jobs = check_everything_done_once(&world, &observer);
    for job in jobs.values() {
        assert_eq!(job.attempt, 1, "claimed once, ran once: {job:?}");
    }
    assert_eq!(world.stats()["failed_last_hour"], 0);
    assert_eq!(busy.len(), DAEMONS, "every daemon ran jobs: {busy:?}");
    stop_all(daemons);
}

/// The id a daemon registered under, by its pid.
fn worker_id_of(observer: &Observer, daemon: &Daemon) -> String {
    let pid = daemon.child.id();
    let loads = observer
        .runtime
        .block_on(observer.store.worker_loads())
        .unwrap();
    loads
        .into_iter()
        .find(|l| l.worker.pid == pid)
        .map(|l| l.worker.id)
        .expect("the daemon is registered")
}

/// Kills `daemon` with SIGKILL at a moment it holds claimed jobs: it is stopped
/// (SIGSTOP, so it can neither settle nor claim) and killed if the database shows jobs
/// running under it, else let go on for a moment and tried again. A daemon between two
/// claims holds none, and killing it then would test nothing.
fn kill_while_holding_jobs(observer: &Observer, daemon: Daemon, worker_id: &str) {
    let signal = |name: &str| {
        let pid = daemon.child.id().to_string();
        assert!(
            Command::new("kill")
                .args([name, &pid])
                .status()
                .unwrap()
                .success()
        );
    };
    for _ in 0..200 {
        signal("-STOP");
        let loads = observer
            .runtime
            .block_on(observer.store.worker_loads())
            .unwrap();
        if loads
            .iter()
            .any(|l| l.worker.id == worker_id && l.running > 0)
        {
            daemon.kill_hard();
            return;
        }
        signal("-CONT");
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("the daemon never held a job");
}

#[test]
fn a_daemon_killed_half_way_has_its_jobs_rescued_and_nothing_is_lost() {
    let world = World::on_postgres();
    world.install_plugin("once");
    // Quick heartbeats, so the others notice the dead one soon.
    let flags = ["--heartbeat-interval", "250ms", "--stale-after", "5s"];
    let mut daemons = start_daemons(&world, &flags);
    let observer = Observer::new(&world);
    enqueue_jobs(&world);
    observer.wait_completed(JOBS as u64 / 2, DRAIN_TIMEOUT);
    let victim = daemons.remove(0);
    let victim_id = worker_id_of(&observer, &victim);
    kill_while_holding_jobs(&observer, victim, &victim_id);
    observer.wait_completed(JOBS as u64, DRAIN_TIMEOUT);

    let jobs = check_everything_done_once(&world, &observer);
    let rescued: Vec<&Job> = jobs.values().filter(|j| j.attempt > 1).collect();
    assert!(!rescued.is_empty(), "the killed daemon held no job");
    let mut from_victim = 0;
    for job in &rescued {
        let attempts = observer
            .runtime
            .block_on(observer.store.job_attempts(&job.id))
            .unwrap();
        assert_eq!(attempts.len() as u32, job.attempt, "{attempts:?}");
        let (last, earlier) = attempts.split_last().unwrap();
        assert_eq!(last.outcome, "completed", "{attempts:?}");
        assert_ne!(last.worker_id, victim_id, "{attempts:?}");
        for attempt in earlier {
            assert_eq!(attempt.outcome, "rescued", "{attempts:?}");
            from_victim += usize::from(attempt.worker_id == victim_id);
        }
    }
    assert!(
        from_victim > 0,
        "no rescued attempt was the killed daemon's"
    );
    assert!(
        daemons.iter().any(|d| d
            .log_text()
            .contains("rescued the jobs of daemons that stopped")),
        "a surviving daemon rescued the jobs"
    );
    let workers = observer
        .runtime
        .block_on(observer.store.worker_loads())
        .unwrap();
    assert!(
        workers.iter().all(|w| w.worker.id != victim_id),
        "{workers:?}"
    );
    stop_all(daemons);
}

/// Fifths of the jobs between cuts: three cuts while the daemons are busy.
const CUTS: u64 = 3;

#[test]
fn daemons_whose_connections_are_cut_reconnect_and_lose_nothing() {
    let world = World::on_postgres();
    world.install_plugin("once");
    let mut daemons = start_daemons(&world, &[]);
    let observer = Observer::new(&world);
    enqueue_jobs(&world);
    for round in 1..=CUTS {
        observer.wait_completed(round * JOBS as u64 / 5, DRAIN_TIMEOUT);
        let cut = world.postgres().terminate_connections();
        assert!(cut >= DAEMONS as u64, "cut {cut} connections");
    }
    observer.wait_completed(JOBS as u64, DRAIN_TIMEOUT);

    for daemon in &mut daemons {
        let exited = daemon.child.try_wait().unwrap();
        assert!(
            exited.is_none(),
            "a daemon exited ({exited:?}):\n{}",
            daemon.log_text()
        );
    }
    // An attempt whose read of the key-value store was cut off asked for a retry (the
    // `once` handler does), so some jobs may have taken two attempts; none completed
    // twice, and every effect is there once.
    let jobs = check_everything_done_once(&world, &observer);
    for job in jobs.values().filter(|j| j.attempt > 1) {
        let attempts = observer
            .runtime
            .block_on(observer.store.job_attempts(&job.id))
            .unwrap();
        let completed = attempts.iter().filter(|a| a.outcome == "completed").count();
        assert_eq!(completed, 1, "{attempts:?}");
        assert_eq!(
            attempts.last().unwrap().outcome,
            "completed",
            "{attempts:?}"
        );
    }
    for daemon in &daemons {
        let log = daemon.log_text();
        assert!(
            log.contains("the connection listening for new work dropped and was reopened")
                || log.contains("lost the connection that listens for new work"),
            "the cut is logged:\n{log}"
        );
        assert!(!log.contains("panicked"), "{log}");
        assert_eq!(log.matches("daemon ready").count(), 1, "{log}");
    }
    stop_all(daemons);
}
