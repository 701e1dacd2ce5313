//! `jobhost queues list`, `jobhost queues pause Q`, `jobhost queues resume Q`.

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;
use jobhost_store::{LimitScope, Store, now_micros};

use super::output::{print_json, table, time_opt};

#[derive(Debug, Subcommand)]
pub enum QueuesCommand {
    /// Every queue with pending or running jobs, and every paused one, with its rate and
    /// concurrency limits (`jobhost limits` sets them).
    List,
    /// Stop every daemon from starting jobs of this queue; enqueueing goes on, and jobs
    /// already running finish.
    Pause { queue: String },
    /// Let daemons start jobs of this queue again.
    Resume { queue: String },
}

pub async fn run(command: &QueuesCommand, store: &dyn Store, json: bool) -> Result<ExitCode> {
    match command {
        QueuesCommand::List => list(store, json).await?,
        QueuesCommand::Pause { queue } => {
            let paused = store
                .pause_queue(queue, now_micros())
                .await
                .context("pausing the queue")?;
            report(json, queue, paused, "paused", "was paused already")?;
        }
        QueuesCommand::Resume { queue } => {
            let resumed = store
                .resume_queue(queue)
                .await
                .context("resuming the queue")?;
            report(json, queue, resumed, "resumed", "was not paused")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Pausing a paused queue (or resuming a running one) changes nothing and is no error.
fn report(json: bool, queue: &str, changed: bool, done: &str, unchanged: &str) -> Result<()> {
    if json {
        return print_json(&serde_json::json!({ "queue": queue, "changed": changed }));
    }
    if changed {
        println!("queue {queue} {done}");
    } else {
        println!("queue {queue} {unchanged}");
    }
    Ok(())
}

async fn list(store: &dyn Store, json: bool) -> Result<()> {
    let queues = store.list_queues().await.context("listing queues")?;
    let limits = store.list_limits().await.context("listing limits")?;
    let limit_of = |queue: &str| {
        limits
            .iter()
            .find(|l| l.scope == LimitScope::Queue && l.name == queue)
    };
    if json {
        let rows: Vec<serde_json::Value> = queues
            .iter()
            .map(|q| {
                let mut row = serde_json::to_value(q).unwrap_or_default();
                let limit = limit_of(&q.queue);
                row["rate_per_minute"] = limit.and_then(|l| l.rate_per_minute).into();
                row["concurrency"] = limit.and_then(|l| l.concurrency).into();
                row
            })
            .collect();
        return print_json(&rows);
    }
    let mut t = table(&[
        "queue",
        "pending",
        "running",
        "paused since",
        "rate",
        "concurrency",
    ]);
    for q in &queues {
        let limit = limit_of(&q.queue);
        t.add_row(vec![
            q.queue.clone(),
            q.pending.to_string(),
            q.running.to_string(),
            time_opt(q.paused_at),
            limit
                .and_then(|l| l.rate_per_minute)
                .map_or_else(|| "-".into(), |r| format!("{r}/m")),
            limit
                .and_then(|l| l.concurrency)
                .map_or_else(|| "-".into(), |k| k.to_string()),
        ]);
    }
    println!("{t}");
    Ok(())
}
