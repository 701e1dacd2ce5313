//! jobhost: a background-job host for WebAssembly job handlers. One binary is both the
//! daemon (`jobhost serve`) and the administration CLI.
//!
//! # Layout
//!
//! Data flows one way: the CLI and the daemon build requests with `queue`, the worker
//! pool claims and settles through the store, and attempts run in the runtime.
//!
//! - `cli/`: the subcommands, one file per group (`enqueue`, `jobs`, `dlq/`, `plugins`,
//!   `stats`, `health`, `queues`, `cron`, `workers`, `migrate`), plus `output.rs` for tables and `--json` and `progress.rs` for
//!   progress bars. The CLI works on the database directly, whether or not a daemon runs.
//! - `ops/`: the operator's operations (dead-letter bulk replay and export, the stats
//!   report and health verdict, retention), over the store, printing nothing: the CLI
//!   uses them, and an HTTP API can offer the same.
//! - `api/`: the HTTP admin API (`serve --http`): the same operations as JSON.
//! - `daemon/`: `serve` — opening the database (and who migrates it), start-up, liveness (heartbeat, rescue of dead daemons' jobs),
//!   the plugins directory with hot reload, wake-ups on database changes, retention
//!   maintenance, cron firing, signals.
//! - `worker/`: the pool — dispatcher (claims in batches), executors (threads that run
//!   attempts), settler (writes outcomes in batches), cancels (interrupts the attempts
//!   of cancelled jobs), and the plugins' key-value stores as attempts read them.
//! - `queue/`: the rules — what an outcome does to a job, retry backoff, priorities,
//!   what a valid new job is, and when a cron expression fires.
//! - `config.rs`: every knob, documented once.
//!
//! Beside this crate: `jobhost-runtime` (the only code that touches wasmtime) and
//! `jobhost-store` (the only code with SQL).

pub mod api;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod ops;
pub mod queue;
pub mod worker;

pub use config::Config;
