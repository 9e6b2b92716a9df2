//! Trace context through Kafka: the W3C `traceparent` and `baggage` travel as message
//! headers. OpenTelemetry's propagators read and write any carrier through the `Injector`
//! and `Extractor` traits; these two adapt them to rdkafka's headers.

use std::collections::HashMap;

use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::{Context, global};
use rdkafka::message::{BorrowedHeaders, Header, Headers, OwnedHeaders};
use tracing_opentelemetry::OpenTelemetrySpanExt;

// ANCHOR: injector
/// Writes propagation fields as headers of a message being produced.
pub struct KafkaHeaderInjector(OwnedHeaders);

impl KafkaHeaderInjector {
    /// The headers with the trace context of `context` in them.
    pub fn headers_for(context: &Context) -> OwnedHeaders {
        let mut injector = Self(OwnedHeaders::new());
        global::get_text_map_propagator(|propagator| {
            propagator.inject_context(context, &mut injector);
        });
        injector.0
    }
}

impl Injector for KafkaHeaderInjector {
    fn set(&mut self, key: &str, value: String) {
        let headers = std::mem::replace(&mut self.0, OwnedHeaders::new());
        self.0 = headers.insert(Header {
            key,
            value: Some(value.as_bytes()),
        });
    }
}
// ANCHOR_END: injector

// ANCHOR: extractor
/// Reads propagation fields from the headers of a consumed message. A message without
/// headers, or with headers that are not valid UTF-8, yields an empty context: the consumer
/// then starts a new trace instead of failing.
pub struct KafkaHeaderExtractor<'a>(pub Option<&'a BorrowedHeaders>);

impl Extractor for KafkaHeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        let header = self.0?.iter().find(|header| header.key == key)?;
        std::str::from_utf8(header.value?).ok()
    }

    fn keys(&self) -> Vec<&str> {
        self.0
            .map(|headers| headers.iter().map(|header| header.key).collect())
            .unwrap_or_default()
    }
}

impl KafkaHeaderExtractor<'_> {
    pub fn context(&self) -> Context {
        global::get_text_map_propagator(|propagator| propagator.extract(self))
    }
}
// ANCHOR_END: extractor

/// The current span's trace context as plain `name → value` pairs, to be stored with an
/// event in the outbox table and sent as Kafka headers later.
pub fn current_context_headers() -> HashMap<String, String> {
    let mut headers = HashMap::new();
    let context = tracing::Span::current().context();
    global::get_text_map_propagator(|propagator| propagator.inject_context(&context, &mut headers));
    headers
}

/// The trace context stored by [`current_context_headers`]; empty if the JSON is unusable.
pub fn context_from_stored_headers(json: &str) -> Context {
    let headers: HashMap<String, String> = serde_json::from_str(json).unwrap_or_default();
    global::get_text_map_propagator(|propagator| propagator.extract(&headers))
}
