//! `jobhost limits set | list | remove`: rate and concurrency limits per job type or
//! per queue, kept in the database, so every daemon on it honours them at once.

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use jobhost_store::{FlowLimit, LimitScope, Store};

use super::output::{print_json, table, time};
use crate::ops::limits::{self as limit_ops, LimitError};
use crate::queue::rate::{Rate, parse_rate};

#[derive(Debug, Subcommand)]
pub enum LimitsCommand {
    /// Limit a job type or a queue: at most N starts a minute (spread evenly) and/or at
    /// most K running at once, across every daemon. Replaces the limit it had, a
    /// plugin's default included. A job held back stays pending and spends no attempt.
    Set(SetArgs),
    /// Every limit, with where it came from (an operator, or a plugin's default).
    List,
    /// Lift the limit of a job type or a queue. A plugin's default comes back the next
    /// time a daemon loads that plugin.
    Remove(Target),
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct Target {
    /// The job type to limit.
    #[arg(long = "type", value_name = "TYPE")]
    pub job_type: Option<String>,
    /// The queue to limit.
    #[arg(long)]
    pub queue: Option<String>,
}

impl Target {
    fn scope_and_name(&self) -> (LimitScope, &str) {
        match (&self.job_type, &self.queue) {
            (Some(t), _) => (LimitScope::Type, t),
            (None, Some(q)) => (LimitScope::Queue, q),
            (None, None) => unreachable!("clap requires one of --type and --queue"),
        }
    }
}

#[derive(Debug, Args)]
pub struct SetArgs {
    #[command(flatten)]
    pub target: Target,
    /// Starts allowed: `120/m` (or `/min`), `2/s`, `600/h` (at least one a minute).
    #[arg(long, value_parser = parse_rate)]
    pub rate: Option<Rate>,
    /// Jobs running at once, at most (1 or more).
    #[arg(long)]
    pub concurrency: Option<u32>,
}

pub async fn run(command: &LimitsCommand, store: &dyn Store, json: bool) -> Result<ExitCode> {
    match command {
        LimitsCommand::Set(args) => set(args, store, json).await?,
        LimitsCommand::List => list(store, json).await?,
        LimitsCommand::Remove(target) => {
            let (scope, name) = target.scope_and_name();
            let removed = store
                .remove_limit(scope, name)
                .await
                .context("removing the limit")?;
            if json {
                print_json(
                    &serde_json::json!({ "scope": scope, "name": name, "removed": removed }),
                )?;
            } else if removed {
                println!("{} {name}: limit removed", scope.as_str());
            } else {
                println!("{} {name} had no limit", scope.as_str());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn set(args: &SetArgs, store: &dyn Store, json: bool) -> Result<()> {
    let (scope, name) = args.target.scope_and_name();
    let limit = limit_ops::set(
        store,
        scope,
        name,
        args.rate.map(|r| r.per_minute),
        args.concurrency,
    )
    .await
    .map_err(|e| match e {
        LimitError::Nothing => anyhow::anyhow!(
            "give --rate, --concurrency or both (to lift a limit: `jobhost limits remove`)"
        ),
        LimitError::ZeroConcurrency => anyhow::anyhow!(
            "--concurrency 0 would never start a job: to stop a queue, `jobhost queues pause`"
        ),
        LimitError::Store(e) => anyhow::Error::new(e).context("setting the limit"),
    })?;

    if json {
        return print_json(&serde_json::json!({
            "scope": scope,
            "name": name,
            "rate_per_minute": limit.rate_per_minute,
            "concurrency": limit.concurrency,
        }));
    }
    println!(
        "{} {name}: {}",
        scope.as_str(),
        describe(&limit.rate_per_minute, &limit.concurrency)
    );
    Ok(())
}

fn describe(rate: &Option<u32>, concurrency: &Option<u32>) -> String {
    let mut parts = Vec::new();
    if let Some(r) = rate {
        parts.push(format!("at most {r} starts a minute"));
    }
    if let Some(k) = concurrency {
        parts.push(format!("at most {k} running at once"));
    }
    parts.join(", ")
}

async fn list(store: &dyn Store, json: bool) -> Result<()> {
    let limits = store.list_limits().await.context("listing limits")?;
    if json {
        return print_json(&limits);
    }
    let mut t = table(&["scope", "name", "rate", "concurrency", "source", "set at"]);
    for l in &limits {
        t.add_row(row(l));
    }
    println!("{t}");
    Ok(())
}

fn row(l: &FlowLimit) -> Vec<String> {
    vec![
        l.scope.as_str().to_string(),
        l.name.clone(),
        l.rate_per_minute
            .map_or_else(|| "-".into(), |r| format!("{r}/m")),
        l.concurrency.map_or_else(|| "-".into(), |k| k.to_string()),
        l.source.as_str().to_string(),
        time(l.updated_at),
    ]
}
