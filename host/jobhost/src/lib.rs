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
//! - `ops/`: the operator's operations (enqueue rules, dead-letter bulk replay, cleanup
//!   and export, the stats report and health verdict, retention, plugins), over the
//!   store, printing nothing: the CLI and the HTTP API both call them.
//! - `api/`: the HTTP admin API (`serve --http`): the same operations as JSON, the
//!   Prometheus metrics, and the live dashboard page.
//! - `daemon/`: `serve` — opening the database (and who migrates it), start-up,
//!   liveness (heartbeat, rescue of dead daemons' jobs),
//!   the plugins directory with hot reload, wake-ups on database changes, retention
//!   maintenance, cron firing, signals.
//! - `worker/`: the pool — dispatcher (claims in batches), executors (threads that run
//!   attempts), settler (writes outcomes in batches), cancels (interrupts the attempts
//!   of cancelled jobs), and the plugins' key-value stores as attempts read them.
//! - `queue/`: the rules — what an outcome does to a job, retry backoff, priorities,
//!   what a valid new job is, and when a cron expression fires.
//! - `metrics.rs`: the Prometheus metrics of `/metrics`, counted where attempts finish.
//! - `config.rs`: every knob, documented once.
//!
//! Beside this crate: `jobhost-runtime` (the only code that touches wasmtime) and
//! `jobhost-store` (the only code with SQL).

// The OpenAPI document (`api/openapi.rs`) is one `json!` literal, deeper than the default.
#![recursion_limit = "512"]

pub mod api;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod metrics;
pub mod ops;
pub mod queue;
pub mod worker;

pub use config::Config;
