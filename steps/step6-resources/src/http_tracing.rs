//! A SERVER span for every HTTP request, named and attributed as the OpenTelemetry
//! semantic conventions say, continuing the caller's trace when it sent a `traceparent`.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, MatchedPath};
use axum::http::uri::Authority;
use axum::http::{Method, Request, Response, header};
use opentelemetry::global;
use opentelemetry_http::HeaderExtractor;
use tracing::Span;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Probes are called every few seconds by orchestrators: tracing them is noise.
pub(crate) fn is_probe(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz")
}

// ANCHOR: server_span
/// The span of one request: `TraceLayer::make_span_with` in both services' routers.
pub fn server_span(request: &Request<Body>) -> Span {
    if is_probe(request.uri().path()) {
        return Span::none();
    }
    // ANCHOR: span_name
    // The route template (`/users/{id}`), never the raw path: span names must have low
    // cardinality. Unknown routes have no template, and the name is just the method.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    let method = known_method(request.method());
    // A method we do not know (`curl -X BREW`) is `_OTHER`, and `HTTP` in the span name:
    // whatever a client sends must not become a new span name.
    let name_method = method.unwrap_or("HTTP");
    let name = match route {
        Some(route) => format!("{name_method} {route}"),
        None => name_method.to_owned(),
    };
    // ANCHOR_END: span_name
    let (host, port) = server_address(request);
    // ANCHOR: span_fields
    let span = tracing::info_span!(
        "HTTP request",
        otel.name = name,
        otel.kind = "server",
        http.request.method = method.unwrap_or("_OTHER"),
        http.request.method_original = method.is_none().then(|| request.method().as_str()),
        http.route = route,
        url.path = request.uri().path(),
        url.scheme = "http",
        server.address = host,
        server.port = port,
        client.address = client_address(request),
        user_agent.original = header_text(request, header::USER_AGENT),
        http.response.status_code = Empty,
    );
    // ANCHOR_END: span_fields
    // ANCHOR: set_parent
    // Continue the caller's trace. Must happen before the span is entered; a missing or
    // malformed `traceparent` leaves an empty context, and the span starts a new trace.
    let caller = global::get_text_map_propagator(|propagator| {
        propagator.extract(&HeaderExtractor(request.headers()))
    });
    if let Err(err) = span.set_parent(caller) {
        tracing::debug!(%err, "cannot set the parent of the server span");
    }
    // ANCHOR_END: set_parent
    span
}

// ANCHOR: record_response
/// The status code, once the handler answered: `TraceLayer::on_response`.
pub fn record_response(response: &Response<Body>, _latency: Duration, span: &Span) {
    let status = response.status();
    // An integer attribute: a `u16` would be exported as the string "200".
    span.record("http.response.status_code", i64::from(status.as_u16()));
    // Only 5xx are errors of a server span; a 4xx is the client's mistake.
    if status.is_server_error() {
        crate::telemetry::mark_failed(span, status.as_str(), &"");
    }
}
// ANCHOR_END: record_response
// ANCHOR_END: server_span

fn header_text(request: &Request<Body>, name: header::HeaderName) -> Option<&str> {
    request
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
}

/// The methods of RFC 9110 and PATCH: the ones the semantic conventions call known.
pub(crate) fn known_method(method: &Method) -> Option<&'static str> {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
    ];
    KNOWN.into_iter().find(|known| *known == method.as_str())
}

/// Host and port the client addressed, from the `Host` header.
fn server_address(request: &Request<Body>) -> (Option<String>, Option<i64>) {
    let authority =
        header_text(request, header::HOST).and_then(|host| host.parse::<Authority>().ok());
    match authority {
        Some(authority) => (
            Some(authority.host().to_owned()),
            authority.port_u16().map(i64::from),
        ),
        None => (None, None),
    }
}

/// The peer's IP address (`server::serve` puts it on every request).
fn client_address(request: &Request<Body>) -> Option<String> {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip().to_string())
}
