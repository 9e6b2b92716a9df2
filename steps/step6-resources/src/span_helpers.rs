//! Marking a span failed, and copying a baggage entry onto it: the service's own helpers,
//! used across its modules (as `crate::telemetry::…`, where steps 2-5 had them).

use opentelemetry::Context;
use opentelemetry::baggage::BaggageExt;
use opentelemetry::trace::Status;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

// ANCHOR: mark_failed
/// Mark `span` as failed: status Error, with `error.type`, the low-cardinality name of the
/// failure that the semantic conventions group errors by (`"500"`, `"timeout"`, `"23505"`).
pub fn mark_failed(span: &Span, error_type: &str, description: &dyn std::fmt::Display) {
    span.set_status(Status::error(description.to_string()));
    span.set_attribute("error.type", error_type.to_owned());
}
// ANCHOR_END: mark_failed

// ANCHOR: baggage
/// Copy one W3C baggage entry the caller sent (`baggage: session.id=…`) onto the current
/// span. Only this key: copying all of it would let callers write any attribute on our spans.
pub fn record_baggage_entry(key: &'static str) {
    let context = Context::current();
    if let Some(value) = context.baggage().get(key) {
        Span::current().set_attribute(key, value.to_string());
    }
}
// ANCHOR_END: baggage
