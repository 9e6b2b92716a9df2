//! The HTTP server metrics of the semantic conventions, for every request but the probes
//! (which are not traced either): `http.server.request.duration` and
//! `http.server.active_requests`, with the same bounded attributes as the server span.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use opentelemetry::KeyValue;

use crate::http_tracing::{is_probe, known_method};
use crate::metrics::instruments;

// ANCHOR: record_request
/// Middleware (`axum::middleware::from_fn`) in both services' routers.
pub async fn record_request(request: Request, next: Next) -> Response {
    if is_probe(request.uri().path()) {
        return next.run(request).await;
    }
    // ANCHOR: request_attributes
    // A method we do not know is `_OTHER`, and an unknown route has no `http.route`: what
    // a client sends never becomes a new time series.
    let method = known_method(request.method()).unwrap_or("_OTHER");
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|route| KeyValue::new("http.route", route.as_str().to_owned()));
    let mut attributes = vec![
        KeyValue::new("http.request.method", method),
        KeyValue::new("url.scheme", "http"),
    ];
    let active = ActiveRequest::start(&attributes);
    let started = Instant::now();
    let response = next.run(request).await;
    let duration = started.elapsed().as_secs_f64();
    drop(active);
    // ANCHOR_END: request_attributes

    // ANCHOR: response_attributes
    let status = response.status();
    attributes.push(KeyValue::new(
        "http.response.status_code",
        i64::from(status.as_u16()),
    ));
    attributes.extend(route);
    if status.is_server_error() {
        attributes.push(KeyValue::new("error.type", status.as_str().to_owned()));
    }
    instruments()
        .http_server_duration
        .record(duration, &attributes);
    response
    // ANCHOR_END: response_attributes
}
// ANCHOR_END: record_request

/// One more active request until dropped: also when the client goes away and the request's
/// future is dropped half-way, which would otherwise leave the count one too high for ever.
struct ActiveRequest {
    attributes: Vec<KeyValue>,
}

impl ActiveRequest {
    fn start(attributes: &[KeyValue]) -> Self {
        instruments().http_server_active_requests.add(1, attributes);
        Self {
            attributes: attributes.to_vec(),
        }
    }
}

impl Drop for ActiveRequest {
    fn drop(&mut self) {
        instruments()
            .http_server_active_requests
            .add(-1, &self.attributes);
    }
}
