//! `dlq replay ID`, and bulk replay of the rows a filter selects: `--dry-run` shows what
//! would happen, more than [`CONFIRM_ABOVE`] rows need a yes (typed, or `--yes`).

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;
use jobhost_store::{DeadFilter, Store, now_micros};

use super::FilterArgs;
use crate::cli::output::{print_json, table, time};
use crate::cli::progress;
use crate::ops::dlq::{self, CONFIRM_ABOVE, ReplayOptions, Replayed};
use crate::queue::priority;

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The dead letter to replay. Without it, every row the filters select is replayed
    /// (rows replayed before are left out unless `--include-replayed`).
    #[arg(conflicts_with_all = ["job_type", "reason", "since", "until", "reviewed", "unreviewed", "all", "include_replayed"])]
    pub id: Option<String>,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Replay every dead letter (that the filters, if any, select).
    #[arg(long)]
    pub all: bool,
    /// In a bulk replay, take rows that were replayed before too.
    #[arg(long)]
    pub include_replayed: bool,
    /// The new job counts on from the attempts the dead one spent (default: it starts
    /// afresh, with all its attempts).
    #[arg(long)]
    pub keep_attempts: bool,
    /// Attempts the new job gets (default: the dead job's).
    #[arg(long)]
    pub max_attempts: Option<u32>,
    /// Put the new job on this queue instead.
    #[arg(long)]
    pub queue: Option<String>,
    /// Give the new job this priority instead (`high`, `normal`, `low` or a number).
    #[arg(long, value_parser = priority::parse)]
    pub priority: Option<i32>,
    /// Only show what would be replayed.
    #[arg(long)]
    pub dry_run: bool,
    /// Replay a large set without asking.
    #[arg(long, short = 'y')]
    pub yes: bool,
}

impl ReplayArgs {
    fn options(&self) -> ReplayOptions {
        ReplayOptions {
            max_attempts: self.max_attempts,
            queue: self.queue.clone(),
            priority: self.priority,
            keep_attempts: self.keep_attempts,
        }
    }
}

pub async fn run(store: &dyn Store, args: &ReplayArgs, json: bool) -> Result<ExitCode> {
    match &args.id {
        Some(id) => replay_one(store, id, args, json).await,
        None => replay_many(store, args, json).await,
    }
}

async fn replay_one(
    store: &dyn Store,
    id: &str,
    args: &ReplayArgs,
    json: bool,
) -> Result<ExitCode> {
    let Some(dead) = store
        .get_dead(id)
        .await
        .context("reading the dead letter")?
    else {
        bail!("no dead-lettered job with id {id}: `jobhost dlq list` shows the ids");
    };
    let options = args.options();
    if let Some(problem) = dlq::replay_problem(&dead, &options) {
        bail!("cannot replay {id}: {problem}");
    }
    if args.dry_run {
        if json {
            print_json(&serde_json::json!({ "would_replay": [id], "options": options }))?;
        } else {
            println!(
                "would replay {id} ({}, {})",
                dead.job_type,
                dead.reason.as_str()
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let new_id = dlq::replay(store, &dead, &options)
        .await
        .with_context(|| format!("replaying dead letter {id}"))?;
    if json {
        print_json(&serde_json::json!({ "id": new_id, "replayed": id }))?;
    } else {
        println!("{new_id}");
    }
    Ok(ExitCode::SUCCESS)
}

async fn replay_many(store: &dyn Store, args: &ReplayArgs, json: bool) -> Result<ExitCode> {
    if dlq::bulk_problem(args.all, args.filter.narrows()).is_some() {
        bail!(
            "name the dead letter to replay (`jobhost dlq replay ID`), or select rows with \
             --type, --reason, --since, --until or --unreviewed, or pass --all for every row"
        );
    }
    let filter = dlq::bulk_selection(&args.filter.filter(), args.include_replayed, now_micros());
    let count = store
        .count_dead(&filter)
        .await
        .context("counting the dead letters to replay")?;
    if args.dry_run {
        return dry_run(store, &filter, &args.options(), json).await;
    }
    if count == 0 {
        println!("no dead letters match: nothing to replay");
        return Ok(ExitCode::SUCCESS);
    }
    if count > CONFIRM_ABOVE && !args.yes && !confirmed(count)? {
        eprintln!("nothing was replayed");
        return Ok(ExitCode::FAILURE);
    }
    let bar = progress::bar(count, "replayed");
    let mut replayed = Vec::new();
    let mut skipped = Vec::new();
    let options = args.options();
    let result = dlq::replay_all(store, &filter, &options, |row: Replayed| {
        bar.inc(1);
        if row.skipped.is_some() {
            skipped.push(row);
        } else {
            replayed.push(row);
        }
    })
    .await;
    bar.finish_and_clear();
    result.with_context(|| {
        format!(
            "replaying dead letters ({} were replayed before this error; running the same \
             command again takes the rest, as replayed rows are left out)",
            replayed.len()
        )
    })?;
    if json {
        print_json(&serde_json::json!({ "replayed": replayed, "skipped": skipped }))?;
    } else {
        println!("replayed {} dead letters", replayed.len());
        for row in &skipped {
            eprintln!(
                "skipped {}: {}",
                row.dead_id,
                row.skipped.as_deref().unwrap_or_default()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Asks on the terminal; refuses when there is no terminal to ask on.
fn confirmed(count: u64) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!(
            "{count} dead letters match, more than {CONFIRM_ABOVE}: jobhost asks before \
             replaying that many, and standard input is not a terminal to ask on; check \
             them with --dry-run, then add --yes. Nothing was replayed"
        );
    }
    eprint!("replay {count} dead letters? [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

async fn dry_run(
    store: &dyn Store,
    filter: &DeadFilter,
    options: &ReplayOptions,
    json: bool,
) -> Result<ExitCode> {
    let run = dlq::dry_run(store, filter, options)
        .await
        .context("reading dead letters")?;
    let (would_replay, shown, skipped) = (run.would_replay, run.first, run.skipped);
    if json {
        let ids: Vec<&str> = shown.iter().map(|d| d.id.as_str()).collect();
        print_json(&serde_json::json!({
            "would_replay": would_replay,
            "first": ids,
            "skipped": skipped,
            "options": options,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    println!("would replay {would_replay} dead letters (nothing was changed)");
    let mut t = table(&["id", "type", "reason", "failed", "attempts"]);
    for d in &shown {
        t.add_row(vec![
            d.id.clone(),
            d.job_type.clone(),
            d.reason.as_str().to_string(),
            time(d.failed_at),
            format!("{}/{}", d.attempts, d.max_attempts),
        ]);
    }
    if !shown.is_empty() {
        println!("{t}");
    }
    if would_replay > shown.len() as u64 {
        println!("and {} more", would_replay - shown.len() as u64);
    }
    for s in &skipped {
        println!(
            "would skip {}: {}",
            s.dead_id,
            s.skipped.as_deref().unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}
