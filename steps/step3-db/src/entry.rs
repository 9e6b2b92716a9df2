//! What both binaries do: set up telemetry, read the configuration, run the service, flush
//! the telemetry, and turn the outcome into an exit code (2: invalid configuration or
//! telemetry setup, 1: the service failed).

use std::process::ExitCode;

use crate::config::ConfigError;
use crate::{runtime, telemetry};

pub fn main<C, F>(
    service_name: &str,
    load_config: fn() -> Result<C, ConfigError>,
    run: impl FnOnce(C) -> F,
) -> ExitCode
where
    F: Future<Output = anyhow::Result<()>>,
{
    runtime::run(async {
        // ANCHOR: main
        let telemetry = match telemetry::init(service_name) {
            Ok(telemetry) => telemetry,
            Err(err) => {
                eprintln!("error: {err}");
                return ExitCode::from(2);
            }
        };
        let config = match load_config() {
            Ok(config) => config,
            Err(err) => {
                eprintln!("error: {err}");
                return ExitCode::from(2);
            }
        };
        let result = run(config).await;
        // After the server has drained: the last requests' spans are flushed too.
        telemetry.shutdown().await;
        // ANCHOR_END: main
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("error: {err:#}");
                ExitCode::FAILURE
            }
        }
    })
}
