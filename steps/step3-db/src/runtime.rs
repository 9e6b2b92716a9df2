//! The tokio runtime, built by hand instead of `#[tokio::main]` for one reason: the gRPC
//! exporter's transport runs on this runtime while the SDK's batch thread blocks waiting for
//! it, and with a single worker thread (a 1-CPU container) flush and shutdown can deadlock.
//! At least two workers avoid that.

use std::process::ExitCode;

// ANCHOR: runtime
pub fn run(main: impl Future<Output = ExitCode>) -> ExitCode {
    let workers = std::thread::available_parallelism().map_or(2, |cores| cores.get().max(2));
    match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(main),
        Err(err) => {
            eprintln!("error: cannot start the tokio runtime: {err}");
            ExitCode::FAILURE
        }
    }
}
// ANCHOR_END: runtime
