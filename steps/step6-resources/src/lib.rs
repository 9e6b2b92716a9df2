//! The user-service and email-service of the workshop, step 6: resources. Step 5's traces,
//! metrics and logs, described by one resource (service, version, namespace, environment,
//! instance, host, OS, process), in a `telemetry.rs` written to be copied into another
//! service.
//!
//! Both binaries (`src/bin/`) are thin: [`telemetry::init`] sets up logging, then
//! [`entry::run`] reads their configuration and calls [`user_service::run`] or
//! [`email_service::run`]. Each module below has one job, so that the later steps can
//! instrument them one at a time and the diff between two steps stays the lesson.

pub mod breaker;
pub mod cache;
pub mod config;
pub mod consumer;
pub mod db_tracing;
pub mod demo;
pub mod email;
pub mod email_service;
pub mod entry;
pub mod error;
pub mod events;
pub mod export_outage;
pub mod extract;
pub mod http;
pub mod http_metrics;
pub mod http_tracing;
pub mod json_logs;
pub mod kafka_propagation;
pub mod metrics;
pub mod outage;
pub mod outbox;
pub mod server;
pub mod shutdown;
pub mod span_helpers;
pub mod store;
pub mod telemetry;
pub mod user;
pub mod user_service;
