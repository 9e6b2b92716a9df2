//! The email-service that the user-service calls for welcome emails.

use std::process::ExitCode;

use step6_resources::config::EmailServiceConfig;
use step6_resources::{email_service, entry, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    let telemetry = match telemetry::init("email-service") {
        Ok(telemetry) => telemetry,
        Err(err) => {
            eprintln!("error: cannot set up telemetry: {err}");
            return ExitCode::from(2);
        }
    };
    let exit = entry::run(EmailServiceConfig::from_env, email_service::run).await;
    telemetry.shutdown().await;
    exit
}
