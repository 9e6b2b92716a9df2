//! `cargo run -p step3-db`: the user-service.

use std::process::ExitCode;

use step3_db::config::UserServiceConfig;
use step3_db::{entry, user_service};

fn main() -> ExitCode {
    entry::main(
        "user-service",
        UserServiceConfig::from_env,
        user_service::run,
    )
}
