//! The PostgreSQL figures: end-to-end throughput of one daemon and of three on one
//! database (five runs of each, in turns, and their medians, with the machine's CPU
//! time per job), enqueue-to-start latency on an idle cluster of three (jobs enqueued
//! through a pooled connection, and by a `jobhost enqueue` process each), and what a
//! million completed rows in `jobs` cost a claim (five runs of each, in turns).
//!
//! Throughput: the daemons start idle and drain 3,000 `noop` jobs to warm up; then
//! 20,000 arrive in one enqueue transaction, whose notification wakes them all; the
//! time is from the first attempt's start to the last one's end, as the database
//! recorded them.

use std::process::Child;
use std::time::{Duration, Instant};

use jobhost_store::{ClaimParams, now_micros, testing};

use super::{
    BenchWorld, LATENCY_SAMPLES, THROUGHPUT_JOBS, drain_time, enqueue_by_process, noop_jobs,
    percentiles, start_latencies, stop, wait_until_completed,
};

/// Daemons in the "several hosts" figures (all on this machine, sharing its two cores).
const CLUSTER: usize = 3;
/// Throughput runs of each, taken in turns.
const THROUGHPUT_ROUNDS: usize = 5;
/// Jobs each throughput run drains before the measured ones.
const WARM_UP_JOBS: usize = 3_000;
/// Completed rows in the table for the claim-cost figure.
const COMPLETED_ROWS: u64 = 1_000_000;
/// Pending jobs the claim-cost figure claims from, and how many each claim takes.
const CLAIM_POOL: usize = 20_000;
const CLAIM_BATCH: u32 = 100;
/// Claim-cost runs of each, taken in turns.
const CLAIM_ROUNDS: usize = 5;

pub async fn run() -> anyhow::Result<()> {
    throughputs().await?;
    latency().await?;
    claim_cost().await
}

/// One daemon's throughput and three's, in turns, [`THROUGHPUT_ROUNDS`] times: a single
/// drain on this machine varies by ±15% from run to run (the server's checkpoints, the
/// neighbours of a virtual machine), more than the two differ. Beside each, the CPU time
/// the whole machine spent per 1,000 jobs (daemons and server together): where three
/// daemons fight, over locks or over the cores, it shows there.
async fn throughputs() -> anyhow::Result<()> {
    let (mut one, mut cluster) = (Vec::new(), Vec::new());
    for _ in 0..THROUGHPUT_ROUNDS {
        one.push(throughput(1).await?);
        cluster.push(throughput(CLUSTER).await?);
    }
    let rates = |runs: &[Drain]| runs.iter().map(|r| r.rate).collect::<Vec<_>>();
    let cpus = |runs: &[Drain]| runs.iter().map(|r| r.cpu_ms_per_1000).collect::<Vec<_>>();
    let (one_rate, cluster_rate) = (median(&mut rates(&one)), median(&mut rates(&cluster)));
    let (one_cpu, cluster_cpu) = (median(&mut cpus(&one)), median(&mut cpus(&cluster)));
    println!(
        "postgres end-to-end throughput, median of {THROUGHPUT_ROUNDS} runs each: 1 daemon {one_rate:.0} jobs/s, {CLUSTER} daemons {cluster_rate:.0} jobs/s ({:+.0}%)",
        (cluster_rate / one_rate - 1.0) * 100.0
    );
    println!(
        "postgres machine CPU per 1000 jobs, median of {THROUGHPUT_ROUNDS} runs each: 1 daemon {one_cpu:.0} ms, {CLUSTER} daemons {cluster_cpu:.0} ms ({:+.0}%)",
        (cluster_cpu / one_cpu - 1.0) * 100.0
    );
    Ok(())
}

/// One drain: its rate, and the CPU time the machine spent per 1,000 of its jobs.
struct Drain {
    rate: f64,
    cpu_ms_per_1000: f64,
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn start_daemons(world: &BenchWorld, n: usize) -> anyhow::Result<Vec<Child>> {
    (0..n)
        .map(|i| world.start_daemon_logging_to(&format!("daemon-{i}.log")))
        .collect()
}

/// `daemons` daemons draining [`THROUGHPUT_JOBS`], once they have drained
/// [`WARM_UP_JOBS`]: start-up is not what is measured. A daemon opens its connections
/// as it needs them, and each new PostgreSQL backend fills its catalog caches and plans
/// its statements on first use; left in, that added about a tenth to the CPU per job
/// of three daemons (six-odd backends) against one (two or three).
async fn throughput(daemons: usize) -> anyhow::Result<Drain> {
    let world = BenchWorld::on_postgres()?;
    let store = world.store().await?;
    // Warm the compile cache, so compiling is not part of what is measured either.
    stop(world.start_daemon()?);
    let running = start_daemons(&world, daemons)?;
    let warm_up = noop_jobs(WARM_UP_JOBS);
    store.enqueue(&warm_up).await?;
    wait_until_completed(store.as_ref(), &warm_up, WARM_UP_JOBS).await?;

    let jobs = noop_jobs(THROUGHPUT_JOBS);
    store.enqueue(&jobs).await?;
    let (busy_before, daemons_before) = (machine_busy()?, daemons_busy(&running)?);
    wait_until_completed(store.as_ref(), &jobs, WARM_UP_JOBS + THROUGHPUT_JOBS).await?;
    let busy = machine_busy()? - busy_before;
    let daemons_busy = daemons_busy(&running)? - daemons_before;
    running.into_iter().for_each(stop);

    let drain = drain_time(store.as_ref(), THROUGHPUT_JOBS).await?;
    let rate = THROUGHPUT_JOBS as f64 / drain.as_secs_f64();
    let per_1000 = |cpu: Duration| cpu.as_secs_f64() * 1000.0 / (THROUGHPUT_JOBS as f64 / 1000.0);
    let cpu_ms_per_1000 = per_1000(busy);
    println!(
        "postgres end-to-end throughput, {daemons} daemon(s): {THROUGHPUT_JOBS} noop jobs drained in {:.0} ms = {rate:.0} jobs/s, machine CPU {cpu_ms_per_1000:.0} ms per 1000 jobs ({:.0} of them in the daemons)",
        drain.as_secs_f64() * 1000.0,
        per_1000(daemons_busy),
    );
    Ok(Drain {
        rate,
        cpu_ms_per_1000,
    })
}

/// The CPU time the daemons have spent so far, their threads together (`utime` and
/// `stime` of `/proc/<pid>/stat`, in 1/100 s).
fn daemons_busy(daemons: &[Child]) -> anyhow::Result<Duration> {
    let mut ticks = 0;
    for daemon in daemons {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", daemon.id()))?;
        // The fields after the command name, which is in parentheses and may hold spaces.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        // utime and stime are the line's fields 14 and 15: 11 and 12 counted from 0 at
        // the state, which follows the name.
        for i in [11, 12] {
            let field = fields
                .get(i)
                .ok_or_else(|| anyhow::anyhow!("short {stat}"))?;
            ticks += field.parse::<u64>()?;
        }
    }
    Ok(Duration::from_millis(ticks * 10))
}

/// The CPU time all processes on the machine have spent since boot (the busy columns
/// of `/proc/stat`, whose unit is 1/100 s on Linux).
fn machine_busy() -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let ticks: Vec<u64> = stat
        .lines()
        .next()
        .and_then(|line| line.strip_prefix("cpu "))
        .ok_or_else(|| anyhow::anyhow!("/proc/stat has no cpu line"))?
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    // user nice system idle iowait irq softirq steal ...: all but idle and iowait.
    let busy: u64 = ticks
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, t)| t)
        .sum();
    Ok(Duration::from_millis(busy * 10))
}

/// Enqueue-to-start latency on an idle cluster of [`CLUSTER`], two ways: jobs enqueued
/// one at a time through a pooled connection, as an application enqueues; and through
/// `jobhost enqueue`, a process (and a new database connection) per job, whose start-up
/// and exit share the two cores with the daemons at the moment measured.
async fn latency() -> anyhow::Result<()> {
    let world = BenchWorld::on_postgres()?;
    let store = world.store().await?;
    let daemons = start_daemons(&world, CLUSTER)?;
    let mut pooled = Vec::new();
    for _ in 0..LATENCY_SAMPLES {
        let job = noop_jobs(1);
        store.enqueue(&job).await?;
        pooled.push(job[0].id.clone());
        // Let the daemons go idle again between samples.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let by_process = enqueue_by_process(&world, LATENCY_SAMPLES).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pooled = start_latencies(store.as_ref(), &pooled).await?;
    let by_process = start_latencies(store.as_ref(), &by_process).await?;
    daemons.into_iter().for_each(stop);
    for (how, latencies) in [
        ("enqueued through a pooled connection", pooled),
        ("enqueued by a jobhost enqueue process each", by_process),
    ] {
        println!(
            "postgres enqueue-to-start latency ({CLUSTER} idle daemons, {LATENCY_SAMPLES} jobs {how}): {}",
            percentiles(latencies)
        );
    }
    Ok(())
}

/// Mean time of one claim of [`CLAIM_BATCH`] jobs, over claims that take every one of
/// [`CLAIM_POOL`] pending jobs, with `completed` finished rows in the table beside them.
async fn mean_claim(completed: u64) -> anyhow::Result<Duration> {
    let world = BenchWorld::on_postgres()?;
    let store = world.store().await?;
    store.enqueue(&noop_jobs(CLAIM_POOL)).await?;
    testing::add_completed_jobs(&world.db(), completed);
    let params = ClaimParams {
        worker_id: "bench".into(),
        limit: CLAIM_BATCH,
        now: now_micros(),
    };
    let start = Instant::now();
    let mut claims = 0;
    while !store.claim(&params).await?.jobs.is_empty() {
        claims += 1;
    }
    Ok(start.elapsed() / claims)
}

/// In turns, [`CLAIM_ROUNDS`] times, as with the throughput: the mean claim of one run
/// (some 200 claims of a millisecond or two) varies by ±25% on this machine.
async fn claim_cost() -> anyhow::Result<()> {
    let (mut empty, mut full) = (Vec::new(), Vec::new());
    for _ in 0..CLAIM_ROUNDS {
        empty.push(mean_claim(0).await?.as_secs_f64() * 1000.0);
        full.push(mean_claim(COMPLETED_ROWS).await?.as_secs_f64() * 1000.0);
    }
    let runs = |ms: &[f64]| {
        ms.iter()
            .map(|m| format!("{m:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "postgres claim of {CLAIM_BATCH} jobs (from {CLAIM_POOL} pending), runs with no completed rows: {} ms; with {COMPLETED_ROWS}: {} ms",
        runs(&empty),
        runs(&full)
    );
    let (empty, full) = (median(&mut empty), median(&mut full));
    println!(
        "postgres claim of {CLAIM_BATCH} jobs, median of {CLAIM_ROUNDS} runs each: {empty:.2} ms with no completed rows, {full:.2} ms with {COMPLETED_ROWS} ({:+.0}%)",
        (full / empty - 1.0) * 100.0
    );
    Ok(())
}
