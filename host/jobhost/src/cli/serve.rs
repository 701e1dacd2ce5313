//! `jobhost serve`.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::Args;

use std::net::SocketAddr;

use crate::api::{self, HttpConfig, Token};
use crate::config::Config;
use crate::ops::when::parse_age;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Attempts that run at once (default: the number of cores).
    #[arg(long, env = "JOBHOST_CONCURRENCY")]
    pub concurrency: Option<usize>,
    /// The most jobs claimed per database round trip. How many the daemon holds claimed
    /// beyond its running attempts follows the pace of its jobs (up to twice this):
    /// about 50 ms of work.
    #[arg(long, default_value_t = Config::default().claim_batch)]
    pub claim_batch: u32,
    /// First retry delay; later ones double, with jitter.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "1s")]
    pub backoff_base: Duration,
    /// Longest retry delay.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "1h")]
    pub backoff_cap: Duration,
    /// How long running attempts may finish after SIGINT/SIGTERM.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
    pub grace: Duration,
    /// How often to look for due jobs when nothing woke the daemon.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "500ms")]
    pub poll_interval: Duration,
    /// How often this daemon records in the database that it is alive.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5s")]
    pub heartbeat_interval: Duration,
    /// A daemon whose heartbeat is older than this is taken for dead, and any daemon
    /// puts its running jobs back (a dead process on the same host is noticed sooner,
    /// at the next heartbeat). More than twice the heartbeat interval; every daemon on
    /// a database should use the same values.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30s")]
    pub stale_after: Duration,
    /// Default fuel budget of an attempt (a job type or manifest may override it).
    #[arg(long)]
    pub fuel: Option<u64>,
    /// Default wall-clock deadline of an attempt.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub timeout: Option<Duration>,
    /// Default memory cap of an attempt, in MiB.
    #[arg(long)]
    pub memory_mib: Option<u32>,
    /// Completed jobs older than this are deleted by the daemon's maintenance (`7d`,
    /// `12h`), or `off` to keep them all.
    #[arg(long, value_parser = parse_retention, default_value = "7d")]
    pub retain_completed: Retention,
    /// How often the maintenance runs (the first time at start).
    #[arg(long, value_parser = parse_age, default_value = "1h")]
    pub maintenance_interval: Duration,
    /// Serve the HTTP admin API on this address (default 127.0.0.1:7070 when the flag
    /// is given bare). Any address but loopback needs a token.
    #[arg(long, env = "JOBHOST_HTTP", num_args = 0..=1, default_missing_value = api::DEFAULT_ADDR)]
    pub http: Option<SocketAddr>,
    /// The bearer token the HTTP API asks for; prefer the environment variable, which
    /// other users of the machine cannot read in the process list.
    #[arg(
        long,
        env = "JOBHOST_HTTP_TOKEN",
        hide_env_values = true,
        requires = "http"
    )]
    pub http_token: Option<String>,
    /// The largest request body the HTTP API reads (`64KiB`, `1MiB`, or bytes); larger
    /// ones are answered 413.
    #[arg(long, value_parser = parse_size, default_value = "1MiB", requires = "http")]
    pub http_max_body: usize,
}

/// A size in bytes: a number, optionally followed by `B`, `KiB` or `MiB`.
fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let scale = match unit.trim() {
        "" | "B" => 1,
        "KiB" | "K" | "KB" => 1024,
        "MiB" | "M" | "MB" => 1024 * 1024,
        _ => return Err(format!("{text:?} is not a size like 65536, 64KiB or 1MiB")),
    };
    let bytes = number
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .filter(|n| *n > 0);
    bytes.ok_or_else(|| format!("{text:?} is not a size like 65536, 64KiB or 1MiB"))
}

/// `--retain-completed`: an age, or `off`.
#[derive(Debug, Clone, Copy)]
pub struct Retention(Option<Duration>);

fn parse_retention(text: &str) -> Result<Retention, String> {
    if text == "off" {
        return Ok(Retention(None));
    }
    parse_age(text)
        .map(|age| Retention(Some(age)))
        .map_err(|e| format!("{e}, or off"))
}

pub async fn run(args: &ServeArgs, mut config: Config) -> Result<ExitCode> {
    if let Some(concurrency) = args.concurrency {
        config.concurrency = concurrency;
    }
    config.claim_batch = args.claim_batch;
    config.backoff_base = args.backoff_base;
    config.backoff_cap = args.backoff_cap;
    config.shutdown_grace = args.grace;
    config.poll_interval = args.poll_interval;
    config.heartbeat_interval = args.heartbeat_interval;
    config.stale_after = args.stale_after;
    config.retain_completed = args.retain_completed.0;
    config.maintenance_interval = args.maintenance_interval;
    config.http = args.http.map(|addr| HttpConfig {
        addr,
        token: args.http_token.clone().map(Token::new),
        max_body: args.http_max_body,
    });
    let limits = &mut config.default_limits;
    limits.fuel = args.fuel.unwrap_or(limits.fuel);
    limits.timeout = args.timeout.unwrap_or(limits.timeout);
    limits.memory_mib = args.memory_mib.unwrap_or(limits.memory_mib);
    crate::daemon::serve(config).await?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_read_as_bytes() {
        assert_eq!(super::parse_size("1MiB"), Ok(1024 * 1024));
        assert_eq!(super::parse_size("64KiB"), Ok(65536));
        assert_eq!(super::parse_size("512"), Ok(512));
        assert_eq!(super::parse_size("1MiB"), Ok(crate::api::DEFAULT_MAX_BODY));
        assert!(super::parse_size("0").is_err());
        assert!(super::parse_size("lots").is_err());
        assert!(super::parse_size("1GiB").is_err());
    }
}
