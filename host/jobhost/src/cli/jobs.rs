//! `jobhost jobs list`, `jobhost jobs show ID` and `jobhost jobs cancel ID`.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use std::time::Duration;

use jobhost_store::{CancelOutcome, JobFilter, JobRef, JobStatus, Store, now_micros};

use super::output::{print_json, short, span, table, time, time_opt};
use crate::ops::when::parse_age;
use crate::ops::{jobs, retention};

#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// List jobs, newest first.
    List {
        /// Only jobs in this state: pending, running, completed, cancelled, waiting
        /// (on jobs named by `--after`), blocked (one of those failed).
        #[arg(long, value_parser = jobs::parse_status)]
        status: Option<JobStatus>,
        /// Only jobs of this type.
        #[arg(long = "type")]
        job_type: Option<String>,
        /// Only jobs on this queue.
        #[arg(long)]
        queue: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Everything about one job: state, attempts with their errors, result, fuel used,
    /// and its workflow tree (parent, follow-ups, what it waits on, what waits on it).
    Show { id: String },
    /// Delete completed jobs (and their attempts) that finished longer ago than an age;
    /// the daemon does the same hourly for `serve --retain-completed`.
    Purge {
        /// `7d`, `12h`, …
        #[arg(long, value_parser = parse_age)]
        older_than: Duration,
        /// Only say how many would go.
        #[arg(long)]
        dry_run: bool,
    },
    /// Cancel a job: a pending (or waiting, or blocked) one at once; a running one is
    /// interrupted by its daemon within a poll interval and recorded as cancelled (not
    /// retried, not dead-lettered). Jobs waiting on it become blocked.
    Cancel { id: String },
}

async fn cancel(store: &dyn Store, id: &str, json: bool) -> Result<()> {
    let outcome = jobs::cancel(store, id).await?;
    if json {
        print_json(&serde_json::json!({ "id": id, "outcome": outcome }))?;
    } else if outcome == CancelOutcome::Cancelled {
        println!("cancelled {id}");
    } else {
        println!("{id} is running: its daemon will interrupt it and record it as cancelled");
    }
    Ok(())
}

pub async fn run(command: &JobsCommand, store: &dyn Store, json: bool) -> Result<ExitCode> {
    match command {
        JobsCommand::List {
            status,
            job_type,
            queue,
            limit,
        } => {
            let filter = JobFilter {
                status: *status,
                job_type: job_type.clone(),
                queue: queue.clone(),
                limit: *limit,
            };
            let jobs = store.list_jobs(&filter).await.context("listing jobs")?;
            if json {
                print_json(&jobs)?;
                return Ok(ExitCode::SUCCESS);
            }
            let mut t = table(&[
                "id",
                "type",
                "queue",
                "status",
                "attempt",
                "priority",
                "created",
                "last error",
            ]);
            for job in &jobs {
                t.add_row(vec![
                    job.id.clone(),
                    job.job_type.clone(),
                    job.queue.clone(),
                    job.status.as_str().to_string(),
                    format!("{}/{}", job.attempt, job.max_attempts),
                    job.priority.to_string(),
                    time(job.created_at),
                    short(job.last_error.as_deref().unwrap_or(""), 50),
                ]);
            }
            println!("{t}");
        }
        JobsCommand::Show { id } => show(store, id, json).await?,
        JobsCommand::Purge {
            older_than,
            dry_run,
        } => purge(store, *older_than, *dry_run, json).await?,
        JobsCommand::Cancel { id } => cancel(store, id, json).await?,
    }
    Ok(ExitCode::SUCCESS)
}

async fn show(store: &dyn Store, id: &str, json: bool) -> Result<()> {
    let Some(job) = store.get_job(id).await.context("reading the job")? else {
        if store
            .get_dead(id)
            .await
            .context("reading the dead-letter table")?
            .is_some()
        {
            bail!("job {id} is dead-lettered: see `jobhost dlq show {id}`");
        }
        bail!("no job with id {id}: `jobhost jobs list` shows the ids");
    };
    let attempts = store
        .job_attempts(id)
        .await
        .context("reading the job's attempts")?;
    let links = store
        .job_links(id)
        .await
        .context("reading the job's workflow")?;
    if json {
        return print_json(
            &serde_json::json!({ "job": job, "attempts": attempts, "links": links }),
        );
    }
    let mut t = table(&["field", "value"]);
    let rows = [
        ("id", job.id.clone()),
        ("type", job.job_type.clone()),
        ("queue", job.queue.clone()),
        ("status", job.status.as_str().to_string()),
        ("priority", job.priority.to_string()),
        (
            "attempt",
            format!("{} of {}", job.attempt, job.max_attempts),
        ),
        ("created", time(job.created_at)),
        ("run at", time(job.run_at)),
        ("started", time_opt(job.started_at)),
        ("finished", time_opt(job.finished_at)),
        ("fuel used", job.fuel_used.to_string()),
        (
            "plugin digest",
            job.plugin_digest.clone().unwrap_or_else(|| "-".into()),
        ),
        (
            "parent",
            job.parent_id.clone().unwrap_or_else(|| "-".into()),
        ),
        ("payload", job.payload.clone()),
        ("result", job.result.clone().unwrap_or_else(|| "-".into())),
        (
            "last error",
            job.last_error.clone().unwrap_or_else(|| "-".into()),
        ),
    ];
    for (name, value) in rows {
        t.add_row(vec![name.to_string(), value]);
    }
    println!("{t}");
    if !attempts.is_empty() {
        let mut a = table(&["attempt", "outcome", "started", "took", "fuel", "error"]);
        for attempt in &attempts {
            a.add_row(vec![
                attempt.attempt.to_string(),
                attempt.outcome.clone(),
                time(attempt.started_at),
                span(attempt.finished_at - attempt.started_at),
                attempt.fuel_used.to_string(),
                short(attempt.error.as_deref().unwrap_or(""), 80),
            ]);
        }
        println!("{a}");
    }
    let this = JobRef {
        id: job.id.clone(),
        job_type: job.job_type.clone(),
        status: job.status.as_str().to_string(),
    };
    if let Some(tree) = super::tree::draw(&this, &links) {
        print!("{tree}");
    }
    Ok(())
}

async fn purge(store: &dyn Store, older_than: Duration, dry_run: bool, json: bool) -> Result<()> {
    let now = now_micros();
    let count = if dry_run {
        retention::count_completed(store, older_than, now).await
    } else {
        retention::purge_completed(store, older_than, now).await
    }
    .context("purging completed jobs")?;
    let age = humantime::format_duration(older_than);
    if json {
        print_json(&serde_json::json!({ "deleted": count, "dry_run": dry_run }))?;
    } else if dry_run {
        println!("would delete {count} completed jobs that finished more than {age} ago");
    } else {
        println!("deleted {count} completed jobs that finished more than {age} ago");
    }
    Ok(())
}
