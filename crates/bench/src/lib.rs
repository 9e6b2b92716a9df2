//! `bench`: every step against step 1 in one run (`make bench`).
//!
//! It starts each step's user-service and email-service as child processes (release builds),
//! step 1 once and every later step under three telemetry conditions (collector up, collector
//! down, unsampled), then sends the same workloads to all of them in alternating rounds and
//! reports, per step and condition, throughput, latency, the user-service's CPU per request,
//! its memory, and the telemetry received per request. See the crate's README.

pub mod load;
pub mod machine;
pub mod plan;
pub mod procfs;
pub mod progress;
pub mod report;
pub mod run;
pub mod services;
pub mod svg;
