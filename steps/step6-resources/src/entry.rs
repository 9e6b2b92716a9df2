//! What both binaries do once logging is set up: read the configuration, run the service, and
//! turn the outcome into an exit code (2: invalid configuration, 1: the service failed).

use std::process::ExitCode;

use crate::config::ConfigError;

pub async fn run<C, F>(
    load_config: fn() -> Result<C, ConfigError>,
    service: impl FnOnce(C) -> F,
) -> ExitCode
where
    F: Future<Output = anyhow::Result<()>>,
{
    let config = match load_config() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    match service(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
