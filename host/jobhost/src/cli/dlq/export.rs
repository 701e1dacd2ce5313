//! `dlq export --format json|csv [--output FILE]`: streams rows page by page; a file is
//! written under a temporary name and renamed when complete, so a half export never
//! passes for a whole one.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use jobhost_store::Store;

use super::FilterArgs;
use crate::cli::progress;
use crate::ops::dlq::{self, ExportFormat};

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub filter: FilterArgs,
    /// `json` (JSON lines: one object per row) or `csv` (with a header line).
    #[arg(long, value_enum, default_value = "json")]
    pub format: ExportFormat,
    /// Write here instead of standard output.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// At most this many rows, newest first (default: all).
    #[arg(long)]
    pub limit: Option<u64>,
}

pub async fn run(store: &dyn Store, args: &ExportArgs) -> Result<ExitCode> {
    let filter = args.filter.filter();
    let total = store
        .count_dead(&filter)
        .await
        .context("counting the dead letters to export")?;
    let bar = progress::bar(args.limit.map_or(total, |l| l.min(total)), "exported");
    let written = match &args.output {
        Some(path) => to_file(store, args, path, |n| bar.inc(n)).await?,
        None => {
            let out = BufWriter::new(std::io::stdout().lock());
            dlq::export(store, &filter, args.limit, args.format, out, |n| bar.inc(n))
                .await
                .context("exporting dead letters")?
        }
    };
    bar.finish_and_clear();
    if let Some(path) = &args.output {
        eprintln!("exported {written} dead letters to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

async fn to_file(
    store: &dyn Store,
    args: &ExportArgs,
    path: &Path,
    on_rows: impl FnMut(u64),
) -> Result<u64> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let file = File::create(&partial).with_context(|| format!("creating {}", partial.display()))?;
    let mut out = BufWriter::new(file);
    let written = dlq::export(
        store,
        &args.filter.filter(),
        args.limit,
        args.format,
        &mut out,
        on_rows,
    )
    .await
    .with_context(|| {
        format!(
            "exporting dead letters (the partial file {} is left)",
            partial.display()
        )
    })?;
    out.flush()?;
    out.get_ref().sync_all()?;
    std::fs::rename(&partial, path)
        .with_context(|| format!("renaming {} to {}", partial.display(), path.display()))?;
    Ok(written)
}
