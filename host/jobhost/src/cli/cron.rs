//! `jobhost cron add | list | remove | pause | resume`: schedules kept in the database,
//! fired by whichever daemon gets to each firing first.

use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use clap::{Args, Subcommand};
use jobhost_store::Store;

use super::Cli;
use super::enqueue::type_rules;
use super::output::{print_json, table, time, time_opt};
use crate::ops::cron::{self, CronError};
use crate::queue::schedule::DEFAULT_TIMEZONE;
use crate::queue::{EnqueueRequest, priority};

#[derive(Debug, Subcommand)]
pub enum CronCommand {
    /// Add a schedule: enqueue a job of TYPE at every time EXPR names (in UTC, or the
    /// time zone `--tz` names).
    Add(AddArgs),
    /// Every schedule with its next run, time zone and source (an operator's, or a
    /// plugin's).
    List,
    /// Remove a schedule (the jobs it enqueued stay).
    Remove { name: String },
    /// Stop a schedule firing until it is resumed.
    Pause { name: String },
    /// Let a paused schedule fire again, from its next time after now.
    Resume { name: String },
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// The schedule's name, unique.
    pub name: String,
    /// A cron expression: 5 fields (minute hour day-of-month month day-of-week, e.g.
    /// "0 3 * * *"), or 6 with seconds first (e.g. "*/10 * * * * *").
    pub expr: String,
    /// The job type to enqueue.
    pub job_type: String,
    /// The payload of every job, a JSON document (default `{}`).
    pub payload: Option<String>,
    /// `high`, `normal`, `low`, or a number; higher runs first.
    #[arg(long, default_value = "normal", allow_negative_numbers = true, value_parser = priority::parse)]
    pub priority: i32,
    /// Attempts before a job is dead-lettered (default: the job type's, else 5).
    #[arg(long)]
    pub max_attempts: Option<u32>,
    /// The queue to put the jobs on.
    #[arg(long)]
    pub queue: Option<String>,
    /// The IANA time zone the expression is read in, e.g. `Europe/Paris`: it keeps its
    /// wall-clock time across daylight-saving changes.
    #[arg(long = "tz", value_name = "ZONE", default_value = DEFAULT_TIMEZONE)]
    pub timezone: String,
}

pub async fn run(command: &CronCommand, cli: &Cli) -> Result<ExitCode> {
    let store = cli.store().await?;
    let store = store.as_ref();
    match command {
        CronCommand::Add(args) => add(args, cli, store).await?,
        CronCommand::List => list(store, cli.json).await?,
        CronCommand::Remove { name } => {
            cron::remove(store, name).await?;
            println!("schedule {name} removed");
        }
        CronCommand::Pause { name } => {
            cron::pause(store, name).await?;
            println!("schedule {name} paused");
        }
        CronCommand::Resume { name } => {
            let next_run_at = cron::resume(store, name).await?;
            println!("schedule {name} resumed; next run {}", time(next_run_at));
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn add(args: &AddArgs, cli: &Cli, store: &dyn Store) -> Result<()> {
    // The expression first: a bad one needs no plugin loaded to be refused.
    cron::next_run(&args.expr, &args.timezone)?;
    let rules = type_rules(cli, store, &args.job_type).await?;
    let request = EnqueueRequest {
        job_type: args.job_type.clone(),
        payload: args.payload.clone().unwrap_or_else(|| "{}".into()),
        priority: args.priority,
        max_attempts: args.max_attempts,
        queue: args.queue.clone(),
        ..EnqueueRequest::default()
    };
    let schedule = cron::add(
        store,
        &args.name,
        &args.expr,
        &args.timezone,
        request,
        &rules,
    )
    .await
    .map_err(|e| match e {
        CronError::Exists(_) => anyhow!("{e} (`jobhost cron remove {}`)", args.name),
        other => anyhow!(other),
    })?;
    println!(
        "schedule {} added; first run {}",
        args.name,
        time(schedule.next_run_at)
    );
    Ok(())
}

async fn list(store: &dyn Store, json: bool) -> Result<()> {
    let schedules = store
        .list_schedules()
        .await
        .context("listing the schedules")?;
    if json {
        return print_json(&schedules);
    }
    let mut t = table(&[
        "name", "expr", "zone", "type", "queue", "next run", "last run", "paused", "source",
    ]);
    for s in &schedules {
        t.add_row(vec![
            s.name.clone(),
            s.expr.clone(),
            s.timezone.clone(),
            s.job_type.clone(),
            s.queue.clone(),
            time(s.next_run_at),
            time_opt(s.last_run_at),
            if s.paused { "yes" } else { "" }.to_string(),
            s.source.clone(),
        ]);
    }
    println!("{t}");
    Ok(())
}
