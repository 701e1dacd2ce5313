//! `dlq review ID`, `dlq delete ID`, `dlq cleanup --days N`.

use std::process::ExitCode;

use anyhow::{Context, Result};
use jobhost_store::{ReviewParams, Store, now_micros};

use crate::cli::output::print_json;
use crate::ops::dlq;

pub async fn review(
    store: &dyn Store,
    id: &str,
    note: Option<String>,
    json: bool,
) -> Result<ExitCode> {
    let params = ReviewParams {
        id: id.to_string(),
        note,
        now: now_micros(),
    };
    store
        .review_dead(&params)
        .await
        .with_context(|| format!("reviewing {id} (`jobhost dlq list` shows the ids)"))?;
    if json {
        print_json(&serde_json::json!({ "reviewed": id }))?;
    } else {
        println!("marked {id} reviewed");
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn delete(store: &dyn Store, id: &str, json: bool) -> Result<ExitCode> {
    store
        .delete_dead(id)
        .await
        .with_context(|| format!("deleting {id} (`jobhost dlq list` shows the ids)"))?;
    if json {
        print_json(&serde_json::json!({ "deleted": id }))?;
    } else {
        println!("deleted {id}");
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn cleanup(store: &dyn Store, days: u32, dry_run: bool, json: bool) -> Result<ExitCode> {
    let count = dlq::cleanup(store, days, dry_run, now_micros())
        .await
        .context("cleaning up old dead letters")?;
    if json {
        print_json(&serde_json::json!({ "deleted": count, "dry_run": dry_run, "days": days }))?;
    } else if dry_run {
        println!("would delete {count} dead letters that failed more than {days} days ago");
    } else {
        println!("deleted {count} dead letters that failed more than {days} days ago");
    }
    Ok(ExitCode::SUCCESS)
}
