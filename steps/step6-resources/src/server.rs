//! The HTTP server loop of both services, with the limits `axum::serve` leaves out: a client
//! has [`HEADER_READ_TIMEOUT`] to send a request head (one that sends half a head and waits
//! is cut), a body has [`BODY_READ_TIMEOUT`], and once the process is asked to stop, the
//! requests in flight have [`SHUTDOWN_GRACE`] to finish before their connections are closed.
//! Together with the background tasks' and the telemetry's own deadlines, SIGTERM ends the
//! process within 10 s whatever clients do.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt;
use tower_http::timeout::RequestBodyTimeoutLayer;

/// How long a client may take to send a request's head (request line and headers).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send a request's body.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the requests in flight may run on after SIGTERM.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(4);

/// Serves `app` on `listener` until `stop` completes, then lets the requests in flight finish
/// for up to [`SHUTDOWN_GRACE`]. Every request carries the peer's address as
/// [`ConnectInfo<SocketAddr>`].
pub async fn serve(listener: TcpListener, app: Router, stop: impl Future<Output = ()>) {
    let app = app.layer(RequestBodyTimeoutLayer::new(BODY_READ_TIMEOUT));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let connections = GracefulShutdown::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors, or the peer gave up during the handshake:
                    // wait a moment and accept the next one.
                    tracing::warn!(%err, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let service = app
            .clone()
            .map_request(move |request: hyper::Request<Incoming>| {
                let mut request = request.map(Body::new);
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            });
        let connection =
            http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = connections.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(%err, %peer, "connection ended with an error");
            }
        });
    }
    // No new connections; idle ones close now, busy ones after their request.
    drop(listener);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, connections.shutdown()).await;
    if drained.is_err() {
        tracing::warn!(
            "requests still running {SHUTDOWN_GRACE:?} after the stop signal: their connections are cut"
        );
    }
}
