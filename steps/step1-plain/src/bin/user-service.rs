//! The user-service, this package's default binary (`make run STEP=n` starts it along with
//! the email-service).

use std::process::ExitCode;

use step1_plain::config::UserServiceConfig;
use step1_plain::{entry, telemetry, user_service};

#[tokio::main]
async fn main() -> ExitCode {
    // ANCHOR: main
    telemetry::init();
    entry::run(UserServiceConfig::from_env, user_service::run).await
    // ANCHOR_END: main
}
