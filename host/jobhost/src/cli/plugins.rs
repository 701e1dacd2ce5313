//! `jobhost plugins list`: what the plugins directory holds, as the daemon would load it.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Subcommand;
use jobhost_runtime::{Registry, RegistryEvent, Runtime, RuntimeConfig};
use serde_json::json;

use super::Cli;
use super::output::{print_json, table};

#[derive(Debug, Subcommand)]
pub enum PluginsCommand {
    /// Load every `*.wasm` in the plugins directory and show what each declares.
    List,
}

pub async fn run(command: &PluginsCommand, cli: &Cli) -> Result<ExitCode> {
    let PluginsCommand::List = command;
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: Some(cli.cache_dir.clone()),
        pooling: false,
        ..RuntimeConfig::default()
    })
    .context("starting the WebAssembly runtime")?;
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

    if cli.json {
        let loaded: Vec<_> = plugins
            .iter()
            .map(|p| {
                json!({
                    "file": p.file_name(), "name": p.name(), "version": p.version(),
                    "digest": p.digest(), "size_bytes": p.size_bytes(),
                    "job_types": p.job_types().iter().map(|t| json!({
                        "name": t.name, "payload_schema": t.payload_schema.as_ref().map(|s| s.schema()), "limits": t.limits,
                        "max_attempts": t.max_attempts,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let failed: Vec<_> = failures
            .iter()
            .map(|(file, error)| json!({ "file": file, "error": error }))
            .collect();
        print_json(&json!({ "loaded": loaded, "failed": failed }))?;
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
    }
    Ok(if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
