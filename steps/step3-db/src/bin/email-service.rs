//! `cargo run -p step3-db --bin step3-email-service`: the email-service.

use std::process::ExitCode;

use step3_db::config::EmailServiceConfig;
use step3_db::{email_service, entry};

fn main() -> ExitCode {
    entry::main(
        "email-service",
        EmailServiceConfig::from_env,
        email_service::run,
    )
}
