//! `jobhost dlq list | show ID | replay ID`.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use jobhost_store::{DeadFilter, DeadReason, ReplayParams, Store, new_job_id, now_micros};

use super::output::{print_json, short, table, time};
use crate::queue::priority;

#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// List dead-lettered jobs, newest first.
    List {
        /// Only jobs of this type.
        #[arg(long = "type")]
        job_type: Option<String>,
        /// Only this reason: max_retries_exceeded, permanent_failure, job_not_found,
        /// invalid_arguments, timeout, out_of_memory, crashed.
        #[arg(long, value_parser = parse_reason)]
        reason: Option<DeadReason>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Everything kept about one dead-lettered job, with every attempt's error.
    Show { id: String },
    /// Enqueue a new job from a dead-lettered one; the row stays as the audit trail.
    Replay {
        id: String,
        /// Attempts the new job gets (default: the dead job's).
        #[arg(long)]
        max_attempts: Option<u32>,
        /// Put the new job on this queue instead.
        #[arg(long)]
        queue: Option<String>,
        /// Give the new job this priority instead.
        #[arg(long, value_parser = priority::parse)]
        priority: Option<i32>,
    },
}

fn parse_reason(text: &str) -> Result<DeadReason, String> {
    DeadReason::parse(text).ok_or_else(|| {
        let all: Vec<&str> = DeadReason::ALL.iter().map(|r| r.as_str()).collect();
        format!("{text:?} is not a reason; one of: {}", all.join(", "))
    })
}

pub async fn run(command: &DlqCommand, store: &dyn Store, json: bool) -> Result<ExitCode> {
    match command {
        DlqCommand::List {
            job_type,
            reason,
            limit,
        } => {
            let filter = DeadFilter {
                job_type: job_type.clone(),
                reason: *reason,
                limit: *limit,
                ..DeadFilter::default()
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
                    d.resurrection_count.to_string(),
                    short(&d.last_error, 60),
                ]);
            }
            println!("{t}");
        }
        DlqCommand::Show { id } => show(store, id, json).await?,
        DlqCommand::Replay {
            id,
            max_attempts,
            queue,
            priority,
        } => {
            if max_attempts == &Some(0) {
                bail!("--max-attempts must be at least 1");
            }
            let params = ReplayParams {
                dead_id: id.clone(),
                new_job_id: new_job_id(),
                now: now_micros(),
                max_attempts: *max_attempts,
                queue: queue.clone(),
                priority: *priority,
                keep_attempts: false,
            };
            store.replay_dead(&params).await.with_context(|| {
                format!("replaying dead letter {id} (`jobhost dlq list` shows the ids)")
            })?;
            if json {
                print_json(&serde_json::json!({ "id": params.new_job_id, "replayed": id }))?;
            } else {
                println!("{}", params.new_job_id);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn show(store: &dyn Store, id: &str, json: bool) -> Result<()> {
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
        return print_json(&serde_json::json!({ "dead_letter": dead, "attempts": attempts }));
    }
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
        (
            "plugin digest",
            dead.plugin_digest.clone().unwrap_or_else(|| "-".into()),
        ),
        ("reviewed", dead.reviewed.to_string()),
        ("notes", dead.notes.clone().unwrap_or_else(|| "-".into())),
        ("replays", dead.resurrection_count.to_string()),
        (
            "replayed as",
            dead.replayed_job_id.clone().unwrap_or_else(|| "-".into()),
        ),
        ("payload", dead.payload.clone()),
        ("last error", dead.last_error.clone()),
    ];
    for (name, value) in rows {
        t.add_row(vec![name.to_string(), value]);
    }
    println!("{t}");
    let mut a = table(&["attempt", "outcome", "started", "fuel", "error"]);
    for attempt in &attempts {
        a.add_row(vec![
            attempt.attempt.to_string(),
            attempt.outcome.clone(),
            time(attempt.started_at),
            attempt.fuel_used.to_string(),
            short(attempt.error.as_deref().unwrap_or(""), 100),
        ]);
    }
    println!("{a}");
    Ok(())
}
