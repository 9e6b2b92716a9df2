//! Command-line options.

use std::time::Duration;

use clap::{Parser, ValueEnum};

#[derive(Debug, Clone, Parser)]
#[command(
    name = "otel-tail",
    version,
    about = "See a step's traces, logs and metrics in the terminal: an OTLP receiver on the standard ports",
    after_help = "Run a step in another terminal (`make run`, `make load`): it exports to \
                  127.0.0.1:4318 by default, which is here. Ctrl-C stops.\n\n\
                  Examples:\n  \
                  otel-tail                                  # everything\n  \
                  otel-tail --service email-service          # one service\n  \
                  otel-tail --span 'POST /users' --min-duration 5ms --no-metrics\n  \
                  otel-tail --json | jq 'select(.item == \"log\")'"
)]
pub struct Options {
    /// OTLP/HTTP port (on 127.0.0.1); 0 picks a free one
    #[arg(long, default_value_t = 4318, env = "TAIL_HTTP_PORT")]
    pub http_port: u16,
    /// OTLP/gRPC port (on 127.0.0.1); 0 picks a free one
    #[arg(long, default_value_t = 4317, env = "TAIL_GRPC_PORT")]
    pub grpc_port: u16,
    /// One JSON object per line (a trace, a log record, a metrics batch) instead of text
    #[arg(long)]
    pub json: bool,
    /// Colours: auto (on a terminal, unless NO_COLOR is set), always or never
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    pub color: Color,
    /// Only this service's telemetry (a trace shows if any of its spans is this service's);
    /// repeat for several
    #[arg(long = "service")]
    pub services: Vec<String>,
    /// Only traces with a span whose name contains this
    #[arg(long)]
    pub span: Option<String>,
    /// Only traces at least this long, e.g. 5ms
    #[arg(long, value_parser = humantime::parse_duration)]
    pub min_duration: Option<Duration>,
    /// A trace is shown once no span of it arrived for this long
    #[arg(long, default_value = "1500ms", value_parser = humantime::parse_duration)]
    pub quiet_period: Duration,
    /// Traces waiting to be complete, at most (the oldest is shown as it is past that)
    #[arg(long, default_value_t = 500)]
    pub max_traces: usize,
    /// No traces
    #[arg(long)]
    pub no_traces: bool,
    /// No log records
    #[arg(long)]
    pub no_logs: bool,
    /// No metrics
    #[arg(long)]
    pub no_metrics: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}
