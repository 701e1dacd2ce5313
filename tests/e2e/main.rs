//! End-to-end tests: the real `jobhost` binary, real plugins from `plugins/dist`, a real
//! SQLite database in a temp dir (or a fresh database on the test PostgreSQL server).
//! Run `plugins/build.sh` first.

mod batches;
mod capabilities;
mod crash;
mod failures;
mod flow;
mod hot_reload;
mod languages;
mod operations;
mod pipeline;
mod plugin_check;
mod postgres;
mod support;
mod workflows;
