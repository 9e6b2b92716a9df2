//! `make tail`: the telemetry of a running step, in the terminal, without Docker. An OTLP
//! receiver (`crates/otlp-receiver`) on the standard ports, so that a step exports here with
//! no configuration, and a view of what arrives: each trace as a waterfall once it is
//! complete, each log record as a line, each metric export as a table.

pub mod cli;
pub mod item;
pub mod quantile;
pub mod render;
pub mod traces;
pub mod viewer;
