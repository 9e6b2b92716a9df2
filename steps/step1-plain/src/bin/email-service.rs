//! `cargo run -p step1-plain --bin step1-email-service`: the email-service.

use std::process::ExitCode;

use step1_plain::config::EmailServiceConfig;
use step1_plain::{email_service, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    telemetry::init();
    let config = match EmailServiceConfig::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    match email_service::run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
