//! The email-service that the user-service calls for welcome emails.

use std::process::ExitCode;

use step1_plain::config::EmailServiceConfig;
use step1_plain::{email_service, entry, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    telemetry::init();
    entry::run(EmailServiceConfig::from_env, email_service::run).await
}
