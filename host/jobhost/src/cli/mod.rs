//! The command line: `jobhost serve` runs the daemon; every other subcommand administers
//! the queue through the store, whether or not a daemon runs. Help texts are the doc
//! comments below.

mod cron;
mod dlq;
mod enqueue;
mod health;
mod jobs;
mod limits;
mod migrate;
mod output;
mod plugins;
mod progress;
mod queues;
mod serve;
mod stats;
mod tree;
mod workers;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;
use clap::{Parser, Subcommand};
use jobhost_store::{Store, Synchronous};

use crate::config::{self, Config};

pub use health::HEALTH_UNKNOWN;

/// A background-job host: WebAssembly job handlers from a plugins directory, run on a
/// persistent queue with retries, timeouts, a memory cap and a dead-letter queue.
#[derive(Debug, Parser)]
#[command(name = "jobhost", version)]
pub struct Cli {
    /// Database URL: `sqlite://FILE` (or a bare file path), or `postgres://USER@HOST/DB`
    /// for several daemons (on several hosts) sharing one queue.
    #[arg(long, global = true, env = "JOBHOST_DB", default_value = config::DEFAULT_DB)]
    pub db: String,
    /// The plugins directory: every `*.wasm` in it is a job handler.
    #[arg(long, global = true, env = "JOBHOST_PLUGINS", default_value = config::DEFAULT_PLUGINS_DIR)]
    pub plugins: PathBuf,
    /// Where compiled plugins are cached.
    #[arg(long, global = true, env = "JOBHOST_CACHE_DIR", default_value = config::DEFAULT_CACHE_DIR)]
    pub cache_dir: PathBuf,
    /// SQLite durability: `normal` (the default) loses nothing on a process crash but may
    /// lose the last commits on a power loss; `full` survives power loss, slower.
    #[arg(
        long,
        global = true,
        env = "JOBHOST_SQLITE_SYNCHRONOUS",
        default_value = "normal"
    )]
    pub sqlite_synchronous: Synchronous,
    /// The most database connections this process keeps open (default: 8 on
    /// PostgreSQL, 4 on SQLite). A daemon on PostgreSQL opens two more, one to listen
    /// for new work and one to claim it; see docs/deployment.md for sizing.
    #[arg(long, global = true, env = "JOBHOST_DB_POOL_SIZE")]
    pub db_pool_size: Option<u32>,
    /// Named secrets plugins may be granted by their manifests (`[capabilities]
    /// secrets`): a TOML file of `NAME = "value"` lines. Values are never logged.
    #[arg(long, global = true, env = "JOBHOST_SECRETS_FILE")]
    pub secrets_file: Option<PathBuf>,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
    /// The store the command opened, closed when the command is done.
    #[arg(skip)]
    opened: OpenedStore,
}

/// The store a command opened: one per command, however many of its parts ask for it.
#[derive(Default)]
struct OpenedStore(tokio::sync::OnceCell<Arc<dyn Store>>);

impl std::fmt::Debug for OpenedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.initialized() {
            "OpenedStore(open)"
        } else {
            "OpenedStore(none)"
        })
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: load the plugins, run jobs, until SIGINT or SIGTERM.
    Serve(serve::ServeArgs),
    /// Enqueue a job; prints its id.
    Enqueue(enqueue::EnqueueArgs),
    /// Inspect jobs; purge old completed ones.
    #[command(subcommand)]
    Jobs(jobs::JobsCommand),
    /// The dead-letter queue: list, show, replay (one or by filter), review, delete,
    /// clean up, export, stats.
    #[command(subcommand)]
    Dlq(dlq::DlqCommand),
    /// Cron schedules: add, list (with next run times), remove, pause, resume.
    #[command(subcommand)]
    Cron(cron::CronCommand),
    /// Rate and concurrency limits per job type or queue: set, list, remove.
    #[command(subcommand)]
    Limits(limits::LimitsCommand),
    /// List queues; pause and resume them.
    #[command(subcommand)]
    Queues(queues::QueuesCommand),
    /// Inspect the plugins.
    #[command(subcommand)]
    Plugins(plugins::PluginsCommand),
    /// Queue counts, rates over the last hour, and durations and fuel by job type.
    Stats,
    /// Healthy, degraded or unhealthy, with the reasons; exit code 0, 1 or 2.
    Health(health::HealthArgs),
    /// List the registered daemons: host, pid, start, last heartbeat, running jobs.
    Workers,
    /// Apply the database migrations this build knows. Other commands migrate only a
    /// fresh database, or a SQLite file; every command refuses a newer schema.
    Migrate,
}

impl Cli {
    /// The configuration the global options describe, secrets left out.
    fn base_config(&self) -> Config {
        Config {
            db_url: self.db.clone(),
            plugins_dir: self.plugins.clone(),
            cache_dir: self.cache_dir.clone(),
            sqlite_synchronous: self.sqlite_synchronous,
            db_pool_size: self.db_pool_size,
            ..Config::default()
        }
    }

    /// The configuration with the secrets file read: for what loads plugins.
    fn config(&self) -> Result<Config> {
        let mut config = self.base_config();
        if let Some(path) = &self.secrets_file {
            config.secrets = config::load_secrets(path)?;
        }
        Ok(config)
    }

    /// The database, opened on the first call (and migrated if fresh).
    async fn store(&self) -> Result<Arc<dyn Store>> {
        let config = self.base_config();
        let store = self
            .opened
            .0
            .get_or_try_init(|| crate::daemon::open_store(&config))
            .await?;
        Ok(store.clone())
    }

    /// Runs the command, then closes the database connections it opened, so that the
    /// server sees each session end rather than break off.
    pub async fn run(self) -> Result<ExitCode> {
        let result = self.run_command().await;
        if let Some(store) = self.opened.0.get() {
            store.close().await;
        }
        result
    }

    async fn run_command(&self) -> Result<ExitCode> {
        match &self.command {
            Command::Serve(args) => serve::run(args, self.config()?).await,
            Command::Enqueue(args) => enqueue::run(args, self).await,
            Command::Jobs(command) => jobs::run(command, &*self.store().await?, self.json).await,
            Command::Dlq(command) => dlq::run(command, &*self.store().await?, self.json).await,
            Command::Cron(command) => cron::run(command, self).await,
            Command::Limits(command) => {
                limits::run(command, &*self.store().await?, self.json).await
            }
            Command::Queues(command) => {
                queues::run(command, &*self.store().await?, self.json).await
            }
            Command::Plugins(command) => plugins::run(command, self).await,
            Command::Stats => stats::run(&*self.store().await?, self.json).await,
            Command::Health(args) => health::run(args, self).await,
            Command::Workers => workers::run(&*self.store().await?, self.json).await,
            Command::Migrate => migrate::run(self).await,
        }
    }
}

/// What is logged without `JOBHOST_LOG`: `info`, except the connection pool's own
/// warnings, which repeat (one per pooled connection) what jobhost says once, in its
/// words, when the database drops connections.
const DEFAULT_LOG_FILTER: &str = "info,sqlx_core::pool=error";

/// Logs go to stderr; `JOBHOST_LOG` sets the filter (default `info`), and
/// `JOBHOST_LOG_FORMAT=json` prints one JSON object per line.
pub fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("JOBHOST_LOG")
        .unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    if std::env::var("JOBHOST_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().init();
    } else {
        builder.init();
    }
}
