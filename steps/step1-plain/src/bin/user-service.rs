//! `cargo run -p step1-plain`: the user-service.

use std::process::ExitCode;

use step1_plain::config::UserServiceConfig;
use step1_plain::{telemetry, user_service};

#[tokio::main]
async fn main() -> ExitCode {
    telemetry::init();
    let config = match UserServiceConfig::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    match user_service::run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
