//! The operations an operator runs on a queue — dead-letter administration, the
//! monitoring report and health verdict, retention — written once, over the `Store`
//! trait, for the CLI now and an HTTP API later. Nothing here prints.
//!
//! - `when.rs`: times and ages as people type them (`2h`, RFC 3339).
//! - `dlq.rs`: walking dead letters page by page; bulk replay; export.
//! - `monitor.rs`: the `stats` report (rates, percentiles by type) and `health`.
//! - `retention.rs`: purging old completed jobs in bounded batches.

pub mod dlq;
pub mod monitor;
pub mod retention;
pub mod when;
