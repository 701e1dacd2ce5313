//! Every knob of the daemon, documented once, here. The CLI fills a [`Config`] from
//! flags and environment variables; tests build one from `Config::default()`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use jobhost_runtime::{Limits, RuntimeConfig, Secrets};
use jobhost_store::Synchronous;

use crate::api::HttpConfig;

/// The database used when neither `--db` nor `JOBHOST_DB` names one.
pub const DEFAULT_DB: &str = "sqlite://jobhost.db";
/// The plugins directory used when neither `--plugins` nor `JOBHOST_PLUGINS` names one.
pub const DEFAULT_PLUGINS_DIR: &str = "plugins";
/// Where compiled plugins are cached, keyed by content digest and engine version.
pub const DEFAULT_CACHE_DIR: &str = ".jobhost/cache";
/// Attempts a job gets when neither its enqueue nor its job type says.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;

#[derive(Debug, Clone)]
pub struct Config {
    pub db_url: String,
    pub plugins_dir: PathBuf,
    pub cache_dir: PathBuf,
    /// Attempts that run at once (one thread each). Handlers are CPU-bound WebAssembly,
    /// so the default is the number of cores.
    pub concurrency: usize,
    /// The most jobs claimed in one statement; at most twice as many wait claimed
    /// beside the running ones (`worker/pace.rs` says how many do). Batching claims (and
    /// completions) is what makes throughput.
    pub claim_batch: u32,
    /// First retry delay; each later one doubles, up to `backoff_cap`, with jitter.
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// How long running attempts may finish after SIGINT/SIGTERM before they are
    /// interrupted and put back.
    pub shutdown_grace: Duration,
    /// How often the daemon looks for due jobs when nothing woke it (delayed jobs
    /// becoming due, and a fallback for missed wake-ups).
    pub poll_interval: Duration,
    /// How often the daemon tells the database it is alive.
    pub heartbeat_interval: Duration,
    /// A daemon silent for this long is taken for dead and its jobs are rescued.
    pub stale_after: Duration,
    /// Limits of an attempt whose job type and manifest say nothing.
    pub default_limits: Limits,
    pub sqlite_synchronous: Synchronous,
    /// The most database connections this process pools (`--db-pool-size`); `None`
    /// takes the backend's default (PostgreSQL 8, SQLite 4). A daemon on PostgreSQL
    /// also holds one more, outside the pool, to listen for new work.
    pub db_pool_size: Option<u32>,
    /// Named secrets a plugin's manifest may grant it (`--secrets-file`).
    pub secrets: Secrets,
    /// Completed jobs older than this are deleted by the maintenance task; `None` keeps
    /// them all.
    pub retain_completed: Option<Duration>,
    /// How often the maintenance task runs (the first time at start).
    pub maintenance_interval: Duration,
    /// The HTTP admin API, if it is to be served.
    pub http: Option<HttpConfig>,
}

impl Default for Config {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Config {
            db_url: DEFAULT_DB.into(),
            plugins_dir: DEFAULT_PLUGINS_DIR.into(),
            cache_dir: DEFAULT_CACHE_DIR.into(),
            concurrency: cores,
            claim_batch: 1000,
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(3600),
            shutdown_grace: Duration::from_secs(10),
            poll_interval: Duration::from_millis(500),
            heartbeat_interval: Duration::from_secs(5),
            stale_after: Duration::from_secs(30),
            default_limits: Limits::default(),
            sqlite_synchronous: Synchronous::default(),
            db_pool_size: None,
            secrets: Secrets::default(),
            retain_completed: Some(Duration::from_secs(7 * 24 * 3600)),
            maintenance_interval: Duration::from_secs(3600),
            http: None,
        }
    }
}

/// Reads a secrets file: a TOML table of `NAME = "value"` lines.
pub fn load_secrets(path: &Path) -> Result<Secrets> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the secrets file {}", path.display()))?;
    let values: HashMap<String, String> = toml::from_str(&text).with_context(|| {
        format!(
            "the secrets file {} must hold NAME = \"value\" lines",
            path.display()
        )
    })?;
    Ok(Secrets::new(values))
}

impl Config {
    /// The sandbox settings for a daemon, or (`pooling: false`) for a CLI command that
    /// loads plugins once and exits.
    pub fn runtime_config(&self, pooling: bool) -> RuntimeConfig {
        RuntimeConfig {
            cache_dir: Some(self.cache_dir.clone()),
            default_limits: self.default_limits,
            max_instances: (self.concurrency as u32 + 8).max(16),
            pooling,
            secrets: self.secrets.clone(),
        }
    }

    pub fn validate(&self) -> Result<()> {
        if self.concurrency == 0 {
            bail!("concurrency must be at least 1");
        }
        if self.db_pool_size == Some(0) {
            bail!("the database pool needs at least 1 connection");
        }
        if self.claim_batch == 0 {
            bail!("claim batch must be at least 1");
        }
        if self.backoff_base.is_zero() || self.backoff_cap < self.backoff_base {
            bail!("backoff base must be positive and not above the backoff cap");
        }
        if self.stale_after <= self.heartbeat_interval * 2 {
            bail!(
                "stale-after ({:?}) must be more than twice the heartbeat interval ({:?}), \
                 or live daemons would be taken for dead",
                self.stale_after,
                self.heartbeat_interval
            );
        }
        if self.default_limits.fuel == 0 || self.default_limits.timeout.is_zero() {
            bail!("default fuel and timeout must be positive");
        }
        if self.maintenance_interval.is_zero() || self.retain_completed.is_some_and(|r| r.is_zero())
        {
            bail!("the maintenance interval and the retention of completed jobs must be positive");
        }
        if let Some(http) = &self.http {
            http.validate()?;
        }
        if self.default_limits.memory_mib == 0 {
            bail!("default memory cap must be positive");
        }
        Ok(())
    }
}
