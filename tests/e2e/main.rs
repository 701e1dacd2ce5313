//! End-to-end tests: the real `jobhost` binary, real plugins from `plugins/dist`, a real
//! SQLite database in a temp dir (or a fresh database on the test PostgreSQL server).
//! Run `plugins/build.sh` first.

mod batches;
mod capabilities;
mod crash;
mod dashboard;
mod failures;
mod flow;
mod hot_reload;
mod http_api;
mod languages;
mod limits;
mod operations;
mod pipeline;
mod plugin_check;
mod postgres;
mod scale;
mod scheduling;
mod schema;
mod support;
mod workers;
mod workflows;
