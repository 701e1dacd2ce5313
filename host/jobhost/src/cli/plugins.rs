//! `jobhost plugins list`: what the plugins directory holds, as the daemon would load it,
//! and every version daemons have loaded from it (the history in the database).
//! `jobhost plugins check FILE`: what one component declares and needs, before deploying.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Subcommand;
use jobhost_runtime::{Inspection, Plugin, Registry, RegistryEvent, Runtime};
use jobhost_store::{CronSchedule, now_micros};
use serde_json::json;

use super::Cli;
use super::output::{print_json, short, table, time};
use crate::daemon::plugin_schedules::schedule_row;
use crate::ops::plugins::{self as plugin_ops, Version};

#[derive(Debug, Subcommand)]
pub enum PluginsCommand {
    /// Load every `*.wasm` in the plugins directory and show what each declares, then
    /// every version a daemon ever loaded, when it served and when it was retired.
    /// Rolling back is copying the old file back.
    List,
    /// Check a component before deploying it: what `describe` declares (job types,
    /// payload schemas, limits), the imports it needs, its size and compile time. Exits
    /// non-zero, saying why, when this host could not run it.
    Check {
        /// The `.wasm` file (its `NAME.toml` manifest beside it is checked too).
        file: PathBuf,
    },
}

pub async fn run(command: &PluginsCommand, cli: &Cli) -> Result<ExitCode> {
    match command {
        PluginsCommand::List => list(cli).await,
        PluginsCommand::Check { file } => check(cli, file).await,
    }
}

fn runtime(cli: &Cli) -> Result<Runtime> {
    Runtime::new(cli.config()?.runtime_config(false)).context("starting the WebAssembly runtime")
}

async fn list(cli: &Cli) -> Result<ExitCode> {
    let runtime = runtime(cli)?;
    let registry = Arc::new(Registry::new(runtime, cli.plugins.clone()));
    let events = tokio::task::spawn_blocking({
        let registry = registry.clone();
        move || registry.sync()
    })
    .await?;
    let failures: Vec<(String, String)> = events
        .into_iter()
        .filter_map(|e| match e {
            RegistryEvent::Failed {
                file_name, error, ..
            } => Some((file_name, error)),
            _ => None,
        })
        .collect();
    let mut plugins = registry.plugins();
    plugins.sort_by(|a, b| a.file_name().cmp(b.file_name()));
    let records = cli.store().await?.list_plugins().await?;
    let history = plugin_ops::versions(&records);

    if cli.json {
        let loaded: Vec<_> = plugins.iter().map(plugin_ops::loaded_json).collect();
        let failed: Vec<_> = failures
            .iter()
            .map(|(file, error)| json!({ "file": file, "error": error }))
            .collect();
        print_json(&json!({ "loaded": loaded, "failed": failed, "history": history }))?;
    } else {
        let mut t = table(&["file", "plugin", "version", "job types", "digest", "size"]);
        for p in &plugins {
            let types: Vec<&str> = p.job_types().iter().map(|t| t.name.as_str()).collect();
            t.add_row(vec![
                p.file_name().to_string(),
                p.name().to_string(),
                p.version().to_string(),
                types.join(", "),
                p.digest()[..12].to_string(),
                format!("{} KiB", p.size_bytes() / 1024),
            ]);
        }
        println!("{t}");
        for (file, error) in &failures {
            eprintln!("not loadable: {file}: {error}");
        }
        print_history(&history);
    }
    Ok(if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn check(cli: &Cli, file: &std::path::Path) -> Result<ExitCode> {
    let runtime = runtime(cli)?;
    let file = file.to_path_buf();
    let inspection = tokio::task::spawn_blocking(move || runtime.inspect_file(&file)).await??;
    if cli.json {
        print_check_json(&inspection)?;
    } else {
        print_check(&inspection);
    }
    Ok(match &inspection.loaded {
        Ok(plugin) if schedule_problems(plugin).is_empty() => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    })
}

/// The declared schedules as the daemon would write them, or why it would leave each
/// out.
fn checked_schedules(plugin: &Plugin) -> Vec<(String, Result<CronSchedule, String>)> {
    let now = now_micros();
    plugin
        .schedules()
        .iter()
        .map(|s| (s.name.clone(), schedule_row(plugin, s, now)))
        .collect()
}

fn schedule_problems(plugin: &Plugin) -> Vec<String> {
    checked_schedules(plugin)
        .into_iter()
        .filter_map(|(name, row)| row.err().map(|e| format!("schedule {name}: {e}")))
        .collect()
}

fn schedules_json(plugin: &Plugin) -> Vec<serde_json::Value> {
    checked_schedules(plugin)
        .into_iter()
        .map(|(name, row)| match row {
            Ok(s) => json!({
                "name": name, "expression": s.expr, "timezone": s.timezone,
                "job_type": s.job_type, "payload": s.payload, "next_run_at": s.next_run_at,
            }),
            Err(e) => json!({ "name": name, "error": e }),
        })
        .collect()
}

fn print_schedules(plugin: &Plugin) {
    let checked = checked_schedules(plugin);
    if checked.is_empty() {
        println!("schedules: none");
        return;
    }
    let mut t = table(&[
        "schedule",
        "expr",
        "zone",
        "job type",
        "payload",
        "first run",
    ]);
    for (name, row) in &checked {
        match row {
            Ok(s) => t.add_row(vec![
                name.clone(),
                s.expr.clone(),
                s.timezone.clone(),
                s.job_type.clone(),
                short(&s.payload, 40),
                time(s.next_run_at),
            ]),
            Err(e) => t.add_row(vec![name.clone(), format!("refused: {e}")]),
        };
    }
    println!("schedules (written to the database by the daemon that loads it):\n{t}");
}

fn print_check_json(i: &Inspection) -> Result<()> {
    let (plugin, error) = match &i.loaded {
        Ok(p) => (
            Some(json!({
                "name": p.name(), "version": p.version(), "job_types": plugin_ops::job_types_json(p),
                "schedules": schedules_json(p),
                "granted": {
                    "http": p.capabilities().http_hosts(),
                    "secrets": p.capabilities().secret_names(),
                },
            })),
            None,
        ),
        Err(e) => (None, Some(e.to_string())),
    };
    print_json(&json!({
        "file": i.file, "size_bytes": i.size_bytes, "digest": i.digest,
        "compile_ms": i.compile_time.map(|t| t.as_secs_f64() * 1000.0),
        "imports": i.imports, "exports": i.exports,
        "runnable": i.loaded.is_ok(), "plugin": plugin, "error": error,
    }))
}

fn print_check(i: &Inspection) {
    println!("file:     {}", i.file);
    println!("size:     {} KiB", i.size_bytes.div_ceil(1024));
    println!("digest:   {}", i.digest);
    if let Some(t) = i.compile_time {
        let ms = t.as_secs_f64() * 1000.0;
        println!("compile:  {ms:.0} ms from scratch (cached on disk afterwards)");
    }
    print_names("imports", &i.imports);
    print_names("exports", &i.exports);
    match &i.loaded {
        Ok(plugin) => print_plugin(plugin),
        Err(e) => eprintln!("refused: {e}"),
    }
}

fn print_names(what: &str, names: &[String]) {
    println!("{what}:{}", if names.is_empty() { " none" } else { "" });
    for name in names {
        println!("  {name}");
    }
}

fn print_plugin(plugin: &Plugin) {
    println!("plugin:   {} {}", plugin.name(), plugin.version());
    let granted = plugin.capabilities();
    println!(
        "granted:  outbound HTTP to {}; secrets: {}",
        none_if_empty(&granted.http_hosts()),
        none_if_empty(&granted.secret_names())
    );
    let mut t = table(&[
        "job type",
        "payload schema",
        "fuel",
        "timeout",
        "memory",
        "max attempts",
        "rate",
        "concurrency",
        "unique key",
    ]);
    for ty in plugin.job_types() {
        t.add_row(vec![
            ty.name.clone(),
            if ty.payload_schema.is_some() {
                "yes, below"
            } else {
                "none"
            }
            .into(),
            ty.limits.fuel.to_string(),
            humantime::format_duration(ty.limits.timeout).to_string(),
            format!("{} MiB", ty.limits.memory_mib),
            ty.max_attempts
                .map_or("host default".into(), |n| n.to_string()),
            ty.rate_per_minute.map_or("-".into(), |r| format!("{r}/m")),
            ty.concurrency.map_or("-".into(), |k| k.to_string()),
            if ty.unique_key_fields.is_empty() {
                "-".into()
            } else {
                ty.unique_key_fields.join(", ")
            },
        ]);
    }
    println!("{t}");
    for ty in plugin.job_types() {
        if let Some(schema) = &ty.payload_schema {
            let pretty = serde_json::to_string_pretty(schema.schema()).unwrap_or_default();
            println!("payload schema of {}:\n{pretty}", ty.name);
        }
    }
    print_schedules(plugin);
    let problems = schedule_problems(plugin);
    if problems.is_empty() {
        println!("ok: this host can run it");
    } else {
        for p in &problems {
            eprintln!("refused: {p}");
        }
    }
}

fn none_if_empty<T: AsRef<str>>(names: &[T]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names
            .iter()
            .map(AsRef::as_ref)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn print_history(history: &[Version]) {
    if history.is_empty() {
        println!("history: no daemon has loaded a plugin from this database yet");
        return;
    }
    println!("history (every version daemons loaded, newest first per file):");
    let mut t = table(&[
        "file",
        "plugin",
        "version",
        "digest",
        "first loaded",
        "state",
    ]);
    for v in history {
        let state = match (v.error, v.retired_at) {
            (Some(error), _) => format!("failed: {}", short(error, 60)),
            (None, Some(at)) => format!("retired {}", time(at)),
            (None, None) => "serving".into(),
        };
        t.add_row(vec![
            v.file.to_string(),
            v.name.to_string(),
            v.version.to_string(),
            v.digest[..12.min(v.digest.len())].to_string(),
            time(v.first_loaded_at),
            state,
        ]);
    }
    println!("{t}");
}
