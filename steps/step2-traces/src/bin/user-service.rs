//! `cargo run -p step2-traces`: the user-service.

use std::process::ExitCode;

use step2_traces::config::UserServiceConfig;
use step2_traces::{entry, user_service};

fn main() -> ExitCode {
    entry::main(
        "user-service",
        UserServiceConfig::from_env,
        user_service::run,
    )
}
