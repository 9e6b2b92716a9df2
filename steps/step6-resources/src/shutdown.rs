//! Graceful shutdown: wait for Ctrl-C (SIGINT) or SIGTERM (what `docker stop`, Kubernetes
//! and the test kit send).

use tokio::signal::unix::{SignalKind, signal};

/// Completes when the process is asked to stop.
pub async fn signal_received() {
    let mut terminate = match signal(SignalKind::terminate()) {
        Ok(stream) => stream,
        Err(err) => {
            tracing::error!(%err, "cannot listen for SIGTERM; only Ctrl-C will stop the service");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received, shutting down"),
        _ = terminate.recv() => tracing::info!("SIGTERM received, shutting down"),
    }
}
