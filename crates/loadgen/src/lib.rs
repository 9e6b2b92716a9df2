//! A load generator for the workshop's user-service: realistic mixed traffic (creates, cached
//! reads, 404s, bad input, duplicates, slow and failing demo endpoints), some of it carrying
//! W3C trace context, so that the dashboards have something to show.
//!
//! `loadgen --help` lists the options; [`run`] is the same run as a library call (the tests
//! use it against an in-process stub of the service).

pub mod cli;
pub mod mix;
pub mod progress;
pub mod request;
pub mod run;
pub mod stats;

pub use run::{Config, RunError, run};
pub use stats::Summary;
