//! `jobhost queues list`, `jobhost queues pause Q`, `jobhost queues resume Q`.

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;
use jobhost_store::{Store, now_micros};

use super::output::{print_json, table, time_opt};

#[derive(Debug, Subcommand)]
pub enum QueuesCommand {
    /// Every queue with pending or running jobs, and every paused one.
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
    if json {
        return print_json(&queues);
    }
    let mut t = table(&["queue", "pending", "running", "paused since"]);
    for q in &queues {
        t.add_row(vec![
            q.queue.clone(),
            q.pending.to_string(),
            q.running.to_string(),
            time_opt(q.paused_at),
        ]);
    }
    println!("{t}");
    Ok(())
}
