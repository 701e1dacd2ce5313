//! `jobhost workers`: every registered daemon, on whichever host, with when it started,
//! when it last beat its heartbeat, and how many jobs it is running now.

use std::process::ExitCode;

use anyhow::{Context, Result};
use jobhost_store::{Store, now_micros};

use super::output::{print_json, span, table, time};

pub async fn run(store: &dyn Store, json: bool) -> Result<ExitCode> {
    let workers = store
        .worker_loads()
        .await
        .context("listing the registered daemons")?;
    if json {
        print_json(&workers)?;
        return Ok(ExitCode::SUCCESS);
    }
    if workers.is_empty() {
        println!("no daemon is registered");
        return Ok(ExitCode::SUCCESS);
    }
    let now = now_micros();
    let mut out = table(&[
        "worker",
        "host",
        "pid",
        "started",
        "last heartbeat",
        "running jobs",
    ]);
    for w in &workers {
        let info = &w.worker;
        out.add_row(vec![
            info.id.clone(),
            info.host.clone(),
            info.pid.to_string(),
            time(info.started_at),
            format!(
                "{} ({} ago)",
                time(info.heartbeat_at),
                span(now - info.heartbeat_at)
            ),
            w.running.to_string(),
        ]);
    }
    println!("{out}");
    Ok(ExitCode::SUCCESS)
}
