//! `jobhost dlq …`: the dead-letter queue. Every operation is one in `crate::ops::dlq`
//! or one store call, so an HTTP API can offer the same.
//!
//! - `list.rs`: `list`, `show`, `stats`.
//! - `replay.rs`: `replay ID`, and bulk replay by filter with a dry run and a prompt.
//! - `manage.rs`: `review`, `delete`, `cleanup`.
//! - `export.rs`: `export`, streamed.

mod export;
mod list;
mod manage;
mod replay;

use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand};
use jobhost_store::{DeadFilter, DeadReason, Micros, Store};

use crate::ops::dlq;
use crate::ops::when::parse_moment;

#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// List dead-lettered jobs, newest first.
    List {
        #[command(flatten)]
        filter: FilterArgs,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Everything kept about one dead-lettered job, with every attempt's error.
    Show { id: String },
    /// Enqueue a new job from a dead-lettered one (or from every row a filter selects);
    /// the row stays as the audit trail, counting its replays.
    Replay(replay::ReplayArgs),
    /// Mark a dead-lettered job reviewed, with a note.
    Review {
        id: String,
        /// What was found or done (replaces an earlier note).
        #[arg(long)]
        note: Option<String>,
    },
    /// Delete a dead-lettered job and its attempts for good.
    Delete { id: String },
    /// Delete the dead-lettered jobs that failed more than N days ago.
    Cleanup {
        /// Rows older than this many days go.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        days: u32,
        /// Only say how many would go.
        #[arg(long)]
        dry_run: bool,
    },
    /// Write dead-lettered jobs out, newest first, streaming: JSON lines (one object
    /// per line, as `dlq show --json` prints the row) or CSV with a header line.
    Export(export::ExportArgs),
    /// Totals: all, unreviewed, by reason, by type, the oldest one's age.
    Stats {
        /// Only the rows that failed in the last N hours.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        hours: Option<u32>,
    },
}

/// The filters `list`, bulk `replay` and `export` share.
#[derive(Debug, Clone, Default, Args)]
pub struct FilterArgs {
    /// Only jobs of this type.
    #[arg(long = "type")]
    pub job_type: Option<String>,
    /// Only this reason: max_retries_exceeded, permanent_failure, job_not_found,
    /// invalid_arguments, timeout, out_of_memory, crashed.
    #[arg(long, value_parser = dlq::parse_reason)]
    pub reason: Option<DeadReason>,
    /// Only jobs that failed at or after this: an age (`2h`, `7d`: that long ago) or an
    /// RFC 3339 time (`2026-11-24T18:00:00Z`).
    #[arg(long, value_parser = parse_moment, value_name = "WHEN")]
    pub since: Option<Micros>,
    /// Only jobs that failed before this (an age or an RFC 3339 time).
    #[arg(long, value_parser = parse_moment, value_name = "WHEN")]
    pub until: Option<Micros>,
    /// Only rows marked reviewed.
    #[arg(long, conflicts_with = "unreviewed")]
    pub reviewed: bool,
    /// Only rows not yet reviewed.
    #[arg(long)]
    pub unreviewed: bool,
}

impl FilterArgs {
    pub fn filter(&self) -> DeadFilter {
        DeadFilter {
            job_type: self.job_type.clone(),
            reason: self.reason,
            reviewed: match (self.reviewed, self.unreviewed) {
                (true, _) => Some(true),
                (_, true) => Some(false),
                _ => None,
            },
            since: self.since,
            until: self.until,
            ..DeadFilter::default()
        }
    }

    /// Whether any filter was given (a bulk replay needs one, or `--all`).
    pub fn narrows(&self) -> bool {
        self.job_type.is_some()
            || self.reason.is_some()
            || self.since.is_some()
            || self.until.is_some()
            || self.reviewed
            || self.unreviewed
    }
}

pub async fn run(command: &DlqCommand, store: &dyn Store, json: bool) -> Result<ExitCode> {
    match command {
        DlqCommand::List { filter, limit } => list::list(store, filter, *limit, json).await,
        DlqCommand::Show { id } => list::show(store, id, json).await,
        DlqCommand::Replay(args) => replay::run(store, args, json).await,
        DlqCommand::Review { id, note } => manage::review(store, id, note.clone(), json).await,
        DlqCommand::Delete { id } => manage::delete(store, id, json).await,
        DlqCommand::Cleanup { days, dry_run } => {
            manage::cleanup(store, *days, *dry_run, json).await
        }
        DlqCommand::Export(args) => export::run(store, args).await,
        DlqCommand::Stats { hours } => list::stats(store, *hours, json).await,
    }
}
