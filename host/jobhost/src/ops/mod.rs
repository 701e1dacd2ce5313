//! The operations an operator runs on a queue — enqueueing, dead-letter administration,
//! the monitoring report and health verdict, retention, the plugins' description —
//! written once, over the `Store` trait, for the CLI and the HTTP API alike. Nothing
//! here prints.
//!
//! - `when.rs`: times and ages as people type them (`2h`, RFC 3339).
//! - `cron.rs`: adding, removing, pausing, resuming cron schedules.
//! - `enqueue.rs`: a job type's rules, unique keys, storing one job.
//! - `jobs.rs`: cancelling a job.
//! - `dlq.rs`: walking dead letters page by page; bulk replay and its dry run; cleanup;
//!   streamed export.
//! - `monitor.rs`: the `stats` report (rates, percentiles by type) and `health`.
//! - `retention.rs`: purging old completed jobs in bounded batches.
//! - `plugins.rs`: loaded plugins and their version history, as JSON.

pub mod cron;
pub mod dlq;
pub mod enqueue;
pub mod jobs;
pub mod limits;
pub mod monitor;
pub mod plugins;
pub mod retention;
pub mod when;
