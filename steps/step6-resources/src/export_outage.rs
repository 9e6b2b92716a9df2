//! Say once that the OTLP collector is unreachable, and once that it is back, for every
//! signal. The SDK reports its own work as `tracing` events: each failed export as
//! `<Processor>.ExportError` (`BatchSpanProcessor`, and `PeriodicReader` and
//! `BatchLogProcessor` once metrics and logs are exported), each successful one as
//! `<Client>.ExportSucceeded` (debug level). This layer listens to those two kinds of events
//! only; the stdout filter hides the first kind, so a down collector is one warning, not one
//! every few seconds. Requests are never slowed down by an outage: exports run on the SDK's
//! own threads, and what cannot be sent is dropped.

use tracing::field::{Field, Visit};
use tracing::{Event, Metadata, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{FilterFn, filter_fn};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use crate::outage::OutageLog;

/// A failed export, as the processor reports it (with the `error`).
fn is_export_error(metadata: &Metadata<'_>) -> bool {
    metadata.name().ends_with(".ExportError")
}

/// The OTLP exporter's own warning when it gives up retrying an export
/// (`Export.Failed.Exhausted`, `…DeadlineExceeded`, …), just before the processor's error.
fn is_retry_warning(metadata: &Metadata<'_>) -> bool {
    metadata.name().starts_with("Export.Failed.")
}

fn is_export_success(metadata: &Metadata<'_>) -> bool {
    metadata.name().ends_with(".ExportSucceeded")
}

/// For the stdout layer: everything but the SDK's failed-export events.
pub fn not_an_export_error() -> FilterFn<impl Fn(&Metadata<'_>) -> bool> {
    filter_fn(|metadata| !is_export_error(metadata) && !is_retry_warning(metadata))
}

/// The layer that turns the SDK's export outcomes into one warning per outage. Its filter
/// also keeps the service's own log lines complete: it rejects nearly every callsite, so no
/// callsite is cached as "always enabled" — with per-layer filters that all accept a callsite,
/// tracing-subscriber can drop its events after a `log`-crate record (sqlx, librdkafka) was
/// filtered in between (tokio-rs/tracing#2704, #3572). A contract test guards it.
pub fn layer<S>() -> impl Layer<S>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
{
    ExportOutage {
        outage: OutageLog::new(
            collector_description(),
            "telemetry is dropped",
            "Start the stack with `make up`, or point OTEL_EXPORTER_OTLP_ENDPOINT at a collector.",
        ),
    }
    .with_filter(filter_fn(|metadata| {
        is_export_error(metadata) || is_export_success(metadata)
    }))
}

struct ExportOutage {
    outage: OutageLog,
}

// ANCHOR: export_outage
impl<S: Subscriber> Layer<S> for ExportOutage {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        if is_export_success(event.metadata()) {
            self.outage.succeeded();
        } else {
            let mut error = ErrorField::default();
            event.record(&mut error);
            self.outage.failed(&error.0);
        }
    }
}
// ANCHOR_END: export_outage

/// The `error` field of an `ExportError` event.
#[derive(Default)]
struct ErrorField(String);

impl Visit for ErrorField {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "error" {
            value.clone_into(&mut self.0);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "error" {
            self.0 = format!("{value:?}");
        }
    }
}

/// Where telemetry goes, in words, for the outage message.
fn collector_description() -> String {
    match std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT") {
        Ok(endpoint) if !endpoint.is_empty() => format!("the OTLP collector at {endpoint}"),
        _ => "the OTLP collector at the default endpoint (localhost:4318, or :4317 for gRPC)"
            .to_owned(),
    }
}
