//! The PostgreSQL figures: end-to-end throughput of one daemon and of three on one
//! database (three runs of each, in turns, and their medians), enqueue-to-start latency
//! on an idle cluster of three, and what a million completed rows in `jobs` cost a
//! claim (five runs of each, in turns).
//!
//! Throughput: the daemons start idle, then 20,000 `noop` jobs arrive in one enqueue
//! transaction, whose notification wakes them all; the time is from the first attempt's
//! start to the last one's end, as the database recorded them.

use std::process::Child;
use std::time::{Duration, Instant};

use jobhost_store::{ClaimParams, now_micros, testing};

use super::{
    BenchWorld, LATENCY_SAMPLES, THROUGHPUT_JOBS, drain_time, noop_jobs, stop, wait_until_completed,
};

/// Daemons in the "several hosts" figures (all on this machine, sharing its two cores).
const CLUSTER: usize = 3;
/// Throughput runs of each, taken in turns.
const THROUGHPUT_ROUNDS: usize = 3;
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
/// drain on this machine varies by ±10% from run to run (the server's checkpoints, the
/// neighbours of a virtual machine), more than the two differ.
async fn throughputs() -> anyhow::Result<()> {
    let (mut one, mut cluster) = (Vec::new(), Vec::new());
    for _ in 0..THROUGHPUT_ROUNDS {
        one.push(throughput(1).await?);
        cluster.push(throughput(CLUSTER).await?);
    }
    let (one, cluster) = (median(&mut one), median(&mut cluster));
    println!(
        "postgres end-to-end throughput, median of {THROUGHPUT_ROUNDS} runs each: 1 daemon {one:.0} jobs/s, {CLUSTER} daemons {cluster:.0} jobs/s ({:+.0}%)",
        (cluster / one - 1.0) * 100.0
    );
    Ok(())
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

/// Jobs per second of `daemons` daemons draining [`THROUGHPUT_JOBS`].
async fn throughput(daemons: usize) -> anyhow::Result<f64> {
    let world = BenchWorld::on_postgres()?;
    let store = world.store().await?;
    // Warm the compile cache, so start-up is not part of what is measured.
    stop(world.start_daemon()?);
    let running = start_daemons(&world, daemons)?;

    store.enqueue(&noop_jobs(THROUGHPUT_JOBS)).await?;
    wait_until_completed(store.as_ref(), THROUGHPUT_JOBS).await?;
    running.into_iter().for_each(stop);

    let drain = drain_time(store.as_ref(), THROUGHPUT_JOBS).await?;
    let rate = THROUGHPUT_JOBS as f64 / drain.as_secs_f64();
    println!(
        "postgres end-to-end throughput, {daemons} daemon(s): {THROUGHPUT_JOBS} noop jobs drained in {:.0} ms = {rate:.0} jobs/s",
        drain.as_secs_f64() * 1000.0,
    );
    Ok(rate)
}

async fn latency() -> anyhow::Result<()> {
    let world = BenchWorld::on_postgres()?;
    let store = world.store().await?;
    let daemons = start_daemons(&world, CLUSTER)?;
    let mut ids = Vec::new();
    for _ in 0..LATENCY_SAMPLES {
        let out = world.command().args(["enqueue", "noop", "{}"]).output()?;
        anyhow::ensure!(out.status.success(), "enqueue failed");
        ids.push(String::from_utf8(out.stdout)?.trim().to_string());
        // Let the daemons go idle again between samples.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut latencies = Vec::new();
    for id in &ids {
        let job = store.get_job(id).await?.expect("job exists");
        let started = job.started_at.expect("job started");
        latencies.push(started - job.created_at);
    }
    daemons.into_iter().for_each(stop);
    latencies.sort_unstable();
    let pick = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    println!(
        "postgres enqueue-to-start latency (separate enqueue process, {CLUSTER} idle daemons, {LATENCY_SAMPLES} jobs): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        pick(0.50) as f64 / 1000.0,
        pick(0.99) as f64 / 1000.0,
        *latencies.last().unwrap() as f64 / 1000.0
    );
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
    while !store.claim(&params).await?.is_empty() {
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
