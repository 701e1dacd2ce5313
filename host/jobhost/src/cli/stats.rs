//! `jobhost stats`: counts, rates, and durations and fuel by job type.

use std::process::ExitCode;

use anyhow::{Context, Result};
use jobhost_store::{Store, now_micros};

use super::output::{print_json, span, table};
use crate::ops::monitor;

pub async fn run(store: &dyn Store, json: bool) -> Result<ExitCode> {
    let report = monitor::report(store, now_micros())
        .await
        .context("reading queue stats")?;
    if json {
        print_json(&report)?;
        return Ok(ExitCode::SUCCESS);
    }
    let stats = &report.counts;
    let mut summary = table(&["measure", "value"]);
    let rows: [(&str, String); 14] = [
        ("pending (due)", stats.pending.to_string()),
        ("scheduled (due later)", stats.scheduled.to_string()),
        ("running", stats.running.to_string()),
        ("completed", stats.completed.to_string()),
        ("cancelled", stats.cancelled.to_string()),
        ("waiting (on other jobs)", stats.waiting.to_string()),
        (
            "blocked (a job waited on failed)",
            stats.blocked.to_string(),
        ),
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
            "completed per minute (last hour)",
            format!("{:.1}", report.completed_per_minute),
        ),
        (
            "failure rate (last hour)",
            report
                .failure_rate
                .map_or("-".into(), |r| format!("{:.1}%", r * 100.0)),
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
    if !report.timings.is_empty() {
        println!(
            "attempts in the last hour (up to {} newest)",
            monitor::SAMPLE
        );
        let mut timings = table(&[
            "job type", "attempts", "failed", "p50 ms", "p99 ms", "p50 fuel", "p99 fuel",
        ]);
        for t in &report.timings {
            timings.add_row(vec![
                t.job_type.clone(),
                t.attempts.to_string(),
                t.failed.to_string(),
                format!("{:.1}", t.duration_ms_p50),
                format!("{:.1}", t.duration_ms_p99),
                t.fuel_p50.to_string(),
                t.fuel_p99.to_string(),
            ]);
        }
        println!("{timings}");
    }
    Ok(ExitCode::SUCCESS)
}
