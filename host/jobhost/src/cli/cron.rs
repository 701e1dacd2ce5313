//! `jobhost cron add | list | remove | pause | resume`: schedules kept in the database,
//! fired by whichever daemon gets to each firing first.

use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Subcommand};
use jobhost_store::{CronSchedule, Micros, SCHEDULE_BY_OPERATOR, Store, StoreError, now_micros};

use super::Cli;
use super::enqueue::type_rules;
use super::output::{print_json, table, time, time_opt};
use crate::queue::schedule::{DEFAULT_TIMEZONE, Schedule};
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
            let removed = store
                .remove_schedule(name)
                .await
                .context("removing the schedule")?;
            found(removed, name)?;
            println!("schedule {name} removed");
        }
        CronCommand::Pause { name } => {
            let paused = store
                .set_schedule_paused(name, true, 0)
                .await
                .context("pausing the schedule")?;
            found(paused, name)?;
            println!("schedule {name} paused");
        }
        CronCommand::Resume { name } => resume(store, name).await?,
    }
    Ok(ExitCode::SUCCESS)
}

fn found(found: bool, name: &str) -> Result<()> {
    if !found {
        bail!("no schedule is named {name:?}: `jobhost cron list` shows them");
    }
    Ok(())
}

/// The first firing after now, or why there is none.
fn next_run(expr: &str, timezone: &str) -> Result<Micros> {
    Schedule::parse_in(expr, timezone)
        .map_err(|e| anyhow!("{e}"))?
        .next_after(now_micros())
        .ok_or_else(|| anyhow!("the cron expression {expr:?} never fires"))
}

async fn add(args: &AddArgs, cli: &Cli, store: &dyn Store) -> Result<()> {
    let next_run_at = next_run(&args.expr, &args.timezone)?;
    let rules = type_rules(cli, store, &args.job_type).await?;
    let now = now_micros();
    // The same checks as an enqueue, once, so every firing makes a valid job.
    let request = EnqueueRequest {
        job_type: args.job_type.clone(),
        payload: args.payload.clone().unwrap_or_else(|| "{}".into()),
        priority: args.priority,
        max_attempts: args.max_attempts,
        queue: args.queue.clone(),
        ..EnqueueRequest::default()
    };
    let job = request
        .into_new_job(rules.schema.as_ref(), rules.default_max_attempts, now)
        .map_err(|e| anyhow!("{e}; no schedule was added"))?;
    let schedule = CronSchedule {
        name: args.name.clone(),
        expr: args.expr.clone(),
        timezone: args.timezone.clone(),
        source: SCHEDULE_BY_OPERATOR.to_string(),
        job_type: job.job_type,
        payload: job.payload,
        queue: job.queue,
        priority: job.priority,
        max_attempts: job.max_attempts,
        paused: false,
        next_run_at,
        last_run_at: None,
        created_at: now,
    };
    match store.add_schedule(&schedule).await {
        Err(StoreError::Exists { .. }) => bail!(
            "a schedule named {:?} exists already: remove it first (`jobhost cron remove {}`) \
             or pick another name",
            args.name,
            args.name
        ),
        other => other.context("adding the schedule")?,
    }
    println!(
        "schedule {} added; first run {}",
        args.name,
        time(next_run_at)
    );
    Ok(())
}

async fn resume(store: &dyn Store, name: &str) -> Result<()> {
    let Some(schedule) = store
        .list_schedules()
        .await
        .context("reading the schedules")?
        .into_iter()
        .find(|s| s.name == name)
    else {
        return found(false, name);
    };
    let next_run_at = next_run(&schedule.expr, &schedule.timezone)?;
    let resumed = store
        .set_schedule_paused(name, false, next_run_at)
        .await
        .context("resuming the schedule")?;
    found(resumed, name)?;
    println!("schedule {name} resumed; next run {}", time(next_run_at));
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
