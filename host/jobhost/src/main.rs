//! The `jobhost` binary: parses the command line and runs the subcommand.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match jobhost::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    jobhost::cli::init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli.run()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Prints clap's message. Usage errors exit 2, as usual, except for `health`, whose 2
/// means unhealthy: there they exit 3, "could not tell" (the monitoring convention).
fn usage_error(error: clap::Error) -> ExitCode {
    let _ = error.print();
    let health = std::env::args().skip(1).any(|arg| arg == "health");
    if error.use_stderr() && health {
        return ExitCode::from(jobhost::cli::HEALTH_UNKNOWN);
    }
    ExitCode::from(error.exit_code() as u8)
}
