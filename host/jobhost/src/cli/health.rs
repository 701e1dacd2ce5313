//! `jobhost health`: healthy, degraded or unhealthy, with the reasons in words. Exit
//! code 0 healthy, 1 degraded, 2 unhealthy (a database it cannot read is unhealthy),
//! 3 when it could not tell (bad flags), as monitoring systems expect.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use jobhost_store::now_micros;

use super::Cli;
use super::output::print_json;
use crate::config::Config;
use crate::ops::monitor::{self, Health, Levels, Thresholds, Verdict, parse_rate};
use crate::ops::when::parse_age;

/// The exit code of a health check that could not be made.
pub const HEALTH_UNKNOWN: u8 = 3;

fn defaults() -> Thresholds {
    Thresholds::default()
}

#[derive(Debug, Args)]
pub struct HealthArgs {
    /// Due, waiting jobs from which the queue is degraded.
    #[arg(long, default_value_t = defaults().pending.degraded)]
    pub pending_degraded: u64,
    /// Due, waiting jobs from which the queue is unhealthy.
    #[arg(long, default_value_t = defaults().pending.unhealthy)]
    pub pending_unhealthy: u64,
    /// Wait of the oldest due job from which the queue is degraded.
    #[arg(long, value_parser = parse_age, default_value = "5m")]
    pub oldest_degraded: Duration,
    /// Wait of the oldest due job from which the queue is unhealthy.
    #[arg(long, value_parser = parse_age, default_value = "30m")]
    pub oldest_unhealthy: Duration,
    /// Unreviewed dead letters from which the queue is degraded.
    #[arg(long, default_value_t = defaults().dead_unreviewed.degraded)]
    pub dlq_degraded: u64,
    /// Unreviewed dead letters from which the queue is unhealthy.
    #[arg(long, default_value_t = defaults().dead_unreviewed.unhealthy)]
    pub dlq_unhealthy: u64,
    /// Share of failed attempts in the last hour (0 to 1) from which the queue is
    /// degraded; judged from 10 finished attempts on.
    #[arg(long, value_parser = parse_rate, default_value_t = defaults().failure_rate.degraded)]
    pub failure_rate_degraded: f64,
    /// Share of failed attempts in the last hour from which the queue is unhealthy.
    #[arg(long, value_parser = parse_rate, default_value_t = defaults().failure_rate.unhealthy)]
    pub failure_rate_unhealthy: f64,
}

impl HealthArgs {
    fn thresholds(&self) -> Result<Thresholds> {
        let thresholds = Thresholds {
            pending: levels(self.pending_degraded, self.pending_unhealthy, "--pending")?,
            oldest_pending: levels(self.oldest_degraded, self.oldest_unhealthy, "--oldest")?,
            dead_unreviewed: levels(self.dlq_degraded, self.dlq_unhealthy, "--dlq")?,
            failure_rate: levels(
                self.failure_rate_degraded,
                self.failure_rate_unhealthy,
                "--failure-rate",
            )?,
        };
        Ok(thresholds)
    }
}

fn levels<T: PartialOrd + std::fmt::Debug>(
    degraded: T,
    unhealthy: T,
    flag: &str,
) -> Result<Levels<T>> {
    Levels::checked(degraded, unhealthy, flag).map_err(anyhow::Error::msg)
}

pub async fn run(args: &HealthArgs, cli: &Cli) -> Result<ExitCode> {
    let thresholds = match args.thresholds() {
        Ok(thresholds) => thresholds,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(ExitCode::from(HEALTH_UNKNOWN));
        }
    };
    let health = match check(cli, &thresholds).await {
        Ok(health) => health,
        Err(e) => unreachable_database(&e),
    };
    if cli.json {
        print_json(&health)?;
    } else {
        println!("{}", health.status.as_str());
        for reason in &health.reasons {
            println!("- {reason}");
        }
    }
    Ok(ExitCode::from(health.status.exit_code()))
}

async fn check(cli: &Cli, thresholds: &Thresholds) -> Result<Health> {
    let store = cli.store().await?;
    let now = now_micros();
    let report = monitor::report(store.as_ref(), now).await?;
    let live = monitor::live_daemons(store.as_ref(), now, Config::default().stale_after).await?;
    Ok(monitor::judge(&report, live, thresholds))
}

fn unreachable_database(error: &anyhow::Error) -> Health {
    Health {
        status: Verdict::Unhealthy,
        reasons: vec![format!("the database cannot be read: {error:#}")],
        pending: 0,
        oldest_pending_age_ms: None,
        dead_unreviewed: 0,
        failure_rate: None,
        live_daemons: 0,
    }
}
