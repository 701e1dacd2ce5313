//! `jobhost stats`.

use std::process::ExitCode;

use anyhow::{Context, Result};
use jobhost_store::{Store, now_micros};

use super::output::{print_json, span, table};

pub async fn run(store: &dyn Store, json: bool) -> Result<ExitCode> {
    let stats = store
        .stats(now_micros())
        .await
        .context("reading queue stats")?;
    if json {
        print_json(&stats)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut summary = table(&["measure", "value"]);
    let rows: [(&str, String); 10] = [
        ("pending (due)", stats.pending.to_string()),
        ("scheduled", stats.scheduled.to_string()),
        ("running", stats.running.to_string()),
        ("completed", stats.completed.to_string()),
        ("cancelled", stats.cancelled.to_string()),
        ("dead letters", stats.dead.to_string()),
        ("dead letters unreviewed", stats.dead_unreviewed.to_string()),
        (
            "completed in the last hour",
            stats.completed_last_hour.to_string(),
        ),
        (
            "failed attempts in the last hour",
            stats.failed_last_hour.to_string(),
        ),
        (
            "oldest pending job waiting",
            stats.oldest_pending_age.map_or("-".into(), span),
        ),
    ];
    for (name, value) in rows {
        summary.add_row(vec![name.to_string(), value]);
    }
    println!("{summary}");
    if !stats.by_type.is_empty() {
        let mut by_type = table(&["job type", "pending", "running", "completed", "dead"]);
        for t in &stats.by_type {
            by_type.add_row(vec![
                t.job_type.clone(),
                t.pending.to_string(),
                t.running.to_string(),
                t.completed.to_string(),
                t.dead.to_string(),
            ]);
        }
        println!("{by_type}");
    }
    Ok(ExitCode::SUCCESS)
}
