//! `cargo run -p step3-db`: the user-service.

use std::process::ExitCode;

use step3_db::config::UserServiceConfig;
use step3_db::{runtime, telemetry, user_service};

// ANCHOR: main
fn main() -> ExitCode {
    runtime::run(async {
        let telemetry = match telemetry::init("user-service") {
            Ok(telemetry) => telemetry,
            Err(err) => {
                eprintln!("error: {err}");
                return ExitCode::from(2);
            }
        };
        let config = match UserServiceConfig::from_env() {
            Ok(config) => config,
            Err(err) => {
                eprintln!("error: {err}");
                return ExitCode::from(2);
            }
        };
        let result = user_service::run(config).await;
        // After the server has drained: the last requests' spans are flushed too.
        telemetry.shutdown().await;
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("error: {err:#}");
                ExitCode::FAILURE
            }
        }
    })
}
// ANCHOR_END: main
