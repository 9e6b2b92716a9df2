//! Telemetry: traces (step 2), metrics (step 4) and, new in step 5, logs, all exported over
//! OTLP; the same log events also go to stdout for the person at the terminal.
//!
//! The pieces, in the order data flows through them:
//! 1. `tracing` spans (`#[instrument]`, the HTTP layer in `http_tracing.rs`) are turned into
//!    OpenTelemetry spans by the `tracing-opentelemetry` layer;
//! 2. the SDK's tracer provider batches finished spans on a background thread;
//! 3. the OTLP exporter sends each batch to a collector.
//!
//! Metrics take a shorter road: instruments (`metrics.rs`) add to aggregates in memory, and
//! the meter provider's periodic reader exports them every `OTEL_METRIC_EXPORT_INTERVAL`
//! milliseconds (default 60 000; `make run` uses 5 000 so that a workshop sees numbers move).
//!
//! Logs are the service's `tracing` events (`info!`, `warn!`, …): one event, two outputs.
//! The fmt layer prints it (`RUST_LOG` sets how much); the OpenTelemetry bridge turns it
//! into a log record, stamped with the trace and span it was written in, that the logger
//! provider batches and exports like spans (`LOG_EXPORT_FILTER` sets how much).
//!
//! Configuration is the standard `OTEL_*` environment: `OTEL_EXPORTER_OTLP_ENDPOINT` (default
//! `http://localhost:4318`, or `:4317` for gRPC), `OTEL_EXPORTER_OTLP_PROTOCOL` (or the
//! per-signal `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`: `http/protobuf`, the default, or `grpc`),
//! `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_BSP_SCHEDULE_DELAY`, …
//! (`OTEL_EXPORTER_OTLP_METRICS_PROTOCOL` for metrics, `…_LOGS_PROTOCOL` and
//! `OTEL_BLRP_SCHEDULE_DELAY` for logs); and two of this project: `LOG_FORMAT` (`text`, the
//! default, or `json`) and `LOG_EXPORT_FILTER` (default `info`).

use std::io::IsTerminal;
use std::time::Duration;

use opentelemetry::baggage::BaggageExt;
use opentelemetry::propagation::TextMapCompositePropagator;
use opentelemetry::trace::{Status, TracerProvider as _};
use opentelemetry::{Context, global};
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_otlp::{ExporterBuildError, LogExporter, MetricExporter, SpanExporter};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tokio::sync::oneshot;
use tracing::{Level, Span};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::{FilterExt, ParseError, filter_fn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::{export_outage, json_logs};

// ANCHOR: filters
/// Used when `RUST_LOG` is unset. Postgres notices such as "relation already exists,
/// skipping" (from the migrations) are not news. The OpenTelemetry SDK's own warnings stay
/// visible (e.g. "dropped a span, queue full").
const DEFAULT_LOG_FILTER: &str = "info,sqlx::postgres::notice=warn,opentelemetry=warn";

/// Which spans become OpenTelemetry spans. Separate from `RUST_LOG`, so that quieter logs
/// (`RUST_LOG=warn`) do not silently switch tracing off. The exporter's own stack (the SDK,
/// its HTTP and gRPC clients) is never traced: that would be telemetry about telemetry.
const TRACE_FILTER: &str =
    "info,opentelemetry=off,hyper=off,h2=off,tonic=off,tower=off,reqwest=off";
// ANCHOR_END: filters

// ANCHOR: export_filter
/// Which events become exported log records, when `LOG_EXPORT_FILTER` is unset: the
/// service's own `info` and above. Separate from `RUST_LOG`: a developer who turns stdout up
/// to `debug` does not multiply what the backend stores (and pays for).
const DEFAULT_EXPORT_FILTER: &str = "info,sqlx::postgres::notice=warn";

/// Never exported, whatever `LOG_EXPORT_FILTER` says: the crates that export. A record from
/// hyper about sending a batch would be sent by hyper, which logs again — a loop. The SDK
/// silences itself on its own threads, but not these clients' tasks
/// (open-telemetry/opentelemetry-rust#2877), so the bridge must not listen to them.
const EXPORTER_STACK: [&str; 6] = ["opentelemetry", "hyper", "h2", "tonic", "tower", "reqwest"];

fn from_exporter_stack(target: &str) -> bool {
    EXPORTER_STACK.iter().any(|krate| target.starts_with(krate))
}
// ANCHOR_END: export_filter

/// The telemetry's share of the 10 s that SIGTERM may take (see `server.rs`).
const FLUSH_TIMEOUT: Duration = Duration::from_secs(3);

/// Telemetry cannot start: the service stops with exit code 2 and this message.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error(transparent)]
    Exporter(#[from] ExporterBuildError),
    #[error("invalid LOG_FORMAT {0:?}: use `text` (the default) or `json`")]
    LogFormat(String),
    #[error("invalid LOG_EXPORT_FILTER: {0} (RUST_LOG's syntax, e.g. `info` or `warn`)")]
    ExportFilter(#[from] ParseError),
}

/// Keeps the providers alive; [`TelemetryGuard::shutdown`] flushes them.
#[must_use = "call shutdown() after the server has drained, or the last spans, log records and metrics are lost"]
pub struct TelemetryGuard {
    tracer_provider: SdkTracerProvider,
    logger_provider: SdkLoggerProvider,
    meter_provider: SdkMeterProvider,
}

/// Set up traces, metrics and logs for `service_name` (overridden by `OTEL_SERVICE_NAME`).
/// Call it inside the tokio runtime: the gRPC exporter needs one.
pub fn init(service_name: &str) -> Result<TelemetryGuard, TelemetryError> {
    // ANCHOR: tracer_provider
    let resource = Resource::builder()
        .with_service_name(
            std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| service_name.to_owned()),
        )
        .build();
    // HTTP/protobuf, or gRPC when OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL=grpc.
    let exporter = SpanExporter::builder().build()?;
    let tracer_provider = SdkTracerProvider::builder()
        .with_resource(resource.clone())
        .with_batch_exporter(exporter)
        .build();
    global::set_tracer_provider(tracer_provider.clone());
    // ANCHOR_END: tracer_provider

    // ANCHOR: meter_provider
    // The same transport choice (OTEL_EXPORTER_OTLP_(METRICS_)PROTOCOL) and the same
    // resource. Cumulative temporality, the exporter's default, is what Prometheus and Mimir
    // expect; the interval comes from OTEL_METRIC_EXPORT_INTERVAL.
    let metric_exporter = MetricExporter::builder().build()?;
    let meter_provider = SdkMeterProvider::builder()
        .with_resource(resource.clone())
        .with_periodic_exporter(metric_exporter)
        .build();
    global::set_meter_provider(meter_provider.clone());
    // ANCHOR_END: meter_provider
    // Before the first request: process and runtime figures, read at each export.
    crate::metrics::observe_process_and_runtime();

    // ANCHOR: logger_provider
    // Log records take the road of spans: a batch processor on its own thread (every
    // OTEL_BLRP_SCHEDULE_DELAY ms, default 1 000), the same transport choice
    // (OTEL_EXPORTER_OTLP_(LOGS_)PROTOCOL) and the same resource.
    let log_exporter = LogExporter::builder().build()?;
    let logger_provider = SdkLoggerProvider::builder()
        .with_resource(resource)
        .with_batch_exporter(log_exporter)
        .build();
    // ANCHOR_END: logger_provider

    // ANCHOR: propagators
    // The default global propagator does nothing: without this line, incoming
    // `traceparent` headers are ignored and every request starts a new trace.
    global::set_text_map_propagator(TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
    ]));
    // ANCHOR_END: propagators

    // ANCHOR: subscriber
    let log_filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER));
    // ANCHOR: stdout
    let stdout_filter = log_filter
        // A failed export is said once per outage by `export_outage`.
        .and(export_outage::not_an_export_error())
        // Log lines only, as in step 1: spans are for Tempo (formatting their fields for
        // stdout cost 4-8 µs per request: bench/FINDINGS.md).
        .and(filter_fn(|metadata| metadata.is_event()));
    let stdout_logs = match std::env::var("LOG_FORMAT").as_deref() {
        Err(_) | Ok("" | "text") => tracing_subscriber::fmt::layer()
            // Colours for a terminal, plain text when piped to a file or a test.
            .with_ansi(std::io::stdout().is_terminal())
            .with_filter(stdout_filter)
            .boxed(),
        // One JSON object per line, with the trace and span ids, for a log shipper.
        Ok("json") => tracing_subscriber::fmt::layer()
            .event_format(json_logs::JsonLines)
            .with_filter(stdout_filter)
            .boxed(),
        Ok(other) => return Err(TelemetryError::LogFormat(other.to_owned())),
    };
    // ANCHOR_END: stdout
    // ANCHOR: bridge
    let export_filter = match std::env::var("LOG_EXPORT_FILTER") {
        Ok(directives) => EnvFilter::try_new(directives)?,
        Err(_) => EnvFilter::new(DEFAULT_EXPORT_FILTER),
    };
    let exported_logs =
        OpenTelemetryTracingBridge::new(&logger_provider).with_filter(export_filter.and(
            filter_fn(|metadata| !from_exporter_stack(metadata.target())),
        ));
    // ANCHOR_END: bridge
    // ANCHOR: traces
    let traces = tracing_opentelemetry::layer()
        // The instrumentation scope: our own code, named the same in every step.
        .with_tracer(tracer_provider.tracer("workshop"))
        // Without these, every span carries code.*, thread.* and busy/idle timings.
        .with_location(false)
        .with_threads(false)
        .with_target(false)
        .with_tracked_inactivity(false)
        .with_filter(EnvFilter::new(TRACE_FILTER).and(filter_fn(|metadata| {
            // Events are log records now, not also span events. Except errors: from an
            // ERROR event (`error!`, `#[instrument(err)]`) the layer marks the span failed,
            // and adds the error to it as an event, where Tempo shows it.
            metadata.is_span() || *metadata.level() == Level::ERROR
        })));
    // ANCHOR_END: traces
    tracing_subscriber::registry()
        .with(stdout_logs)
        .with(exported_logs)
        .with(traces)
        .with(export_outage::layer())
        .init();
    // ANCHOR_END: subscriber

    Ok(TelemetryGuard {
        tracer_provider,
        logger_provider,
        meter_provider,
    })
}

// ANCHOR: shutdown
impl TelemetryGuard {
    /// Export the spans and log records still in their batches and the metrics recorded
    /// since the last export, and stop. Call it after the server has drained, so that the
    /// last requests are included. The providers shut down in the order of the SDK's own
    /// example: traces, then logs (a span's end may still log), then metrics (the log
    /// processor may still record). They run on a thread of their own (shutdown blocks, and
    /// the gRPC exporter needs this runtime's workers meanwhile), and the service waits for
    /// them at most [`FLUSH_TIMEOUT`].
    pub async fn shutdown(self) {
        let Self {
            tracer_provider,
            logger_provider,
            meter_provider,
        } = self;
        let (done, flushed) = oneshot::channel();
        // Not a blocking task: the process does not wait for this thread at exit, when the
        // SDK's own wait (up to 5 s for the metric reader) outlasts FLUSH_TIMEOUT.
        std::thread::spawn(move || {
            let _ = done.send([
                (
                    "spans",
                    tracer_provider.shutdown_with_timeout(FLUSH_TIMEOUT),
                ),
                (
                    "log records",
                    logger_provider.shutdown_with_timeout(FLUSH_TIMEOUT),
                ),
                ("metrics", meter_provider.shutdown()),
            ]);
        });
        let results = match tokio::time::timeout(FLUSH_TIMEOUT, flushed).await {
            Ok(Ok(results)) => results,
            Ok(Err(_)) => {
                return eprintln!("warning: telemetry shutdown panicked; some may be lost");
            }
            Err(_) => {
                return eprintln!(
                    "warning: telemetry not flushed within {FLUSH_TIMEOUT:?}; some may be lost"
                );
            }
        };
        for (signal, result) in results {
            if let Err(err) = result {
                eprintln!("warning: {signal} may be lost, shutdown failed: {err}");
            }
        }
    }
}
// ANCHOR_END: shutdown

// ANCHOR: mark_failed
/// Mark `span` as failed: status Error, with `error.type`, the low-cardinality name of the
/// failure that the semantic conventions group errors by (`"500"`, `"timeout"`, `"23505"`).
/// The one way this service marks a span that is not its own `#[instrument(err)]` function.
pub fn mark_failed(span: &Span, error_type: &str, description: &dyn std::fmt::Display) {
    span.set_status(Status::error(description.to_string()));
    span.set_attribute("error.type", error_type.to_owned());
}
// ANCHOR_END: mark_failed

// ANCHOR: baggage
/// Copy one W3C baggage entry that the caller sent (header `baggage: session.id=…`) onto the
/// current span, so that it can be searched for in Tempo. Only this key: baggage is set by
/// callers, and copying all of it would let them write any attribute onto our spans.
pub fn record_baggage_entry(key: &'static str) {
    let context = Context::current();
    if let Some(value) = context.baggage().get(key) {
        Span::current().set_attribute(key, value.to_string());
    }
}
// ANCHOR_END: baggage
