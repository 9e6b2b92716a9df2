//! A test-only OTLP receiver: point a service's OTLP exporter at it, then
//! assert on the spans, metric points and log records it exported.
//!
//! It listens on `127.0.0.1` with OS-assigned ports for
//!
//! * OTLP/HTTP (`POST /v1/traces`, `/v1/metrics`, `/v1/logs`; protobuf or
//!   JSON; optional gzip), see [`OtlpReceiver::http_endpoint`], and
//! * OTLP/gRPC (the three collector services), see [`OtlpReceiver::grpc_endpoint`],
//!
//! and keeps everything it receives as plain, typed, owned values
//! ([`Span`], [`MetricPoint`], [`LogRecord`]), each carrying its [`Resource`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use otlp_receiver::{OtlpReceiver, SpanKind};
//!
//! let receiver = OtlpReceiver::start().await?;
//! // Run the service with
//! //   OTEL_EXPORTER_OTLP_ENDPOINT = receiver.http_endpoint()
//! //   OTEL_EXPORTER_OTLP_PROTOCOL = "http/protobuf"
//! let span = receiver
//!     .wait_for_span_named("GET /users/{id}", Duration::from_secs(10))
//!     .await?;
//! assert_eq!(span.kind, SpanKind::Server);
//! assert_eq!(span.attributes.int("http.response.status_code"), Some(200));
//! assert_eq!(span.resource.service_name(), Some("users"));
//! # Ok(()) }
//! ```
//!
//! # Why not `fake-opentelemetry-collector`?
//!
//! `fake-opentelemetry-collector` 0.42.1 only speaks gRPC, drops the
//! `Resource` and flattens attribute values to strings, so a test could not
//! check `service.name` on the resource, nor that `http.response.status_code`
//! is an integer rather than `"200"`. This crate keeps both and also accepts
//! OTLP/HTTP (protobuf and JSON).
//!
//! # Runtime
//!
//! [`OtlpReceiver::start`] spawns its servers on the current Tokio runtime.
//! If the exporting code runs in the same process and blocks (the SDK's
//! batch processors with the blocking HTTP client, `shutdown()`), use a
//! multi-thread runtime and call blocking code from `spawn_blocking`.

mod grpc;
mod http;
mod json;
mod model;
mod store;

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use model::{
    AttrValue, Attributes, Exemplar, LogRecord, MetricKind, MetricPoint, PointValue, Resource,
    Span, SpanEvent, SpanKind, SpanLink, SpanStatus, StatusCode, Temporality,
};
pub use store::{ExportRequest, ExportStats, Signal, Transport, WaitTimeout};

use store::Store;

/// What [`OtlpReceiver::take`] returns: the items received since the previous call.
#[derive(Debug, Default, Clone)]
pub struct Received {
    pub spans: Vec<Span>,
    pub metric_points: Vec<MetricPoint>,
    pub log_records: Vec<LogRecord>,
}

impl Received {
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty() && self.metric_points.is_empty() && self.log_records.is_empty()
    }
}

/// Largest accepted request body (compressed or not), and largest gRPC message.
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// A running OTLP receiver. Cheap to clone; the servers stop when the last
/// clone is dropped.
#[derive(Clone)]
pub struct OtlpReceiver {
    store: Arc<Store>,
    http_addr: SocketAddr,
    grpc_addr: SocketAddr,
    _tasks: Arc<Tasks>,
}

/// Aborts the server tasks on drop.
struct Tasks(Vec<JoinHandle<()>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

impl fmt::Debug for OtlpReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpReceiver")
            .field("http", &self.http_addr)
            .field("grpc", &self.grpc_addr)
            .finish_non_exhaustive()
    }
}

impl OtlpReceiver {
    /// Bind the OTLP/HTTP and OTLP/gRPC listeners on `127.0.0.1` (OS-assigned
    /// ports) and spawn both servers on the current Tokio runtime.
    ///
    /// # Panics
    ///
    /// If called outside a Tokio runtime.
    pub async fn start() -> std::io::Result<OtlpReceiver> {
        let any_port = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        Self::start_on(any_port, any_port).await
    }

    /// Like [`OtlpReceiver::start`], on the given addresses (port 0: any free port), e.g.
    /// the standard 4318 and 4317 for a viewer that services export to by default. An
    /// address in use is an `AddrInUse` error naming neither: the caller knows which.
    pub async fn start_on(http: SocketAddr, grpc: SocketAddr) -> std::io::Result<OtlpReceiver> {
        let store = Arc::new(Store::new());
        let http_listener = TcpListener::bind(http).await?;
        let grpc_listener = TcpListener::bind(grpc).await?;
        let http_addr = http_listener.local_addr()?;
        let grpc_addr = grpc_listener.local_addr()?;

        let router = http::router(Arc::clone(&store));
        let http_task = tokio::spawn(async move {
            if let Err(e) = axum::serve(http_listener, router).await {
                eprintln!("otlp-receiver: HTTP server stopped: {e}");
            }
        });
        let grpc_task = tokio::spawn(grpc::serve(Arc::clone(&store), grpc_listener));

        Ok(OtlpReceiver {
            store,
            http_addr,
            grpc_addr,
            _tasks: Arc::new(Tasks(vec![http_task, grpc_task])),
        })
    }

    /// Base URL of the OTLP/HTTP server, e.g. `http://127.0.0.1:41234`.
    ///
    /// This is a value for `OTEL_EXPORTER_OTLP_ENDPOINT` (with protocol
    /// `http/protobuf` or `http/json`); the exporter appends `/v1/traces`
    /// etc. Endpoints set in code or in the per-signal variables need the
    /// full path: see [`OtlpReceiver::http_traces_url`].
    pub fn http_endpoint(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    /// `{http_endpoint}/v1/traces`
    pub fn http_traces_url(&self) -> String {
        format!("http://{}/v1/traces", self.http_addr)
    }

    /// `{http_endpoint}/v1/metrics`
    pub fn http_metrics_url(&self) -> String {
        format!("http://{}/v1/metrics", self.http_addr)
    }

    /// `{http_endpoint}/v1/logs`
    pub fn http_logs_url(&self) -> String {
        format!("http://{}/v1/logs", self.http_addr)
    }

    /// URL of the OTLP/gRPC server, e.g. `http://127.0.0.1:41235` (protocol `grpc`).
    pub fn grpc_endpoint(&self) -> String {
        format!("http://{}", self.grpc_addr)
    }

    /// Address of the OTLP/HTTP listener.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// Address of the OTLP/gRPC listener.
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_addr
    }

    /// Snapshot of all spans received so far, in arrival order.
    pub fn spans(&self) -> Vec<Span> {
        self.store.lock().spans.clone()
    }

    /// Snapshot of all metric data points received so far, in arrival order.
    ///
    /// A periodic reader exports cumulative metrics repeatedly, so the same
    /// series can appear several times; the last one is the most recent.
    pub fn metric_points(&self) -> Vec<MetricPoint> {
        self.store.lock().metric_points.clone()
    }

    /// Snapshot of all log records received so far, in arrival order.
    pub fn log_records(&self) -> Vec<LogRecord> {
        self.store.lock().log_records.clone()
    }

    /// Counters of export requests received (including empty or rejected ones).
    pub fn export_requests(&self) -> ExportStats {
        self.store.lock().stats
    }

    /// Every export request that reached a handler, in arrival order, with
    /// its content type, encoding, item count and rejection reason.
    pub fn requests(&self) -> Vec<ExportRequest> {
        self.store.lock().requests.clone()
    }

    /// Remove and return everything received since the last call (the request counters
    /// stay): how a long-running consumer keeps its memory bounded.
    pub fn take(&self) -> Received {
        let mut data = self.store.lock();
        data.requests.clear();
        Received {
            spans: std::mem::take(&mut data.spans),
            metric_points: std::mem::take(&mut data.metric_points),
            log_records: std::mem::take(&mut data.log_records),
        }
    }

    /// Forget everything received, and reset the request counters.
    pub fn clear(&self) {
        self.store.update(|d| *d = Default::default());
    }

    /// Wait until `pred` holds for all spans received so far, and return them.
    ///
    /// The predicate is re-evaluated whenever something arrives. It runs while
    /// the store is locked, so it must not call back into the receiver.
    /// The error's `Display` lists what was received instead.
    pub async fn wait_for_spans(
        &self,
        timeout: Duration,
        pred: impl Fn(&[Span]) -> bool,
    ) -> Result<Vec<Span>, WaitTimeout> {
        self.store
            .wait(
                timeout,
                |d| &d.spans,
                pred,
                || "spans matching the predicate".to_owned(),
            )
            .await
    }

    /// Wait for a span named `name` and return the first one received.
    pub async fn wait_for_span_named(
        &self,
        name: &str,
        timeout: Duration,
    ) -> Result<Span, WaitTimeout> {
        let spans = self
            .store
            .wait(
                timeout,
                |d| &d.spans,
                |spans| spans.iter().any(|s| s.name == name),
                || format!("a span named {name:?}"),
            )
            .await?;
        Ok(spans
            .into_iter()
            .find(|s| s.name == name)
            .expect("predicate guarantees a match"))
    }

    /// Wait until at least `n` spans were received, and return all of them.
    pub async fn wait_for_span_count(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<Span>, WaitTimeout> {
        self.store
            .wait(
                timeout,
                |d| &d.spans,
                |spans| spans.len() >= n,
                || format!("at least {n} span(s)"),
            )
            .await
    }

    /// Wait until `pred` holds for all metric points received so far, and return them.
    pub async fn wait_for_metric_points(
        &self,
        timeout: Duration,
        pred: impl Fn(&[MetricPoint]) -> bool,
    ) -> Result<Vec<MetricPoint>, WaitTimeout> {
        self.store
            .wait(
                timeout,
                |d| &d.metric_points,
                pred,
                || "metric points matching the predicate".to_owned(),
            )
            .await
    }

    /// Wait for a data point of the metric `name`; return all its points so far.
    pub async fn wait_for_metric_named(
        &self,
        name: &str,
        timeout: Duration,
    ) -> Result<Vec<MetricPoint>, WaitTimeout> {
        let points = self
            .store
            .wait(
                timeout,
                |d| &d.metric_points,
                |points| points.iter().any(|p| p.name == name),
                || format!("a data point of metric {name:?}"),
            )
            .await?;
        Ok(points.into_iter().filter(|p| p.name == name).collect())
    }

    /// Wait until `pred` holds for all log records received so far, and return them.
    pub async fn wait_for_log_records(
        &self,
        timeout: Duration,
        pred: impl Fn(&[LogRecord]) -> bool,
    ) -> Result<Vec<LogRecord>, WaitTimeout> {
        self.store
            .wait(
                timeout,
                |d| &d.log_records,
                pred,
                || "log records matching the predicate".to_owned(),
            )
            .await
    }
}
