//! Logging to stdout with `tracing`. This is the only telemetry step 1 has: step 2 adds
//! OpenTelemetry here.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Human-readable logs on stdout; the level comes from `RUST_LOG` (default `info`).
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colours for a terminal, plain text when piped to a file or a test.
        .with_ansi(std::io::stdout().is_terminal())
        .init();
}
