//! `jobhost enqueue TYPE [PAYLOAD]`.

use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use jobhost_runtime::{PayloadSchema, Registry, Runtime};
use jobhost_store::{Micros, NewJob, Store, now_micros};

use super::Cli;
use super::output::print_json;
use super::progress;
use crate::ops::enqueue::{self as enqueue_ops, Enqueued, TypeFacts, TypeRules, Uniqueness};
use crate::queue::{EnqueueRequest, enqueue, priority};

#[derive(Debug, Args)]
pub struct EnqueueArgs {
    /// The job type, as a plugin declares it (e.g. `send_email`).
    pub job_type: String,
    /// The payload, a JSON document. Without it, the payload is read from
    /// `--payload-file`, or from standard input when that is not a terminal, or is `{}`.
    pub payload: Option<String>,
    /// Read the payload from this file (`-` for standard input).
    #[arg(long, conflicts_with = "payload")]
    pub payload_file: Option<PathBuf>,
    /// `high`, `normal`, `low`, or a number; higher runs first.
    #[arg(long, default_value = "normal", allow_negative_numbers = true, value_parser = priority::parse)]
    pub priority: i32,
    /// Do not start before this much time has passed (`30s`, `24h`).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub delay: Option<Duration>,
    /// Do not start before this time, RFC 3339 (`2026-11-24T18:00:00Z`,
    /// `2026-11-24T19:00:00+01:00`). A time already past runs as soon as it can.
    #[arg(long, conflicts_with = "delay", value_parser = enqueue::parse_at)]
    pub at: Option<Micros>,
    /// Attempts before the job is dead-lettered (default: the job type's, else 5).
    #[arg(long)]
    pub max_attempts: Option<u32>,
    /// The queue to put the job on.
    #[arg(long)]
    pub queue: Option<String>,
    /// While a job of this type with this key is pending or running, enqueue nothing
    /// and print that job's id instead. Without it, a job type that declares unique-key
    /// fields makes the key of their values in the payload.
    #[arg(long, conflicts_with = "from_file", value_parser = enqueue_ops::parse_unique_key)]
    pub unique_key: Option<String>,
    /// Keep the unique key reserved this long after the job completes (`1h`, `30m`):
    /// enqueueing its key again within that time adds nothing either.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub unique_for: Option<Duration>,
    /// Wait for this job to complete first (repeatable: wait for all of them). The job
    /// is `waiting` until then, and `blocked` if one of them is dead-lettered or
    /// cancelled (replaying that one with `dlq replay` releases it).
    #[arg(long = "after", value_name = "ID", conflicts_with = "unique_key")]
    pub after: Vec<String>,
    /// Enqueue one job per line of this JSON-lines file (each line a payload). Every
    /// line is checked first: a bad one is reported with its number and nothing is
    /// enqueued. Then the jobs are written in transactions of 1,000; prints how many.
    #[arg(long, conflicts_with_all = ["payload", "payload_file"])]
    pub from_file: Option<PathBuf>,
}

fn read_payload(args: &EnqueueArgs) -> Result<String> {
    if let Some(payload) = &args.payload {
        return Ok(payload.clone());
    }
    let from_stdin = match &args.payload_file {
        Some(path) if path.as_os_str() != "-" => {
            return std::fs::read_to_string(path)
                .with_context(|| format!("reading the payload file {}", path.display()));
        }
        Some(_) => true,
        None => !std::io::stdin().is_terminal(),
    };
    let mut payload = String::new();
    if from_stdin {
        std::io::stdin()
            .read_to_string(&mut payload)
            .context("reading the payload from standard input")?;
    }
    Ok(if payload.trim().is_empty() {
        "{}".into()
    } else {
        payload
    })
}

/// The job type's schema and default attempts: as recorded by a daemon that loaded its
/// plugin, else as the plugins directory declares it.
async fn job_type_facts(cli: &Cli, store: &dyn Store, job_type: &str) -> Result<Option<TypeFacts>> {
    if let Some(facts) = enqueue_ops::recorded_facts(store, job_type)
        .await
        .context("looking up the job type")?
    {
        return Ok(Some(facts));
    }
    if !cli.plugins.is_dir() {
        return Ok(None);
    }
    let runtime = Runtime::new(cli.config()?.runtime_config(false))
        .context("starting the WebAssembly runtime to read the plugins")?;
    let registry = Arc::new(Registry::new(runtime, cli.plugins.clone()));
    tokio::task::spawn_blocking({
        let registry = registry.clone();
        move || registry.sync()
    })
    .await?;
    Ok(enqueue_ops::registry_facts(&registry, job_type))
}

/// What a job of this type must satisfy: its payload schema, if known, its default
/// attempts and its default unique key. Warns when no plugin declares the type yet.
pub(super) async fn type_rules(cli: &Cli, store: &dyn Store, job_type: &str) -> Result<TypeRules> {
    let facts = job_type_facts(cli, store, job_type).await?;
    let rules = TypeRules::from_facts(job_type, facts).map_err(anyhow::Error::msg)?;
    if !rules.known {
        eprintln!(
            "warning: no plugin declares job type {job_type:?} yet; the job waits, and is \
             dead-lettered as job_not_found if no plugin handles it when it runs"
        );
    }
    Ok(rules)
}

pub async fn run(args: &EnqueueArgs, cli: &Cli) -> Result<ExitCode> {
    let store = cli.store().await?;
    let rules = type_rules(cli, store.as_ref(), &args.job_type).await?;
    let (schema, default_max_attempts) = (rules.schema.as_ref(), rules.default_max_attempts);
    if let Some(path) = &args.from_file {
        if args.unique_for.is_some() {
            bail!(
                "--unique-for needs a unique key, and --from-file takes none; nothing was enqueued"
            );
        }
        return enqueue_file(
            args,
            path,
            store.as_ref(),
            schema,
            default_max_attempts,
            cli.json,
        )
        .await;
    }
    let request = EnqueueRequest {
        job_type: args.job_type.clone(),
        payload: read_payload(args)?,
        priority: args.priority,
        delay: args.delay,
        at: args.at,
        max_attempts: args.max_attempts,
        queue: args.queue.clone(),
        parent_id: None,
        after: args.after.clone(),
    };
    let job = match request.into_new_job(schema, default_max_attempts, now_micros()) {
        Ok(job) => job,
        Err(e) => bail!("{e}; nothing was enqueued"),
    };
    let key = rules
        .unique_key(&args.job_type, args.unique_key.as_deref(), &job.payload)
        .map_err(anyhow::Error::msg)?;
    let keep_for = args.unique_for.map(|d| d.as_micros() as Micros);
    let unique = Uniqueness::new(&args.job_type, key, keep_for, !job.after.is_empty())
        .map_err(anyhow::Error::msg)?;
    let Enqueued { id, created } = enqueue_ops::store_job(store.as_ref(), &job, &unique)
        .await
        .context("storing the job")?;
    if !created {
        eprintln!(
            "a {} job with this unique key is pending or running, or completed within its \
             --unique-for window: {id}; nothing was enqueued",
            args.job_type
        );
    }
    if cli.json {
        print_json(&serde_json::json!({ "id": id, "created": created }))?;
    } else {
        println!("{id}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `--from-file`: every line a payload. Every line is checked before the first write,
/// so a bad line (reported with its number) leaves nothing enqueued; then the jobs are
/// written [`enqueue_ops::BULK_BATCH`] to a transaction.
async fn enqueue_file(
    args: &EnqueueArgs,
    path: &Path,
    store: &dyn Store,
    schema: Option<&PayloadSchema>,
    default_max_attempts: u32,
    json: bool,
) -> Result<ExitCode> {
    let now = now_micros();
    let mut lines = 0;
    for job in jobs_in(args, path, schema, default_max_attempts, now)? {
        job.map_err(|e| {
            anyhow::anyhow!("{e:#}; nothing was enqueued (every line is checked first)")
        })?;
        lines += 1;
    }
    let bar = progress::bar(lines, "enqueued");
    let jobs = jobs_in(args, path, schema, default_max_attempts, now)?;
    let written = enqueue_ops::store_in_batches(store, jobs, |n| bar.inc(n as u64))
        .await
        .map_err(|e| anyhow::anyhow!("{e:#}"))?;
    bar.finish_and_clear();
    if json {
        print_json(&serde_json::json!({ "enqueued": written }))?;
    } else {
        println!("enqueued {written} jobs");
    }
    Ok(ExitCode::SUCCESS)
}

/// The job of each non-blank line of the file, or what is wrong with the line.
fn jobs_in<'a>(
    args: &'a EnqueueArgs,
    path: &'a Path,
    schema: Option<&'a PayloadSchema>,
    default_max_attempts: u32,
    now: Micros,
) -> Result<impl Iterator<Item = Result<NewJob>> + 'a> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let lines = BufReader::new(file).lines().enumerate();
    Ok(lines.filter_map(move |(index, line)| {
        let line = match line.with_context(|| format!("reading {}", path.display())) {
            Ok(line) if line.trim().is_empty() => return None,
            Ok(line) => line,
            Err(e) => return Some(Err(e)),
        };
        let request = EnqueueRequest {
            job_type: args.job_type.clone(),
            payload: line,
            priority: args.priority,
            delay: args.delay,
            at: args.at,
            max_attempts: args.max_attempts,
            queue: args.queue.clone(),
            parent_id: None,
            after: args.after.clone(),
        };
        Some(
            request
                .into_new_job(schema, default_max_attempts, now)
                .map_err(|e| anyhow::anyhow!("line {} of {}: {e}", index + 1, path.display())),
        )
    }))
}
