//! `loadgen`: parse the options, run until done or Ctrl-C, print the summary.

use std::process::ExitCode;

use clap::Parser;
use loadgen::cli::Cli;
use loadgen::progress::ProgressMode;
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> ExitCode {
    let config = Cli::parse().into_config();
    let cancel = CancellationToken::new();
    tokio::spawn(cancel_on_ctrl_c(cancel.clone()));
    if config.progress != ProgressMode::Quiet {
        eprintln!("{}", config.plan());
    }
    match loadgen::run(&config, cancel).await {
        Ok(summary) => {
            println!("{summary}");
            // 4xx and 5xx answers are part of the mix, not a failed run.
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The first Ctrl-C stops the run and still prints the summary. The handler stays installed,
/// but the run ends within milliseconds because requests in flight are abandoned.
async fn cancel_on_ctrl_c(cancel: CancellationToken) {
    if tokio::signal::ctrl_c().await.is_ok() {
        eprintln!("\nloadgen: Ctrl-C, stopping; the summary follows");
        cancel.cancel();
    }
}
