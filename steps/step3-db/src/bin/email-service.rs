//! `cargo run -p step3-db --bin step3-email-service`: the email-service.

use std::process::ExitCode;

use step3_db::config::EmailServiceConfig;
use step3_db::{email_service, runtime, telemetry};

fn main() -> ExitCode {
    runtime::run(async {
        let telemetry = match telemetry::init("email-service") {
            Ok(telemetry) => telemetry,
            Err(err) => {
                eprintln!("error: {err}");
                return ExitCode::from(2);
            }
        };
        let config = match EmailServiceConfig::from_env() {
            Ok(config) => config,
            Err(err) => {
                eprintln!("error: {err}");
                return ExitCode::from(2);
            }
        };
        let result = email_service::run(config).await;
        telemetry.shutdown().await;
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("error: {err:#}");
                ExitCode::FAILURE
            }
        }
    })
}
