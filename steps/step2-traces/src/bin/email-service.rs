//! `cargo run -p step2-traces --bin step2-email-service`: the email-service.

use std::process::ExitCode;

use step2_traces::config::EmailServiceConfig;
use step2_traces::{email_service, entry};

fn main() -> ExitCode {
    entry::main(
        "email-service",
        EmailServiceConfig::from_env,
        email_service::run,
    )
}
