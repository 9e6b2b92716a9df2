//! Say once that a dependency is down, and once that it is back: a log line per failed
//! request would bury everything else during an outage.

use std::sync::atomic::{AtomicBool, Ordering};

/// What to do about a service's own dependencies being down.
pub const START_SERVICES: &str = "Start it with `make services` (or `make up` with Docker).";

#[derive(Debug)]
pub struct OutageLog {
    /// What is down, e.g. "Valkey at redis://127.0.0.1:6379".
    dependency: String,
    /// What the service does meanwhile, e.g. "reads go to Postgres".
    fallback: &'static str,
    /// What the reader can do about it, e.g. [`START_SERVICES`].
    remedy: &'static str,
    down: AtomicBool,
}

impl OutageLog {
    pub fn new(
        dependency: impl Into<String>,
        fallback: &'static str,
        remedy: &'static str,
    ) -> Self {
        Self {
            dependency: dependency.into(),
            fallback,
            remedy,
            down: AtomicBool::new(false),
        }
    }

    /// Record a failure; logs a warning only for the first one of an outage.
    pub fn failed(&self, err: &dyn std::fmt::Display) {
        if !self.down.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "{} is unreachable ({err}); {} until it is back. {}",
                self.dependency,
                self.fallback,
                self.remedy
            );
        }
    }

    /// Record a success; logs once when an outage ends.
    pub fn succeeded(&self) {
        if self.down.swap(false, Ordering::Relaxed) {
            tracing::info!("{} is reachable again", self.dependency);
        }
    }
}
