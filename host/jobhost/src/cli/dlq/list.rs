//! `dlq list`, `dlq show ID`, `dlq stats`.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use jobhost_store::{DeadFilter, Store, now_micros};

use super::FilterArgs;
use crate::cli::output::{print_json, short, span, table, time, time_opt};

pub async fn list(
    store: &dyn Store,
    args: &FilterArgs,
    limit: u32,
    json: bool,
) -> Result<ExitCode> {
    let filter = DeadFilter {
        limit,
        ..args.filter()
    };
    let dead = store
        .list_dead(&filter)
        .await
        .context("listing dead letters")?;
    if json {
        print_json(&dead)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = table(&[
        "id",
        "type",
        "reason",
        "attempts",
        "failed",
        "reviewed",
        "replays",
        "last error",
    ]);
    for d in &dead {
        t.add_row(vec![
            d.id.clone(),
            d.job_type.clone(),
            d.reason.as_str().to_string(),
            format!("{}/{}", d.attempts, d.max_attempts),
            time(d.failed_at),
            if d.reviewed { "yes" } else { "no" }.to_string(),
            d.resurrection_count.to_string(),
            short(&d.last_error, 60),
        ]);
    }
    println!("{t}");
    Ok(ExitCode::SUCCESS)
}

pub async fn show(store: &dyn Store, id: &str, json: bool) -> Result<ExitCode> {
    let Some(dead) = store
        .get_dead(id)
        .await
        .context("reading the dead letter")?
    else {
        bail!("no dead-lettered job with id {id}: `jobhost dlq list` shows the ids");
    };
    let attempts = store
        .job_attempts(id)
        .await
        .context("reading the job's attempts")?;
    if json {
        print_json(&serde_json::json!({ "dead_letter": dead, "attempts": attempts }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let mut t = table(&["field", "value"]);
    let rows = [
        ("id", dead.id.clone()),
        ("type", dead.job_type.clone()),
        ("queue", dead.queue.clone()),
        ("priority", dead.priority.to_string()),
        ("reason", dead.reason.as_str().to_string()),
        (
            "attempts",
            format!("{} of {}", dead.attempts, dead.max_attempts),
        ),
        ("created", time(dead.created_at)),
        ("failed", time(dead.failed_at)),
        ("fuel used", dead.fuel_used.to_string()),
        ("plugin digest", or_dash(&dead.plugin_digest)),
        ("parent", or_dash(&dead.parent_id)),
        ("reviewed", dead.reviewed.to_string()),
        ("reviewed at", time_opt(dead.reviewed_at)),
        ("notes", or_dash(&dead.notes)),
        ("replays", dead.resurrection_count.to_string()),
        ("replayed as", or_dash(&dead.replayed_job_id)),
        ("payload", dead.payload.clone()),
        ("last error", dead.last_error.clone()),
    ];
    for (name, value) in rows {
        t.add_row(vec![name.to_string(), value]);
    }
    println!("{t}");
    let mut a = table(&[
        "attempt", "outcome", "started", "took", "fuel", "plugin", "error",
    ]);
    for attempt in &attempts {
        let digest = attempt.plugin_digest.as_deref().unwrap_or("-");
        a.add_row(vec![
            attempt.attempt.to_string(),
            attempt.outcome.clone(),
            time(attempt.started_at),
            span(attempt.finished_at - attempt.started_at),
            attempt.fuel_used.to_string(),
            digest[..12.min(digest.len())].to_string(),
            short(attempt.error.as_deref().unwrap_or(""), 100),
        ]);
    }
    println!("{a}");
    Ok(ExitCode::SUCCESS)
}

pub async fn stats(store: &dyn Store, hours: Option<u32>, json: bool) -> Result<ExitCode> {
    let now = now_micros();
    let filter = DeadFilter {
        since: hours.map(|h| now - i64::from(h) * 3_600_000_000),
        ..DeadFilter::default()
    };
    let stats = store
        .dead_stats(&filter)
        .await
        .context("summing up the dead letters")?;
    let oldest_age = stats.oldest_failed_at.map(|t| now - t);
    if json {
        let mut value = serde_json::to_value(&stats)?;
        value["oldest_age_ms"] = serde_json::json!(oldest_age.map(|a| a / 1000));
        value["hours"] = serde_json::json!(hours);
        print_json(&value)?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(h) = hours {
        println!("dead letters that failed in the last {h} hours");
    }
    let mut t = table(&["measure", "value"]);
    t.add_row(vec!["total".to_string(), stats.total.to_string()]);
    t.add_row(vec!["unreviewed".to_string(), stats.unreviewed.to_string()]);
    t.add_row(vec![
        "oldest".to_string(),
        oldest_age.map_or("-".into(), |a| format!("{} ago", span(a))),
    ]);
    println!("{t}");
    for (title, counts) in [("reason", &stats.by_reason), ("job type", &stats.by_type)] {
        if counts.is_empty() {
            continue;
        }
        let mut t = table(&[title, "dead letters"]);
        for c in counts {
            t.add_row(vec![c.name.clone(), c.count.to_string()]);
        }
        println!("{t}");
    }
    Ok(ExitCode::SUCCESS)
}
