//! The PostgreSQL figures: end-to-end throughput of one daemon and of three on one
//! database, enqueue-to-start latency on an idle cluster of three, and what a million
//! completed rows in `jobs` cost a claim.
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
/// Completed rows in the table for the claim-cost figure.
const COMPLETED_ROWS: u64 = 1_000_000;
/// Pending jobs the claim-cost figure claims from, and how many each claim takes.
const CLAIM_POOL: usize = 20_000;
const CLAIM_BATCH: u32 = 100;

pub async fn run() -> anyhow::Result<()> {
    for daemons in [1, CLUSTER] {
        throughput(daemons).await?;
    }
    latency().await?;
    claim_cost().await
}

fn start_daemons(world: &BenchWorld, n: usize) -> anyhow::Result<Vec<Child>> {
    (0..n)
        .map(|i| world.start_daemon_logging_to(&format!("daemon-{i}.log")))
        .collect()
}

async fn throughput(daemons: usize) -> anyhow::Result<()> {
    let world = BenchWorld::on_postgres()?;
    let store = world.store().await?;
    // Warm the compile cache, so start-up is not part of what is measured.
    stop(world.start_daemon()?);
    let running = start_daemons(&world, daemons)?;

    store.enqueue(&noop_jobs(THROUGHPUT_JOBS)).await?;
    wait_until_completed(store.as_ref(), THROUGHPUT_JOBS).await?;
    running.into_iter().for_each(stop);

    let drain = drain_time(store.as_ref(), THROUGHPUT_JOBS).await?;
    println!(
        "postgres end-to-end throughput, {daemons} daemon(s): {THROUGHPUT_JOBS} noop jobs drained in {:.0} ms = {:.0} jobs/s",
        drain.as_secs_f64() * 1000.0,
        THROUGHPUT_JOBS as f64 / drain.as_secs_f64()
    );
    Ok(())
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

async fn claim_cost() -> anyhow::Result<()> {
    let empty = mean_claim(0).await?;
    let full = mean_claim(COMPLETED_ROWS).await?;
    println!(
        "postgres claim of {CLAIM_BATCH} jobs (from {CLAIM_POOL} pending): {:.2} ms with no completed rows, {:.2} ms with {COMPLETED_ROWS} ({:+.0}%)",
        empty.as_secs_f64() * 1000.0,
        full.as_secs_f64() * 1000.0,
        (full.as_secs_f64() / empty.as_secs_f64() - 1.0) * 100.0
    );
    Ok(())
}
