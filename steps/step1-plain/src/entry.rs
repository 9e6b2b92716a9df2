//! What both binaries do: set up logging, read the configuration, run the service, and
//! turn the outcome into an exit code (2: invalid configuration, 1: the service failed).

use std::process::ExitCode;

use crate::config::ConfigError;
use crate::telemetry;

pub async fn main<C, F>(
    load_config: fn() -> Result<C, ConfigError>,
    run: impl FnOnce(C) -> F,
) -> ExitCode
where
    F: Future<Output = anyhow::Result<()>>,
{
    telemetry::init();
    let config = match load_config() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
