//! `cargo run -p step1-plain`: the user-service.

use std::process::ExitCode;

use step1_plain::config::UserServiceConfig;
use step1_plain::{entry, user_service};

#[tokio::main]
async fn main() -> ExitCode {
    entry::main(UserServiceConfig::from_env, user_service::run).await
}
