//! The telemetry of a service, in one module to copy: traces, metrics and logs over OTLP,
//! described by one resource, and the same log events on stdout.
//!
//! [`init`] builds the three providers in the order of the SDK's own example (meter, logger,
//! tracer: the later ones may record metrics about themselves) and installs the `tracing`
//! layers; the guard it returns shuts them down in reverse (tracer, logger, meter) once the
//! server has drained. Everything is configured by the standard `OTEL_*` variables (the README
//! lists the ones the Rust SDK reads, and those it does not), plus `LOG_FORMAT` and
//! `LOG_EXPORT_FILTER` of this project. Export failures are said once per outage
//! (`export_outage.rs`); requests never wait for an export.

use std::io::IsTerminal;
use std::time::Duration;

use opentelemetry::propagation::TextMapCompositePropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{KeyValue, global};
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_otlp::{ExporterBuildError, LogExporter, MetricExporter, SpanExporter};
use opentelemetry_resource_detectors::{
    ContainerResourceDetector, HostResourceDetector, OsResourceDetector, ProcessResourceDetector,
    ServiceInstanceIdResourceDetector,
};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use opentelemetry_sdk::resource::{EnvResourceDetector, TelemetryResourceDetector};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_semantic_conventions::{SCHEMA_URL, resource as semconv};
use tokio::sync::oneshot;
use tracing::{Level, Subscriber};
use tracing_subscriber::filter::{FilterExt, ParseError, filter_fn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::{export_outage, json_logs};

// The two span helpers of steps 2-5, kept apart since step 6: they are this service's, not
// part of the set-up to copy.
pub use crate::span_helpers::{mark_failed, record_baggage_entry};

// ANCHOR: filters
/// What stdout shows when `RUST_LOG` is unset (Postgres notices from the migrations are not
/// news; the SDK's own warnings are).
const DEFAULT_LOG_FILTER: &str = "info,sqlx::postgres::notice=warn,opentelemetry=warn";

/// What is exported when `LOG_EXPORT_FILTER` is unset: apart from `RUST_LOG`, so that a
/// chatty terminal does not multiply what the backend stores.
const DEFAULT_EXPORT_FILTER: &str = "info,sqlx::postgres::notice=warn";

/// Which spans become OpenTelemetry spans, whatever `RUST_LOG` says.
const TRACE_FILTER: &str = "info";

/// The crates that export: never traced, never exported as log records, whatever the filters
/// say. Their events would be sent by themselves, which log again: a loop
/// (open-telemetry/opentelemetry-rust#2877).
const EXPORTER_STACK: [&str; 6] = ["opentelemetry", "hyper", "h2", "tonic", "tower", "reqwest"];
// ANCHOR_END: filters

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

/// The three providers; `None` in the guard when `OTEL_SDK_DISABLED=true`.
struct Providers {
    meter: SdkMeterProvider,
    logger: SdkLoggerProvider,
    tracer: SdkTracerProvider,
}

type BoxedLayer<S> = Box<dyn Layer<S> + Send + Sync>;

/// Keeps the providers alive; [`TelemetryGuard::shutdown`] flushes them.
#[must_use = "call shutdown() after the server has drained, or the last telemetry is lost"]
pub struct TelemetryGuard(Option<Providers>);

// ANCHOR: init
/// Set up telemetry for `service_name` (the default of `service.name`). Call it inside the
/// tokio runtime: the gRPC exporter needs one.
pub fn init(service_name: &str) -> Result<TelemetryGuard, TelemetryError> {
    // The specification's off switch, which the Rust SDK does not read: logs on stdout only.
    let disabled = std::env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.eq_ignore_ascii_case("true"));
    let providers = if disabled {
        None
    } else {
        Some(Providers::new(resource(service_name))?)
    };
    // Without this, incoming `traceparent` headers are ignored: every request a new trace.
    global::set_text_map_propagator(TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
    ]));
    let (exported_logs, traces) = match &providers {
        Some(providers) => (
            Some(bridge(&providers.logger)?),
            Some(traces(&providers.tracer)),
        ),
        None => (None, None),
    };
    tracing_subscriber::registry()
        .with(stdout_logs()?)
        .with(exported_logs)
        .with(traces)
        .with(export_outage::layer())
        .init();
    if disabled {
        tracing::info!("OTEL_SDK_DISABLED=true: no telemetry is exported");
    }
    Ok(TelemetryGuard(providers))
}
// ANCHOR_END: init

// ANCHOR: resource
/// What produces the telemetry, the same on every span, metric point and log record. Each
/// source overrides the ones before it: our defaults, then what the process can find out
/// about itself, then the environment (`OTEL_RESOURCE_ATTRIBUTES`, `OTEL_SERVICE_NAME`).
fn resource(service_name: &str) -> Resource {
    let defaults = [
        KeyValue::new(semconv::SERVICE_NAME, service_name.to_owned()),
        KeyValue::new(semconv::SERVICE_VERSION, env!("CARGO_PKG_VERSION")),
        KeyValue::new(semconv::SERVICE_NAMESPACE, "workshop"),
        KeyValue::new(semconv::DEPLOYMENT_ENVIRONMENT_NAME, "development"),
    ];
    let resource = Resource::builder_empty()
        .with_schema_url(defaults, SCHEMA_URL)
        .with_detectors(&[
            // A random id per process: tells two replicas of a service apart.
            Box::new(ServiceInstanceIdResourceDetector),
            Box::new(HostResourceDetector::default()), // host.name, host.id, host.arch
            Box::new(OsResourceDetector),              // os.type
            Box::new(ProcessResourceDetector),         // process.pid, runtime, arguments
            Box::new(ContainerResourceDetector),       // container.id, in a container
            Box::new(TelemetryResourceDetector),       // telemetry.sdk.*
            Box::new(EnvResourceDetector::new()),      // OTEL_RESOURCE_ATTRIBUTES
        ]);
    match std::env::var("OTEL_SERVICE_NAME") {
        Ok(name) if !name.is_empty() => resource.with_service_name(name).build(),
        _ => resource.build(),
    }
}
// ANCHOR_END: resource

// ANCHOR: providers
impl Providers {
    /// Each exporter picks its transport from `OTEL_EXPORTER_OTLP_(<SIGNAL>_)PROTOCOL`
    /// (`http/protobuf` by default, or `grpc`) and its endpoint from
    /// `OTEL_EXPORTER_OTLP_(<SIGNAL>_)ENDPOINT`.
    fn new(resource: Resource) -> Result<Self, ExporterBuildError> {
        // Metrics: aggregated in memory, exported every OTEL_METRIC_EXPORT_INTERVAL ms.
        let meter = SdkMeterProvider::builder()
            .with_resource(resource.clone())
            .with_periodic_exporter(MetricExporter::builder().build()?)
            .build();
        global::set_meter_provider(meter.clone());
        crate::metrics::observe_process_and_runtime();
        // Logs and spans: batched on a thread of their own (OTEL_BLRP_*, OTEL_BSP_*).
        let logger = SdkLoggerProvider::builder()
            .with_resource(resource.clone())
            .with_batch_exporter(LogExporter::builder().build()?)
            .build();
        let tracer = SdkTracerProvider::builder()
            .with_resource(resource)
            .with_batch_exporter(SpanExporter::builder().build()?)
            .build();
        global::set_tracer_provider(tracer.clone());
        Ok(Self {
            meter,
            logger,
            tracer,
        })
    }
}
// ANCHOR_END: providers

// ANCHOR: layers
/// Stdout: text (colours on a terminal, plain when piped) or `LOG_FORMAT=json`, at `RUST_LOG`.
fn stdout_logs<S: Subscriber + for<'a> LookupSpan<'a>>() -> Result<BoxedLayer<S>, TelemetryError> {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER))
        // A failed export is said once per outage by `export_outage`, and spans are for
        // Tempo: log lines only.
        .and(export_outage::not_an_export_error())
        .and(filter_fn(|metadata| metadata.is_event()));
    let layer = tracing_subscriber::fmt::layer();
    match std::env::var("LOG_FORMAT").as_deref() {
        Err(_) | Ok("" | "text") => Ok(layer
            .with_ansi(std::io::stdout().is_terminal())
            .with_filter(filter)
            .boxed()),
        Ok("json") => Ok(layer
            .event_format(json_logs::JsonLines)
            .with_filter(filter)
            .boxed()),
        Ok(other) => Err(TelemetryError::LogFormat(other.to_owned())),
    }
}

/// The events as OTLP log records, with the trace and span they were written in.
fn bridge<S: Subscriber + for<'a> LookupSpan<'a>>(
    logger: &SdkLoggerProvider,
) -> Result<impl Layer<S>, TelemetryError> {
    let filter = match std::env::var("LOG_EXPORT_FILTER") {
        Ok(directives) => EnvFilter::try_new(directives)?,
        Err(_) => EnvFilter::new(DEFAULT_EXPORT_FILTER),
    };
    Ok(
        OpenTelemetryTracingBridge::new(logger).with_filter(filter.and(filter_fn(|metadata| {
            !from_exporter_stack(metadata.target())
        }))),
    )
}

/// The `tracing` spans as OpenTelemetry spans. Events are log records, not also span events;
/// except errors: from an ERROR event the layer marks its span failed, and shows it there.
fn traces<S: Subscriber + for<'a> LookupSpan<'a>>(tracer: &SdkTracerProvider) -> impl Layer<S> {
    tracing_opentelemetry::layer()
        // The instrumentation scope: our own code, named the same in every step.
        .with_tracer(tracer.tracer("workshop"))
        // Without these, every span carries code.*, thread.* and busy/idle timings.
        .with_location(false)
        .with_threads(false)
        .with_target(false)
        .with_tracked_inactivity(false)
        .with_filter(EnvFilter::new(TRACE_FILTER).and(filter_fn(|metadata| {
            !from_exporter_stack(metadata.target())
                && (metadata.is_span() || *metadata.level() == Level::ERROR)
        })))
}

fn from_exporter_stack(target: &str) -> bool {
    EXPORTER_STACK.iter().any(|krate| target.starts_with(krate))
}
// ANCHOR_END: layers

// ANCHOR: shutdown
impl TelemetryGuard {
    /// Export what is still buffered, and stop: call it after the server has drained. The
    /// providers shut down in reverse order of their building, on a thread of their own (it
    /// blocks, and the gRPC exporter needs this runtime meanwhile); the service waits for
    /// them at most [`FLUSH_TIMEOUT`] in all.
    pub async fn shutdown(self) {
        let Some(providers) = self.0 else { return };
        let (done, flushed) = oneshot::channel();
        std::thread::spawn(move || {
            let _ = done.send([
                (
                    "spans",
                    providers.tracer.shutdown_with_timeout(FLUSH_TIMEOUT),
                ),
                (
                    "log records",
                    providers.logger.shutdown_with_timeout(FLUSH_TIMEOUT),
                ),
                ("metrics", providers.meter.shutdown()),
            ]);
        });
        match tokio::time::timeout(FLUSH_TIMEOUT, flushed).await {
            Ok(Ok(results)) => {
                for (signal, result) in results {
                    if let Err(err) = result {
                        eprintln!("warning: {signal} may be lost, shutdown failed: {err}");
                    }
                }
            }
            Ok(Err(_)) => eprintln!("warning: telemetry shutdown panicked; some may be lost"),
            Err(_) => eprintln!("warning: telemetry not flushed within {FLUSH_TIMEOUT:?}"),
        }
    }
}
// ANCHOR_END: shutdown
