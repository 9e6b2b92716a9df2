//! `cargo run -p step1-plain --bin step1-email-service`: the email-service.

use std::process::ExitCode;

use step1_plain::config::EmailServiceConfig;
use step1_plain::{email_service, entry};

#[tokio::main]
async fn main() -> ExitCode {
    entry::main(EmailServiceConfig::from_env, email_service::run).await
}
