//! Telemetry: logs on stdout (as in step 1), traces exported over OTLP (step 2) and, new in
//! step 4, metrics exported over OTLP.
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
//! Configuration is the standard `OTEL_*` environment: `OTEL_EXPORTER_OTLP_ENDPOINT` (default
//! `http://localhost:4318`, or `:4317` for gRPC), `OTEL_EXPORTER_OTLP_PROTOCOL` (or the
//! per-signal `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`: `http/protobuf`, the default, or `grpc`),
//! `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_BSP_SCHEDULE_DELAY`, …
//! (`OTEL_EXPORTER_OTLP_METRICS_PROTOCOL` for metrics).

use std::io::IsTerminal;
use std::time::Duration;

use opentelemetry::baggage::BaggageExt;
use opentelemetry::propagation::TextMapCompositePropagator;
use opentelemetry::trace::{Status, TracerProvider as _};
use opentelemetry::{Context, global};
use opentelemetry_otlp::{ExporterBuildError, MetricExporter, SpanExporter};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tokio::sync::oneshot;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::{FilterExt, filter_fn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::export_outage;

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

/// The telemetry's share of the 10 s that SIGTERM may take (see `server.rs`).
const FLUSH_TIMEOUT: Duration = Duration::from_secs(3);

/// Keeps the providers alive; [`TelemetryGuard::shutdown`] flushes them.
#[must_use = "call shutdown() after the server has drained, or the last spans and metrics are lost"]
pub struct TelemetryGuard {
    tracer_provider: SdkTracerProvider,
    meter_provider: SdkMeterProvider,
}

/// Set up logs and traces for `service_name` (overridden by `OTEL_SERVICE_NAME`).
/// Call it inside the tokio runtime: the gRPC exporter needs one.
pub fn init(service_name: &str) -> Result<TelemetryGuard, ExporterBuildError> {
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
        .with_resource(resource)
        .with_periodic_exporter(metric_exporter)
        .build();
    global::set_meter_provider(meter_provider.clone());
    // ANCHOR_END: meter_provider
    // Before the first request: process and runtime figures, read at each export.
    crate::metrics::observe_process_and_runtime();

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
    let stdout_logs = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::stdout().is_terminal())
        .with_filter(
            log_filter
                // A failed export is said once per outage by `export_outage`.
                .and(export_outage::not_an_export_error())
                // Log lines only, as in step 1: spans are for Tempo (formatting their
                // fields for stdout cost 4-8 µs per request: bench/FINDINGS.md).
                .and(filter_fn(|metadata| metadata.is_event())),
        );
    let traces = tracing_opentelemetry::layer()
        // The instrumentation scope: our own code, named the same in every step.
        .with_tracer(tracer_provider.tracer("workshop"))
        // Without these, every span carries code.*, thread.* and busy/idle timings.
        .with_location(false)
        .with_threads(false)
        .with_target(false)
        .with_tracked_inactivity(false)
        .with_filter(EnvFilter::new(TRACE_FILTER));
    tracing_subscriber::registry()
        .with(stdout_logs)
        .with(traces)
        .with(export_outage::layer())
        .init();
    // ANCHOR_END: subscriber

    Ok(TelemetryGuard {
        tracer_provider,
        meter_provider,
    })
}

// ANCHOR: shutdown
impl TelemetryGuard {
    /// Export the spans still in the batch and the metrics recorded since the last export,
    /// and stop. Call it after the server has drained, so that the last requests are
    /// included. Both providers shut down side by side, each on a thread of its own (it
    /// blocks, and the gRPC exporter needs this runtime's workers meanwhile), and the service
    /// waits for them at most [`FLUSH_TIMEOUT`].
    pub async fn shutdown(self) {
        let tracer_provider = self.tracer_provider;
        let traces = on_own_thread(move || tracer_provider.shutdown_with_timeout(FLUSH_TIMEOUT));
        let meter_provider = self.meter_provider;
        let metrics = on_own_thread(move || meter_provider.shutdown());
        let both = async { tokio::join!(traces, metrics) };
        let Ok((traces, metrics)) = tokio::time::timeout(FLUSH_TIMEOUT, both).await else {
            eprintln!("warning: telemetry not flushed within {FLUSH_TIMEOUT:?}; some may be lost");
            return;
        };
        for (signal, flushed) in [("spans", traces), ("metrics", metrics)] {
            match flushed {
                Ok(Ok(())) => {}
                Ok(Err(err)) => eprintln!("warning: {signal} may be lost, shutdown failed: {err}"),
                Err(_) => eprintln!("warning: {signal} shutdown panicked"),
            }
        }
    }
}

/// Runs `shutdown` on a thread that the process does not wait for at exit (a blocking task
/// would hold the runtime's exit as long as the SDK's own 5 s wait for its metric reader).
fn on_own_thread(
    shutdown: impl FnOnce() -> OTelSdkResult + Send + 'static,
) -> oneshot::Receiver<OTelSdkResult> {
    let (done, result) = oneshot::channel();
    std::thread::spawn(move || {
        let _ = done.send(shutdown());
    });
    result
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
