//! Shared storage for everything received, and the machinery to wait on it.

use std::fmt;
use std::fmt::Write as _;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;

use crate::model::{LogRecord, MetricPoint, Span};

/// How many items a [`WaitTimeout`] lists before eliding the rest.
const MAX_LISTED: usize = 50;
/// Attribute lists longer than this are cut in a [`WaitTimeout`] listing.
const MAX_ATTRS_CHARS: usize = 300;

/// Number of export requests received, per transport and signal.
///
/// Every request that reached an export endpoint counts, including empty and
/// undecodable ones, so `total() == 0` proves that nothing was sent over OTLP.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ExportStats {
    /// `POST /v1/traces`
    pub http_traces: u64,
    /// `POST /v1/metrics`
    pub http_metrics: u64,
    /// `POST /v1/logs`
    pub http_logs: u64,
    /// gRPC `TraceService/Export`
    pub grpc_traces: u64,
    /// gRPC `MetricsService/Export`
    pub grpc_metrics: u64,
    /// gRPC `LogsService/Export`
    pub grpc_logs: u64,
}

impl ExportStats {
    /// Sum of all counters.
    pub fn total(&self) -> u64 {
        self.http_traces
            + self.http_metrics
            + self.http_logs
            + self.grpc_traces
            + self.grpc_metrics
            + self.grpc_logs
    }
}

impl fmt::Display for ExportStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "export requests: http traces={} metrics={} logs={}, grpc traces={} metrics={} logs={}",
            self.http_traces,
            self.http_metrics,
            self.http_logs,
            self.grpc_traces,
            self.grpc_metrics,
            self.grpc_logs
        )
    }
}

/// The transport an export request came over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// OTLP/HTTP
    Http,
    /// OTLP/gRPC
    Grpc,
}

/// The signal an export request carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signal {
    /// Spans
    Traces,
    /// Metric data points
    Metrics,
    /// Log records
    Logs,
}

/// What the receiver saw of one export request, in arrival order.
///
/// Over gRPC, a request whose message tonic cannot decode is counted in
/// [`ExportStats`] but leaves no `ExportRequest` (it never reaches the service).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportRequest {
    /// HTTP or gRPC.
    pub transport: Transport,
    /// Traces, metrics or logs.
    pub signal: Signal,
    /// The `Content-Type` header as sent.
    pub content_type: Option<String>,
    /// `Content-Encoding` (HTTP) or `grpc-encoding` (gRPC), e.g. `gzip`.
    pub content_encoding: Option<String>,
    /// Spans, data points or log records decoded from it.
    pub items: usize,
    /// Why it was rejected (`None` when accepted), e.g. `400 Bad Request: invalid protobuf: …`.
    pub error: Option<String>,
}

/// Returned by the `wait_for_*` methods when the condition did not become true in time.
///
/// Its `Display` says what was awaited and lists what *was* received, so that
/// `.unwrap()` / `?` in a test prints a useful failure message.
#[derive(Debug, Clone)]
pub struct WaitTimeout {
    /// What the caller waited for, e.g. `a span named "GET /users"`.
    pub waited_for: String,
    /// How long the caller waited.
    pub timeout: Duration,
    /// Export request counters at the time of the timeout.
    pub stats: ExportStats,
    /// Human-readable listing of the items received (at most 50).
    pub received: String,
    /// Errors of rejected export requests (the last 10), if any.
    pub rejected: Vec<String>,
}

impl fmt::Display for WaitTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "timed out after {:?} waiting for {}\n{}\n{}",
            self.timeout, self.waited_for, self.stats, self.received
        )?;
        if !self.rejected.is_empty() {
            write!(
                f,
                "\nrejected export requests (last {}):",
                self.rejected.len()
            )?;
            for e in &self.rejected {
                write!(f, "\n  - {e}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for WaitTimeout {}

#[derive(Default)]
pub(crate) struct Data {
    pub(crate) spans: Vec<Span>,
    pub(crate) metric_points: Vec<MetricPoint>,
    pub(crate) log_records: Vec<LogRecord>,
    pub(crate) stats: ExportStats,
    pub(crate) requests: Vec<ExportRequest>,
}

pub(crate) struct Store {
    data: Mutex<Data>,
    /// Bumped on every change; waiters subscribe to it.
    version: watch::Sender<u64>,
}

impl Store {
    pub(crate) fn new() -> Self {
        Store {
            data: Mutex::new(Data::default()),
            version: watch::Sender::new(0),
        }
    }

    /// Lock the data. A panic while holding the lock (only possible in a
    /// caller's predicate) does not make the store unusable.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Data> {
        self.data.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Apply `f` to the data and wake all waiters.
    pub(crate) fn update(&self, f: impl FnOnce(&mut Data)) {
        f(&mut self.lock());
        self.version.send_modify(|v| *v = v.wrapping_add(1));
    }

    pub(crate) fn count(&self, f: impl FnOnce(&mut ExportStats)) {
        self.update(|d| f(&mut d.stats));
    }

    /// Wait until `pred` over the items selected by `select` is true, then
    /// return a snapshot of those items.
    pub(crate) async fn wait<T: Clone + Describe>(
        &self,
        timeout: Duration,
        select: fn(&Data) -> &Vec<T>,
        pred: impl Fn(&[T]) -> bool,
        waited_for: impl FnOnce() -> String,
    ) -> Result<Vec<T>, WaitTimeout> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut rx = self.version.subscribe();
        loop {
            // Mark the current version as seen *before* looking at the data,
            // so that a change after the check is never missed.
            rx.borrow_and_update();
            {
                let data = self.lock();
                let items = select(&data);
                if pred(items) {
                    return Ok(items.clone());
                }
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => continue,
                // The sender lives as long as `self`; treat a closed channel
                // like a timeout rather than spinning.
                Ok(Err(_)) | Err(_) => {
                    let data = self.lock();
                    return Err(WaitTimeout {
                        waited_for: waited_for(),
                        timeout,
                        stats: data.stats,
                        received: describe_all(select(&data)),
                        rejected: rejected(&data.requests),
                    });
                }
            }
        }
    }
}

fn rejected(requests: &[ExportRequest]) -> Vec<String> {
    let mut errors: Vec<String> = requests
        .iter()
        .rev()
        .filter_map(|r| {
            let e = r.error.as_ref()?;
            Some(format!("{:?} {:?}: {e}", r.transport, r.signal))
        })
        .take(10)
        .collect();
    errors.reverse();
    errors
}

/// One-line description of a received item, for timeout messages.
pub(crate) trait Describe {
    const NOUN: &'static str;
    fn describe(&self, out: &mut String);
}

fn describe_all<T: Describe>(items: &[T]) -> String {
    let mut out = format!("received {} {}(s)", items.len(), T::NOUN);
    if items.is_empty() {
        return out;
    }
    out.push(':');
    for (i, item) in items.iter().take(MAX_LISTED).enumerate() {
        let _ = write!(out, "\n  [{i}] ");
        item.describe(&mut out);
    }
    if items.len() > MAX_LISTED {
        let _ = write!(out, "\n  ... and {} more", items.len() - MAX_LISTED);
    }
    out
}

fn push_truncated(out: &mut String, s: &str) {
    if s.len() <= MAX_ATTRS_CHARS {
        out.push_str(s);
    } else {
        let mut end = MAX_ATTRS_CHARS;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        out.push_str(&s[..end]);
        out.push('…');
    }
}

impl Describe for Span {
    const NOUN: &'static str = "span";

    fn describe(&self, out: &mut String) {
        let _ = write!(
            out,
            "{:?} kind={:?} trace={} span={} parent={} status={:?} service={:?} scope={:?} attrs=",
            self.name,
            self.kind,
            self.trace_id,
            self.span_id,
            self.parent_span_id.as_deref().unwrap_or("-"),
            self.status.code,
            self.service_name().unwrap_or(""),
            self.scope_name,
        );
        push_truncated(out, &self.attributes.to_string());
    }
}

impl Describe for MetricPoint {
    const NOUN: &'static str = "metric point";

    fn describe(&self, out: &mut String) {
        let _ = write!(
            out,
            "{:?} kind={:?} unit={:?} value={} service={:?} scope={:?} attrs=",
            self.name,
            self.kind,
            self.unit,
            self.value,
            self.service_name().unwrap_or(""),
            self.scope_name,
        );
        push_truncated(out, &self.attributes.to_string());
    }
}

impl Describe for LogRecord {
    const NOUN: &'static str = "log record";

    fn describe(&self, out: &mut String) {
        let mut body = String::new();
        if let Some(b) = &self.body {
            push_truncated(&mut body, &b.to_string());
        }
        let _ = write!(
            out,
            "severity={} {:?} body={:?} trace={} span={} service={:?} scope={:?} attrs=",
            self.severity_number,
            self.severity_text,
            body,
            self.trace_id.as_deref().unwrap_or("-"),
            self.span_id.as_deref().unwrap_or("-"),
            self.service_name().unwrap_or(""),
            self.scope_name,
        );
        push_truncated(out, &self.attributes.to_string());
    }
}
