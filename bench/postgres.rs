//! The PostgreSQL figures: end-to-end throughput of one daemon and of three on one
//! database (fifteen drains of each, in turns, and their medians, with the machine's
//! CPU time per job), enqueue-to-start latency on an idle cluster of three (jobs
//! enqueued through a pooled connection, and by a `jobhost enqueue` process each; and
//! what of it is the enqueue's own commit), and what a million completed rows in `jobs`
//! cost a claim (claims on a table with none and on one with a million, in turns).
//!
//! Throughput: the daemons start idle and drain 3,000 `noop` jobs to warm up; then, for
//! each drain, 20,000 arrive in one enqueue transaction, whose notification wakes them
//! all; the time is from the first attempt's start to the last one's end, as the
//! database recorded them.

use std::process::Child;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jobhost_store::{ClaimParams, Store, now_micros, testing};

use super::{
    BenchWorld, LATENCY_SAMPLES, THROUGHPUT_JOBS, drain_time, enqueue_by_process, noop_jobs,
    percentiles, start_latencies, stop, wait_until_completed, wait_until_last_completed,
};

/// Daemons in the "several hosts" figures (all on this machine, sharing its two cores).
const CLUSTER: usize = 3;
/// Throughput runs of each, taken in turns.
const THROUGHPUT_ROUNDS: usize = 15;
/// Jobs each throughput run drains before the measured ones.
const WARM_UP_JOBS: usize = 3_000;
/// Completed rows in the table for the claim-cost figure.
const COMPLETED_ROWS: u64 = 1_000_000;
/// Pending jobs the claim-cost figure claims from, and how many each claim takes.
const CLAIM_POOL: usize = 20_000;
const CLAIM_BATCH: u32 = 100;
/// Between latency samples, so that the daemons are idle again at each.
const LATENCY_SPACING: Duration = Duration::from_millis(20);

pub async fn run() -> anyhow::Result<()> {
    throughputs().await?;
    latency().await?;
    claim_cost().await
}

/// One daemon's throughput and three's, in turns, [`THROUGHPUT_ROUNDS`] times, each
/// cluster on a database of its own and both running throughout: a single drain on this
/// machine varies by ±15% or more from one to the next (the neighbours of a virtual
/// machine), more than the two differ, so the two take turns drain by drain and the
/// medians are compared. Beside each, the CPU time the whole machine spent per 1,000
/// jobs (daemons and server together): where three daemons fight, over locks or over
/// the cores, it shows there.
async fn throughputs() -> anyhow::Result<()> {
    let mut single = Cluster::start(1).await?;
    let mut several = Cluster::start(CLUSTER).await?;
    let (mut one, mut cluster) = (Vec::new(), Vec::new());
    for _ in 0..THROUGHPUT_ROUNDS {
        one.push(single.drain().await?);
        cluster.push(several.drain().await?);
    }
    single.stop();
    several.stop();
    let rates = |runs: &[Drain]| runs.iter().map(|r| r.rate).collect::<Vec<_>>();
    let cpus = |runs: &[Drain]| runs.iter().map(|r| r.cpu_ms_per_1000).collect::<Vec<_>>();
    let (one_rate, cluster_rate) = (median(&mut rates(&one)), median(&mut rates(&cluster)));
    let (one_cpu, cluster_cpu) = (median(&mut cpus(&one)), median(&mut cpus(&cluster)));
    let faster = one
        .iter()
        .zip(&cluster)
        .filter(|(one, cluster)| cluster.rate >= one.rate)
        .count();
    println!(
        "postgres end-to-end throughput, median of {THROUGHPUT_ROUNDS} drains each: 1 daemon {one_rate:.0} jobs/s, {CLUSTER} daemons {cluster_rate:.0} jobs/s ({:+.0}%); {CLUSTER} at least as fast as the 1 just before them in {faster} turns of {THROUGHPUT_ROUNDS}",
        (cluster_rate / one_rate - 1.0) * 100.0
    );
    println!(
        "postgres machine CPU per 1000 jobs, median of {THROUGHPUT_ROUNDS} drains each: 1 daemon {one_cpu:.0} ms, {CLUSTER} daemons {cluster_cpu:.0} ms ({:+.0}%)",
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

/// Daemons on a database of their own, idle between drains.
struct Cluster {
    world: BenchWorld,
    store: Arc<dyn Store>,
    daemons: Vec<Child>,
    /// The jobs completed in its database so far.
    completed: usize,
}

impl Cluster {
    /// Starts `daemons` daemons and has them drain [`WARM_UP_JOBS`]: start-up is not
    /// what is measured. A daemon opens its connections as it needs them, and each new
    /// PostgreSQL backend fills its catalog caches and plans its statements on first
    /// use; left in, that added about a tenth to the CPU per job of three daemons
    /// (six-odd backends) against one (two or three).
    async fn start(daemons: usize) -> anyhow::Result<Cluster> {
        let world = BenchWorld::on_postgres()?;
        let store = world.store().await?;
        // Warm the compile cache, so compiling is not part of what is measured either.
        stop(world.start_daemon()?);
        let daemons = start_daemons(&world, daemons)?;
        let warm_up = noop_jobs(WARM_UP_JOBS);
        store.enqueue(&warm_up).await?;
        wait_until_completed(store.as_ref(), &warm_up, WARM_UP_JOBS).await?;
        Ok(Cluster {
            world,
            store,
            daemons,
            completed: WARM_UP_JOBS,
        })
    }

    /// One drain of [`THROUGHPUT_JOBS`], enqueued in one transaction whose notification
    /// wakes the daemons, from a vacuumed table just after a checkpoint.
    async fn drain(&mut self) -> anyhow::Result<Drain> {
        testing::vacuum_and_checkpoint(&self.world.db());
        let jobs = noop_jobs(THROUGHPUT_JOBS);
        self.store.enqueue(&jobs).await?;
        let (busy_before, daemons_before) = (machine_busy()?, daemons_busy(&self.daemons)?);
        // The CPU time is read when the last job is done, before the count of all
        // completed jobs that makes sure the rest are: that count reads the whole
        // table, which grows by a drain each turn.
        wait_until_last_completed(self.store.as_ref(), &jobs).await?;
        let busy = machine_busy()? - busy_before;
        let daemons_busy = daemons_busy(&self.daemons)? - daemons_before;
        self.completed += THROUGHPUT_JOBS;
        wait_until_completed(self.store.as_ref(), &jobs, self.completed).await?;

        let drain = drain_time(self.store.as_ref(), THROUGHPUT_JOBS).await?;
        let rate = THROUGHPUT_JOBS as f64 / drain.as_secs_f64();
        let per_1000 =
            |cpu: Duration| cpu.as_secs_f64() * 1000.0 / (THROUGHPUT_JOBS as f64 / 1000.0);
        let cpu_ms_per_1000 = per_1000(busy);
        println!(
            "postgres end-to-end throughput, {} daemon(s): {THROUGHPUT_JOBS} noop jobs drained in {:.0} ms = {rate:.0} jobs/s, machine CPU {cpu_ms_per_1000:.0} ms per 1000 jobs ({:.0} of them in the daemons)",
            self.daemons.len(),
            drain.as_secs_f64() * 1000.0,
            per_1000(daemons_busy),
        );
        Ok(Drain {
            rate,
            cpu_ms_per_1000,
        })
    }

    fn stop(self) {
        self.daemons.into_iter().for_each(stop);
    }
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
///
/// A job cannot start before its enqueue has committed, and a commit waits for the
/// server's disk; so beside the pooled figures, how long the enqueue call took, and how
/// long after it returned the job had started (what jobhost adds: the notification,
/// the wake-up, the claim). Then, over as long a time and with the daemons still idling,
/// the server's bare commits: the tail of the disk itself.
async fn latency() -> anyhow::Result<()> {
    let world = BenchWorld::on_postgres()?;
    let store = world.store().await?;
    let daemons = start_daemons(&world, CLUSTER)?;
    let (mut pooled, mut enqueue_calls) = (Vec::new(), Vec::new());
    for _ in 0..LATENCY_SAMPLES {
        let job = noop_jobs(1);
        store.enqueue(&job).await?;
        enqueue_calls.push(now_micros() - job[0].created_at);
        pooled.push(job[0].id.clone());
        // Let the daemons go idle again between samples.
        tokio::time::sleep(LATENCY_SPACING).await;
    }
    let by_process = enqueue_by_process(&world, LATENCY_SAMPLES).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pooled = start_latencies(store.as_ref(), &pooled).await?;
    let by_process = start_latencies(store.as_ref(), &by_process).await?;
    let commits = testing::commit_times(
        world.db().as_str(),
        2 * LATENCY_SAMPLES,
        LATENCY_SPACING / 2,
    );
    daemons.into_iter().for_each(stop);
    let after_commit = pooled
        .iter()
        .zip(&enqueue_calls)
        .map(|(start, call)| start - call)
        .collect();
    println!(
        "postgres enqueue-to-start latency ({CLUSTER} idle daemons, {LATENCY_SAMPLES} jobs enqueued through a pooled connection): {}",
        percentiles(pooled)
    );
    println!(
        "  of it, the enqueue call (insert and commit): {}; the start after the call returned (negative: before): {}",
        percentiles(enqueue_calls),
        percentiles(after_commit)
    );
    println!(
        "postgres enqueue-to-start latency ({CLUSTER} idle daemons, {LATENCY_SAMPLES} jobs enqueued by a jobhost enqueue process each): {}",
        percentiles(by_process)
    );
    println!(
        "postgres bare commit on this server, the daemons idle, {} over as long as the pooled samples: {}",
        2 * LATENCY_SAMPLES,
        percentiles(commits)
    );
    Ok(())
}

/// A database with [`CLAIM_POOL`] pending jobs and `completed` completed ones, and a
/// store claiming from it.
async fn claim_world(completed: u64) -> anyhow::Result<(BenchWorld, Arc<dyn Store>)> {
    let world = BenchWorld::on_postgres()?;
    let store = world.store().await?;
    store.enqueue(&noop_jobs(CLAIM_POOL)).await?;
    testing::add_completed_jobs(&world.db(), completed);
    Ok((world, store))
}

/// One claim of [`CLAIM_BATCH`] jobs, timed; none when the pool is empty.
async fn timed_claim(store: &dyn Store) -> anyhow::Result<Option<f64>> {
    let params = ClaimParams {
        worker_id: "bench".into(),
        limit: CLAIM_BATCH,
        now: now_micros(),
    };
    let start = Instant::now();
    let claimed = store.claim(&params).await?.jobs.len();
    Ok((claimed > 0).then(|| start.elapsed().as_secs_f64() * 1000.0))
}

/// Claims from a table with no completed rows and from one with [`COMPLETED_ROWS`], one
/// claim from each in turn until both pools are empty (some 200 claims each): a
/// claim's time varies by ±25% from one moment to the next on this machine, so each
/// claim on one table is paired with one on the other, and their medians compared.
async fn claim_cost() -> anyhow::Result<()> {
    let (_empty_world, empty_store) = claim_world(0).await?;
    let (_full_world, full_store) = claim_world(COMPLETED_ROWS).await?;
    // The first claim opens the claiming connection: not part of a claim's cost.
    timed_claim(empty_store.as_ref()).await?;
    timed_claim(full_store.as_ref()).await?;
    let (mut empty, mut full) = (Vec::new(), Vec::new());
    loop {
        let (Some(e), Some(f)) = (
            timed_claim(empty_store.as_ref()).await?,
            timed_claim(full_store.as_ref()).await?,
        ) else {
            break;
        };
        empty.push(e);
        full.push(f);
    }
    let mean = |ms: &[f64]| ms.iter().sum::<f64>() / ms.len() as f64;
    let (empty_mean, full_mean) = (mean(&empty), mean(&full));
    let (empty, full) = (median(&mut empty), median(&mut full));
    println!(
        "postgres claim of {CLAIM_BATCH} jobs (from {CLAIM_POOL} pending, in turns): median {empty:.2} ms with no completed rows, {full:.2} ms with {COMPLETED_ROWS} ({:+.0}%); means {empty_mean:.2} and {full_mean:.2} ms",
        (full / empty - 1.0) * 100.0
    );
    Ok(())
}
