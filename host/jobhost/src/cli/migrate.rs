//! `jobhost migrate`: applies the migrations this build knows that the database lacks,
//! and says from which version to which.

use std::process::ExitCode;

use anyhow::Result;
use jobhost_store::redact_url;

use super::Cli;
use super::output::print_json;

pub async fn run(cli: &Cli) -> Result<ExitCode> {
    let (before, after) = crate::daemon::migrate(&cli.base_config()).await?;
    if cli.json {
        print_json(&serde_json::json!({ "from": before.found, "to": after.found }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let db = redact_url(&cli.db);
    let to = after.found.unwrap_or(0);
    match before.found {
        Some(from) if from == to => println!("{db} is up to date (schema version {to})"),
        Some(from) => println!("migrated {db} from schema version {from} to {to}"),
        None => println!("created the tables in {db} (schema version {to})"),
    }
    Ok(ExitCode::SUCCESS)
}
