//! Logging to stdout with `tracing`. This is the only telemetry step 1 has: step 2 adds
//! OpenTelemetry here.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Used when `RUST_LOG` is unset. Postgres notices such as "relation already exists,
/// skipping" (from the migrations) are not news.
const DEFAULT_FILTER: &str = "info,sqlx::postgres::notice=warn";

/// Human-readable logs on stdout; the level comes from `RUST_LOG` (default `info`).
pub fn init() {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colours for a terminal, plain text when piped to a file or a test.
        .with_ansi(std::io::stdout().is_terminal())
        .init();
}
