//! Test support for the step crates.
//!
//! - [`otlp`]: an OTLP receiver on real sockets (HTTP protobuf/JSON and gRPC) that stores
//!   what it receives and lets a test wait for spans, metric points and log records;
//! - [`services`]: where the test Postgres, Valkey and Kafka are, with clear errors when they
//!   are not running;
//! - [`TestDatabase`] and [`TestTopic`]: a fresh database and Kafka topic per test, dropped
//!   afterwards;
//! - [`ServiceProcess`]: spawns a step binary on a port of its choosing, waits for `/readyz`, captures
//!   its output, stops it with SIGTERM;
//! - [`TcpProxy`]: a TCP proxy that a test can switch off, to simulate an outage;
//! - [`Broker`]: a Kafka-protocol broker (tansu) of the test's own, to stop and restart empty;
//! - [`ClosedPort`] and [`BlackHole`]: a peer that refuses connections, and one that accepts
//!   them and never answers;
//! - [`Stack`]: a step's user-service and email-service wired to all of the above;
//! - [`contract`]: what each step must do, as functions over the binaries' paths, so that
//!   each step's tests (and `make check STEP=n` on an attendee's crate) run the same checks.

mod broker;
pub mod contract;
mod database;
mod fault;
mod kafka;
mod process;
mod proxy;
pub mod services;
mod stack;

pub use broker::Broker;
pub use database::TestDatabase;
pub use fault::{BlackHole, ClosedPort};
pub use kafka::{KafkaMessage, TestTopic};
pub use otlp_receiver as otlp;
pub use process::{ServiceProcess, SpawnOptions};
pub use proxy::{ProxyMode, TcpProxy};
pub use stack::{Stack, StackOptions, StepBinaries};

/// A name no other test (or test run) uses: `prefix_<pid>_<counter>_<random>`.
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}_{}_{}_{:06x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        fastrand::u32(..0x100_0000)
    )
}

/// Runs async clean-up from `Drop` (which cannot be async): on a thread of its own with a
/// small runtime, so it works whether or not the caller is inside a runtime.
pub(crate) fn block_on_cleanup<F>(what: &str, cleanup: F)
where
    F: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let outcome = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(cleanup)
    })
    .join();
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(err)) => eprintln!("warning: could not clean up {what}: {err:#}"),
        Err(_) => eprintln!("warning: clean-up of {what} panicked"),
    }
}

/// Declares one `#[tokio::test]` per contract function, each named after its function:
///
/// ```text
/// testkit::contract_tests!(binaries(); step1::users_are_created_cached_and_read, step1::shutdown_is_graceful);
/// ```
#[macro_export]
macro_rules! contract_tests {
    ($binaries:expr; $($module:ident :: $name:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                $crate::contract::$module::$name(&$binaries).await;
            }
        )+
    };
}
