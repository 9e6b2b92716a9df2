//! The user-service, this package's default binary (`make run STEP=n` starts it along with
//! the email-service).

use std::process::ExitCode;

use step6_resources::config::UserServiceConfig;
use step6_resources::{entry, telemetry, user_service};

#[tokio::main]
async fn main() -> ExitCode {
    // ANCHOR: main
    let telemetry = match telemetry::init("user-service") {
        Ok(telemetry) => telemetry,
        Err(err) => {
            eprintln!("error: cannot set up telemetry: {err}");
            return ExitCode::from(2);
        }
    };
    let exit = entry::run(UserServiceConfig::from_env, user_service::run).await;
    // After the server has drained: the last requests' spans are flushed too.
    telemetry.shutdown().await;
    exit
    // ANCHOR_END: main
}
