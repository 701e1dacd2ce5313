//! `jobhost serve`: start-up, the background duties beside the worker pool, and a
//! graceful stop.
//!
//! - `serve.rs`: the order of start-up and shutdown.
//! - `open.rs`: opening the database, and which commands migrate it (and refuse a
//!   schema a newer build wrote).
//! - `liveness.rs`: this daemon's registration, heartbeat, and the rescue of jobs held by
//!   daemons that died.
//! - `maintenance.rs`: purging completed jobs past their retention.
//! - `cron.rs`: firing due cron schedules, once each across daemons.
//! - `plugins.rs`: loading the plugins directory, hot reload, and recording versions
//!   with the flow limits their types declare.
//! - `plugin_schedules.rs`: writing the cron schedules plugins declare.
//! - `wake.rs`: waking the dispatcher when another process writes to the database.
//! - `signal.rs`: SIGINT / SIGTERM.

mod cron;
mod liveness;
mod maintenance;
mod open;
pub(crate) mod plugin_schedules;
mod plugins;
mod serve;
mod signal;
mod wake;

pub use open::{connect, migrate, open_store};
pub use serve::{Daemon, serve};
