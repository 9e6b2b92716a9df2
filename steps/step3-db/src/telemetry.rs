//! Telemetry: logs on stdout (as in step 1) and, new in step 2, traces exported over OTLP.
//!
//! The pieces, in the order data flows through them:
//! 1. `tracing` spans (`#[instrument]`, the HTTP layer in `http_tracing.rs`) are turned into
//!    OpenTelemetry spans by the `tracing-opentelemetry` layer;
//! 2. the SDK's tracer provider batches finished spans on a background thread;
//! 3. the OTLP exporter sends each batch to a collector, over HTTP/protobuf (default) or gRPC.
//!
//! Configuration is the standard `OTEL_*` environment: `OTEL_EXPORTER_OTLP_ENDPOINT` (default
//! `http://localhost:4318`, or `:4317` for gRPC), `OTEL_EXPORTER_OTLP_PROTOCOL`,
//! `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_BSP_SCHEDULE_DELAY`, …

use std::io::IsTerminal;
use std::time::Duration;

use opentelemetry::baggage::BaggageExt;
use opentelemetry::propagation::TextMapCompositePropagator;
use opentelemetry::trace::{Status, TracerProvider as _};
use opentelemetry::{Context, global};
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::export_outage::OutageReportingExporter;

// ANCHOR: filters
/// Used when `RUST_LOG` is unset. Postgres notices such as "relation already exists,
/// skipping" (from the migrations) are not news. The OpenTelemetry SDK logs every failed
/// export; `export_outage.rs` reports a collector outage once instead.
const DEFAULT_LOG_FILTER: &str = "info,sqlx::postgres::notice=warn,opentelemetry=off";

/// Which spans become OpenTelemetry spans. Separate from `RUST_LOG`, so that quieter logs
/// (`RUST_LOG=warn`) do not silently switch tracing off. The SDK's own events are never
/// traced: that would be telemetry about exporting telemetry.
const TRACE_FILTER: &str = "info,opentelemetry=off";
// ANCHOR_END: filters

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error(
        "unsupported OTEL_EXPORTER_OTLP_PROTOCOL {0:?}: use http/protobuf (the default) or grpc"
    )]
    UnsupportedProtocol(String),
    #[error("cannot build the OTLP span exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
}

/// Keeps the tracer provider alive; [`TelemetryGuard::shutdown`] flushes it.
#[must_use = "call shutdown() after the server has drained, or the last spans are lost"]
pub struct TelemetryGuard {
    tracer_provider: SdkTracerProvider,
}

/// Set up logs and traces for `service_name` (overridden by `OTEL_SERVICE_NAME`).
/// Call it inside the tokio runtime: the gRPC exporter needs one.
pub fn init(service_name: &str) -> Result<TelemetryGuard, TelemetryError> {
    // ANCHOR: tracer_provider
    let resource = Resource::builder()
        .with_service_name(
            std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| service_name.to_owned()),
        )
        .build();
    let exporter = OutageReportingExporter::new(span_exporter()?, collector_description());
    let tracer_provider = SdkTracerProvider::builder()
        .with_resource(resource)
        .with_batch_exporter(exporter)
        .build();
    global::set_tracer_provider(tracer_provider.clone());
    // ANCHOR_END: tracer_provider

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
        .with_filter(log_filter);
    let traces = tracing_opentelemetry::layer()
        .with_tracer(tracer_provider.tracer(env!("CARGO_PKG_NAME")))
        // Without these, every span carries code.*, thread.* and busy/idle timings.
        .with_location(false)
        .with_threads(false)
        .with_target(false)
        .with_tracked_inactivity(false)
        .with_filter(EnvFilter::new(TRACE_FILTER));
    tracing_subscriber::registry()
        .with(stdout_logs)
        .with(traces)
        .init();
    // ANCHOR_END: subscriber

    Ok(TelemetryGuard { tracer_provider })
}

/// HTTP/protobuf unless `OTEL_EXPORTER_OTLP_PROTOCOL=grpc`. Chosen here rather than by
/// `SpanExporter::builder().build()`, whose fallback depends on which crate features happen
/// to be enabled in the build.
fn span_exporter() -> Result<SpanExporter, TelemetryError> {
    let protocol = std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL").unwrap_or_default();
    let exporter = match protocol.trim() {
        "" | "http/protobuf" => SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .build()?,
        "grpc" => SpanExporter::builder().with_tonic().build()?,
        other => return Err(TelemetryError::UnsupportedProtocol(other.to_owned())),
    };
    Ok(exporter)
}

/// Where spans go, in words, for the outage message.
fn collector_description() -> String {
    let configured = [
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ]
    .into_iter()
    .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()));
    match configured {
        Some(endpoint) => format!("the OTLP collector at {endpoint}"),
        None => "the OTLP collector at the default endpoint (localhost:4318, or :4317 for gRPC)"
            .to_owned(),
    }
}

// ANCHOR: shutdown
impl TelemetryGuard {
    /// Export the spans still in the batch and stop. Call it after the server has drained,
    /// so that the last requests' spans are included. Shutting down blocks (it waits for the
    /// export), so it runs on a blocking thread, not on the async runtime.
    pub async fn shutdown(self) {
        let provider = self.tracer_provider;
        let flushed = tokio::task::spawn_blocking(move || {
            provider.shutdown_with_timeout(Duration::from_secs(5))
        })
        .await;
        match flushed {
            Ok(Ok(())) => {}
            Ok(Err(err)) => eprintln!("warning: spans may be lost, tracer shutdown failed: {err}"),
            Err(err) => eprintln!("warning: tracer shutdown panicked: {err}"),
        }
    }
}
// ANCHOR_END: shutdown

// ANCHOR: record_error
/// Mark the current span as failed, without logging: for failures that the caller already
/// reports (a cache or Kafka outage is logged once, not once per span).
pub fn record_error(error: &dyn std::fmt::Display) {
    tracing::Span::current().set_status(Status::error(error.to_string()));
}
// ANCHOR_END: record_error

// ANCHOR: baggage
/// Copy one W3C baggage entry that the caller sent (header `baggage: session.id=…`) onto the
/// current span, so that it can be searched for in Tempo.
pub fn record_baggage_entry(key: &'static str) {
    let context = Context::current();
    if let Some(value) = context.baggage().get(key) {
        tracing::Span::current().set_attribute(key, value.to_string());
    }
}
// ANCHOR_END: baggage
