//! jobhost's benchmark: prints the figures the README quotes. Run with `bench/run.sh`.
//!
//! 1. Per-attempt sandbox overhead: fresh instance + call of the `noop` handler, from a
//!    pre-instantiated component with the pooling allocator, on one thread.
//! 2. End-to-end throughput: 20,000 `noop` jobs bulk-enqueued, then drained by the real
//!    `jobhost serve`; the time is from the first attempt's start to the last one's end,
//!    as the database recorded them.
//! 3. Enqueue-to-start latency: a separate `jobhost enqueue` process per job into an idle
//!    daemon; p50/p99 of (attempt start − enqueue time).
//! 4. The daemon's resident memory, idle with every example plugin loaded, and its peak
//!    under the throughput load.
//! 5. Start-up with 20 plugins in the directory (every built plugin, topped up with
//!    copies of the `variant` fixture patched to distinct job types): time from spawn to
//!    "daemon ready", with an empty compile cache (cold) and a filled one (warm).
//! 6. On PostgreSQL (`postgres.rs`): end-to-end throughput with one daemon and with
//!    three, enqueue-to-start latency on an idle cluster of three, and the cost of a
//!    claim with a million completed rows in the table against none (throughput and
//!    claim cost as medians of three and five runs each, taken in turns).
//!
//! `bench/run.sh sqlite` runs 1–5 only, `bench/run.sh postgres` 6 only; no argument,
//! everything. PostgreSQL is the test server (`JOBHOST_TEST_PG`, see
//! `jobhost_store::testing`), in databases of the benchmark's own.

mod postgres;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use jobhost_runtime::{CancelFlag, JobInput, Outcome, Runtime, RuntimeConfig};
use jobhost_store::{ConnectOptions, JobFilter, JobStatus, NewJob, Store, new_job_id, now_micros};

const BINARY: &str = env!("CARGO_BIN_EXE_jobhost");
const THROUGHPUT_JOBS: usize = 20_000;
const LATENCY_SAMPLES: usize = 200;
const SANDBOX_ATTEMPTS: u32 = 20_000;
const STARTUP_PLUGINS: usize = 20;

fn dist() -> PathBuf {
    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugins/dist");
    assert!(
        dist.join("noop.wasm").exists(),
        "run plugins/build.sh first"
    );
    dist
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let only = |part: &str| args.iter().any(|a| a == part);
    let (sqlite, postgres) = match (only("sqlite"), only("postgres")) {
        (false, false) => (true, true),
        chosen => chosen,
    };
    let runtime = tokio::runtime::Runtime::new()?;
    if sqlite {
        sandbox_overhead()?;
        startup()?;
        runtime.block_on(async {
            throughput_and_memory().await?;
            latency().await
        })?;
    }
    if postgres {
        runtime.block_on(postgres::run())?;
    }
    Ok(())
}

fn sandbox_overhead() -> anyhow::Result<()> {
    let cache = tempfile::tempdir()?;
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: Some(cache.path().to_path_buf()),
        ..RuntimeConfig::default()
    })?;
    let plugin = runtime.load_file(&dist().join("noop.wasm"))?;
    let job = JobInput {
        id: "bench".into(),
        job_type: "noop".into(),
        payload: "{}".into(),
        attempt: 1,
        max_attempts: 1,
    };
    let cancel = CancelFlag::default();
    for _ in 0..1000 {
        runtime.run(&plugin, &job, &cancel);
    }
    let start = Instant::now();
    for _ in 0..SANDBOX_ATTEMPTS {
        let attempt = runtime.run(&plugin, &job, &cancel);
        assert!(matches!(attempt.outcome, Outcome::Completed(_)));
    }
    let per_attempt = start.elapsed() / SANDBOX_ATTEMPTS;
    println!(
        "sandbox overhead: {:.1} µs per attempt (fresh instance + noop call, pooling allocator, 1 thread, {SANDBOX_ATTEMPTS} attempts)",
        per_attempt.as_nanos() as f64 / 1000.0
    );
    Ok(())
}

struct BenchWorld {
    dir: tempfile::TempDir,
    /// The database, when it is a PostgreSQL one rather than a file in `dir`.
    postgres: Option<jobhost_store::testing::TestDatabase>,
}

impl BenchWorld {
    fn on_postgres() -> anyhow::Result<BenchWorld> {
        let mut world = BenchWorld::new()?;
        world.postgres = Some(jobhost_store::testing::TestDatabase::create());
        Ok(world)
    }

    fn new() -> anyhow::Result<BenchWorld> {
        let dir = tempfile::tempdir()?;
        std::fs::create_dir_all(dir.path().join("plugins"))?;
        for entry in std::fs::read_dir(dist())? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "wasm") {
                std::fs::copy(
                    &path,
                    dir.path().join("plugins").join(path.file_name().unwrap()),
                )?;
            }
        }
        Ok(BenchWorld {
            dir,
            postgres: None,
        })
    }

    fn db(&self) -> String {
        match &self.postgres {
            Some(database) => database.url().to_string(),
            None => format!("sqlite://{}", self.dir.path().join("bench.db").display()),
        }
    }

    async fn store(&self) -> anyhow::Result<std::sync::Arc<dyn Store>> {
        let store = jobhost_store::connect(&self.db(), &ConnectOptions::default()).await?;
        store.migrate().await?;
        Ok(store)
    }

    fn command(&self) -> Command {
        let mut command = Command::new(BINARY);
        command
            .current_dir(self.dir.path())
            .args([
                "--db",
                &self.db(),
                "--plugins",
                "plugins",
                "--cache-dir",
                "cache",
            ])
            .stdin(Stdio::null());
        command
    }

    /// Adds copies of the `variant` fixture, each patched to its own job type, until the
    /// plugins directory holds `total` files.
    fn top_up_with_variants(&self, total: usize) -> anyhow::Result<()> {
        let plugins = self.dir.path().join("plugins");
        let original = std::fs::read(dist().join("variant.wasm"))?;
        let mut n = 1;
        while std::fs::read_dir(&plugins)?.count() < total {
            let name = format!("variant_{n:02}");
            let patched = replace_once(&original, b"variant_00", name.as_bytes())
                .ok_or_else(|| anyhow::anyhow!("variant.wasm does not hold its name once"))?;
            std::fs::write(plugins.join(format!("{name}.wasm")), patched)?;
            n += 1;
        }
        Ok(())
    }

    fn start_daemon(&self) -> anyhow::Result<Child> {
        self.start_daemon_logging_to("daemon.log")
    }

    fn start_daemon_logging_to(&self, log: &str) -> anyhow::Result<Child> {
        let log = self.dir.path().join(log);
        let child = self
            .command()
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .env("JOBHOST_LOG", "warn,jobhost::daemon=info")
            .spawn()?;
        let start = Instant::now();
        while !std::fs::read_to_string(&log)?.contains("daemon ready") {
            anyhow::ensure!(
                start.elapsed() < Duration::from_secs(120),
                "daemon did not start"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(child)
    }
}

fn replace_once(haystack: &[u8], from: &[u8], to: &[u8]) -> Option<Vec<u8>> {
    let at = haystack.windows(from.len()).position(|w| w == from)?;
    let again = haystack[at + 1..].windows(from.len()).any(|w| w == from);
    (!again && from.len() == to.len()).then(|| {
        let mut out = haystack.to_vec();
        out[at..at + to.len()].copy_from_slice(to);
        out
    })
}

fn startup() -> anyhow::Result<()> {
    let world = BenchWorld::new()?;
    world.top_up_with_variants(STARTUP_PLUGINS)?;
    let mut timed = Vec::new();
    for _ in ["cold", "warm"] {
        let start = Instant::now();
        let daemon = world.start_daemon()?;
        timed.push(start.elapsed());
        stop(daemon);
    }
    println!(
        "start-up with {STARTUP_PLUGINS} plugins (spawn to ready): cold compile cache {:.0} ms, warm {:.0} ms",
        timed[0].as_secs_f64() * 1000.0,
        timed[1].as_secs_f64() * 1000.0
    );
    Ok(())
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

/// `n` no-op jobs, due now.
fn noop_jobs(n: usize) -> Vec<NewJob> {
    let now = now_micros();
    (0..n)
        .map(|_| NewJob {
            id: new_job_id(),
            job_type: "noop".into(),
            queue: "default".into(),
            payload: "{}".into(),
            priority: 0,
            max_attempts: 3,
            run_at: now,
            created_at: now,
            parent_id: None,
            after: vec![],
        })
        .collect()
}

/// Until the last of `jobs` has completed: a cheap read, polled often.
async fn wait_until_last_completed(store: &dyn Store, jobs: &[NewJob]) -> anyhow::Result<()> {
    let last = &jobs.last().expect("some jobs").id;
    while !store
        .get_job(last)
        .await?
        .is_some_and(|job| job.status == JobStatus::Completed)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// Waits until `jobs` have completed and the table holds `completed` completed jobs in
/// all, polling gently: the drain is timed from the database's own records, and the
/// stats count costs the PostgreSQL server some 50 ms of CPU on 20,000 rows, which a
/// poll every 250 ms took from the drain. So it first watches the last job alone, one
/// primary-key lookup at a time, and counts only once that one is done. (The bench's
/// jobs tie on priority and times, so claims take them in the order of their rows,
/// mostly the order they were inserted in: the last is usually among the last to
/// finish, and the count makes sure.)
async fn wait_until_completed(
    store: &dyn Store,
    jobs: &[NewJob],
    completed: usize,
) -> anyhow::Result<()> {
    wait_until_last_completed(store, jobs).await?;
    while (store.stats(now_micros()).await?.completed as usize) < completed {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(())
}

/// From the first attempt's start to the last one's end, as the database recorded them.
async fn drain_time(store: &dyn Store, n: usize) -> anyhow::Result<Duration> {
    let completed = store
        .list_jobs(&JobFilter {
            status: Some(JobStatus::Completed),
            limit: n as u32,
            ..JobFilter::default()
        })
        .await?;
    let first_start = completed.iter().filter_map(|j| j.started_at).min();
    let last_end = completed.iter().filter_map(|j| j.finished_at).max();
    let (Some(first_start), Some(last_end)) = (first_start, last_end) else {
        anyhow::bail!("no completed job recorded its times");
    };
    Ok(Duration::from_micros((last_end - first_start) as u64))
}

async fn throughput_and_memory() -> anyhow::Result<()> {
    let world = BenchWorld::new()?;
    let store = world.store().await?;
    // Warm the compile cache, so start-up is not part of what is measured.
    stop(world.start_daemon()?);

    let jobs = noop_jobs(THROUGHPUT_JOBS);
    let enqueue_start = Instant::now();
    store.enqueue(&jobs).await?;
    let enqueue_time = enqueue_start.elapsed();

    let daemon = world.start_daemon()?;
    let pid = daemon.id();
    wait_until_completed(store.as_ref(), &jobs, jobs.len()).await?;
    let peak_kib = rss_kib(pid, "VmHWM:");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle_after_kib = rss_kib(pid, "VmRSS:");
    stop(daemon);

    let drain = drain_time(store.as_ref(), THROUGHPUT_JOBS).await?;
    println!(
        "bulk enqueue: {THROUGHPUT_JOBS} jobs in {:.0} ms ({:.0} jobs/s, one transaction)",
        enqueue_time.as_secs_f64() * 1000.0,
        THROUGHPUT_JOBS as f64 / enqueue_time.as_secs_f64()
    );
    println!(
        "end-to-end throughput: {THROUGHPUT_JOBS} noop jobs drained in {:.0} ms = {:.0} jobs/s",
        drain.as_secs_f64() * 1000.0,
        THROUGHPUT_JOBS as f64 / drain.as_secs_f64()
    );
    println!(
        "daemon resident memory: peak {:.1} MB under load, {:.1} MB after",
        peak_kib as f64 / 1024.0,
        idle_after_kib as f64 / 1024.0
    );

    // Idle, first with an empty compile cache (the daemon compiled every plugin), then
    // restarted on the cache it filled (every start after the first).
    let idle_world = BenchWorld::new()?;
    let plugins = std::fs::read_dir(idle_world.dir.path().join("plugins"))?.count();
    for start in ["first start, compiling", "restart, compile cache warm"] {
        let daemon = idle_world.start_daemon()?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        println!(
            "daemon resident memory idle ({start}): {:.1} MB with {plugins} plugins loaded",
            rss_kib(daemon.id(), "VmRSS:") as f64 / 1024.0
        );
        stop(daemon);
    }
    Ok(())
}

async fn latency() -> anyhow::Result<()> {
    let world = BenchWorld::new()?;
    let store = world.store().await?;
    let daemon = world.start_daemon()?;
    let ids = enqueue_by_process(&world, LATENCY_SAMPLES).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let latencies = start_latencies(store.as_ref(), &ids).await?;
    stop(daemon);
    println!(
        "enqueue-to-start latency (separate enqueue process, idle daemon, {LATENCY_SAMPLES} jobs): {}",
        percentiles(latencies)
    );
    Ok(())
}

/// Enqueues `n` `noop` jobs, each by a `jobhost enqueue` process of its own, 20 ms
/// apart so that the daemons go idle again between them; returns their ids.
async fn enqueue_by_process(world: &BenchWorld, n: usize) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::new();
    for _ in 0..n {
        let out = world.command().args(["enqueue", "noop", "{}"]).output()?;
        anyhow::ensure!(out.status.success(), "enqueue failed");
        ids.push(String::from_utf8(out.stdout)?.trim().to_string());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(ids)
}

/// From each job's enqueue to its attempt's start, in microseconds.
async fn start_latencies(store: &dyn Store, ids: &[String]) -> anyhow::Result<Vec<i64>> {
    let mut latencies = Vec::new();
    for id in ids {
        let job = store.get_job(id).await?.expect("job exists");
        let started = job.started_at.expect("job started");
        latencies.push(started - job.created_at);
    }
    Ok(latencies)
}

fn percentiles(mut latencies: Vec<i64>) -> String {
    latencies.sort_unstable();
    let pick = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    format!(
        "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        pick(0.50) as f64 / 1000.0,
        pick(0.99) as f64 / 1000.0,
        *latencies.last().unwrap() as f64 / 1000.0
    )
}
