//! Step 2: traces. A SERVER span per request with the semantic-convention name and
//! attributes (unknown methods included), the caller's trace continued, business steps as
//! child spans, baggage read (one key, not all), failures marked where they happen,
//! malformed headers harmless, nothing personal exported, the transport chosen by the
//! standard variables, every span flushed on SIGTERM, and a collector outage (refusing or
//! silent) that costs the requests nothing. Most checks run over OTLP/HTTP (protobuf) and
//! OTLP/gRPC.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use super::privacy::{Person, assert_no_personal_records, assert_nothing_personal};
use crate::otlp::{AttrValue, OtlpReceiver, Span, SpanKind, StatusCode as SpanStatus, Transport};
use crate::{BlackHole, ClosedPort, Stack, StackOptions, StepBinaries, TcpProxy, services};

const SPAN_TIMEOUT: Duration = Duration::from_secs(20);
const USER_AGENT: &str = "contract-test/1.0";

#[derive(Debug, Clone, Copy)]
pub enum Protocol {
    HttpProtobuf,
    Grpc,
}

impl Protocol {
    fn env_value(self) -> &'static str {
        match self {
            Self::HttpProtobuf => "http/protobuf",
            Self::Grpc => "grpc",
        }
    }

    fn endpoint(self, receiver: &OtlpReceiver) -> String {
        match self {
            Self::HttpProtobuf => receiver.http_endpoint(),
            Self::Grpc => receiver.grpc_endpoint(),
        }
    }
}

/// Every export `receiver` got came over `protocol`, in its wire format (a JSON body on
/// the HTTP port would be accepted by the receiver, so the content type is checked too).
#[track_caller]
fn assert_exported_over(receiver: &OtlpReceiver, protocol: Protocol, what: &str) {
    let requests = receiver.requests();
    assert!(!requests.is_empty(), "{what}: nothing was exported");
    for request in requests {
        let content_type = request.content_type.as_deref().unwrap_or_default();
        match protocol {
            Protocol::HttpProtobuf => {
                assert_eq!(request.transport, Transport::Http, "{what}: {request:?}");
                assert_eq!(
                    content_type, "application/x-protobuf",
                    "{what}: {request:?}"
                );
            }
            Protocol::Grpc => {
                assert_eq!(request.transport, Transport::Grpc, "{what}: {request:?}");
                assert!(
                    content_type.starts_with("application/grpc"),
                    "{what}: {request:?}"
                );
            }
        }
    }
}

/// Both services export to `receiver` over `protocol`.
pub fn exporting_to(receiver: &OtlpReceiver, protocol: Protocol) -> StackOptions {
    StackOptions::default()
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", protocol.endpoint(receiver))
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.env_value())
        // Export every 100 ms instead of 5 s, so tests do not wait.
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
}

/// An OTLP receiver, and a stack exporting to it.
pub(super) async fn start(binaries: &StepBinaries, protocol: Protocol) -> (OtlpReceiver, Stack) {
    let receiver = OtlpReceiver::start().await.expect("OTLP receiver");
    let stack = Stack::start(binaries, exporting_to(&receiver, protocol)).await;
    (receiver, stack)
}

fn get(stack: &Stack, path: &str) -> reqwest::RequestBuilder {
    stack
        .http
        .get(stack.user_url(path))
        .header("user-agent", USER_AGENT)
}

/// `POST /users`, which must answer 201; the new id.
pub(super) async fn create_user(stack: &Stack, name: &str, email: &str) -> i64 {
    let (status, body) = stack.create_user(name, email).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_i64().expect("id")
}

fn server_spans<'a>(spans: &'a [Span], name: &str) -> Vec<&'a Span> {
    spans
        .iter()
        .filter(|span| span.name == name && span.kind == SpanKind::Server)
        .collect()
}

fn with_status(spans: &[&Span], status: i64) -> Span {
    spans
        .iter()
        .find(|span| span.attributes.int("http.response.status_code") == Some(status))
        .map(|span| (*span).clone())
        .unwrap_or_else(|| panic!("no server span with status {status} among {spans:#?}"))
}

#[track_caller]
fn assert_str(span: &Span, key: &str, expected: &str) {
    assert_eq!(
        span.attributes.get(key),
        Some(&AttrValue::String(expected.to_owned())),
        "{key} of span {:?}: {}",
        span.name,
        span.attributes
    );
}

/// Names, kinds, attributes (and their types) and statuses of the server spans of a 200,
/// a 404 and a 500; probes are not traced; both services name themselves in the resource.
async fn server_spans_follow_semantic_conventions(binaries: &StepBinaries, protocol: Protocol) {
    let (receiver, stack) = start(binaries, protocol).await;
    let id = create_user(&stack, "Ada Lovelace", "ada@example.com").await;
    let port: i64 = stack
        .user_url("")
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");

    for (path, expected) in [
        (format!("/users/{id}"), StatusCode::OK),
        ("/users/987654".to_owned(), StatusCode::NOT_FOUND),
        ("/demo/error".to_owned(), StatusCode::INTERNAL_SERVER_ERROR),
        ("/healthz".to_owned(), StatusCode::OK),
        ("/readyz".to_owned(), StatusCode::OK),
    ] {
        let response = get(&stack, &path).send().await.expect("request");
        assert_eq!(response.status(), expected, "{path}");
    }
    // A method no standard knows, on a route that exists and on one that does not.
    let brew = reqwest::Method::from_bytes(b"BREW").expect("a valid method token");
    for (path, expected) in [
        ("/users", StatusCode::METHOD_NOT_ALLOWED),
        ("/coffee", StatusCode::NOT_FOUND),
    ] {
        let response = stack
            .http
            .request(brew.clone(), stack.user_url(path))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), expected, "BREW {path}");
    }
    stack.wait_for_emails(1, SPAN_TIMEOUT).await;
    let (user_exit, email_exit) = stack.stop().await;
    assert!(user_exit.success() && email_exit.success());
    let spans = receiver.spans();
    assert_exported_over(&receiver, protocol, "OTEL_EXPORTER_OTLP_PROTOCOL set");

    let users = server_spans(&spans, "GET /users/{id}");
    let ok = with_status(&users, 200);
    assert_eq!(ok.kind, SpanKind::Server);
    assert_str(&ok, "http.request.method", "GET");
    assert_str(&ok, "http.route", "/users/{id}");
    assert_str(&ok, "url.path", &format!("/users/{id}"));
    assert_str(&ok, "url.scheme", "http");
    assert_str(&ok, "server.address", "127.0.0.1");
    assert_eq!(
        ok.attributes.get("server.port"),
        Some(&AttrValue::Int(port)),
        "{}",
        ok.attributes
    );
    assert_str(&ok, "client.address", "127.0.0.1");
    assert_str(&ok, "user_agent.original", USER_AGENT);
    assert_eq!(
        ok.attributes.get("http.response.status_code"),
        Some(&AttrValue::Int(200)),
        "the status code is an integer attribute"
    );
    assert_ne!(ok.status.code, SpanStatus::Error);
    assert!(ok.attributes.get("error.type").is_none());
    assert_eq!(ok.resource.service_name(), Some("user-service"));

    let not_found = with_status(&users, 404);
    assert_ne!(
        not_found.status.code,
        SpanStatus::Error,
        "a 4xx is not a server error"
    );
    assert!(not_found.attributes.get("error.type").is_none());

    let failed = with_status(&server_spans(&spans, "GET /demo/error"), 500);
    assert_eq!(failed.status.code, SpanStatus::Error, "a 5xx is an error");
    assert_str(&failed, "error.type", "500");

    assert_eq!(server_spans(&spans, "POST /users").len(), 1, "{spans:#?}");
    let email = server_spans(&spans, "POST /emails");
    assert_eq!(email.len(), 1, "the email-service traces its requests too");
    assert_eq!(email[0].resource.service_name(), Some("email-service"));

    // Unknown methods: `_OTHER`, the original on the side, and `HTTP` in the span name.
    let brewed = server_spans(&spans, "HTTP /users");
    assert_eq!(brewed.len(), 1, "{spans:#?}");
    assert_str(brewed[0], "http.request.method", "_OTHER");
    assert_str(brewed[0], "http.request.method_original", "BREW");
    assert_eq!(server_spans(&spans, "HTTP").len(), 1, "the unrouted one");
    assert!(
        ok.attributes.get("http.request.method_original").is_none(),
        "only for unknown methods"
    );

    for span in &spans {
        assert!(
            !span.name.contains("BREW"),
            "a client's method never names a span: {}",
            span.name
        );
        assert!(
            !span.name.contains("healthz") && !span.name.contains("readyz"),
            "probes are not traced: {span:?}"
        );
        assert!(
            !span.name.contains(&format!("/users/{id}")),
            "span names use the route, not the raw path: {}",
            span.name
        );
    }
}

pub async fn server_spans_follow_semantic_conventions_http(binaries: &StepBinaries) {
    server_spans_follow_semantic_conventions(binaries, Protocol::HttpProtobuf).await;
}

pub async fn server_spans_follow_semantic_conventions_grpc(binaries: &StepBinaries) {
    server_spans_follow_semantic_conventions(binaries, Protocol::Grpc).await;
}

/// An incoming `traceparent` is continued (same trace id, the caller's span is the parent);
/// `baggage` is readable in the handler; business steps are child spans; the cache miss is
/// recorded in the request's span; a failing query is recorded as an error on its own span.
async fn trace_context_and_child_spans(binaries: &StepBinaries, protocol: Protocol) {
    let (receiver, stack) = start(binaries, protocol).await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let id = create_user(&stack, "Grace Hopper", "grace@example.com").await;
    let response = get(&stack, "/users/123456")
        .header("traceparent", format!("00-{trace_id}-{caller_span}-01"))
        .header("baggage", "session.id=workshop-42,other=x")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let (status, _) = stack.get("/demo/error").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(id > 0);

    let spans = receiver
        .wait_for_spans(SPAN_TIMEOUT, |spans| {
            spans
                .iter()
                .any(|s| s.trace_id == trace_id && s.name == "find_user")
                && spans.iter().any(|s| s.name == "find_legacy_account")
                && spans.iter().any(|s| s.name == "cache_put_user")
        })
        .await
        .unwrap_or_else(|err| {
            panic!(
                "no span of the caller's trace {trace_id}: the server span must continue the \
                 trace of the request's `traceparent` header (the global propagator reads it, \
                 and the span takes its context as parent): {err}"
            )
        });

    let server = spans
        .iter()
        .find(|s| s.kind == SpanKind::Server && s.trace_id == trace_id)
        .unwrap_or_else(|| panic!("no server span in the caller's trace: {spans:#?}"));
    assert_eq!(server.name, "GET /users/{id}");
    assert_eq!(
        server.parent_span_id.as_deref(),
        Some(caller_span),
        "the caller's span is the parent"
    );
    assert_str(server, "session.id", "workshop-42");
    for span in spans.iter().filter(|s| s.trace_id == trace_id) {
        assert!(
            !span.attributes.contains("other")
                && !span
                    .attributes
                    .iter()
                    .any(|(_, value)| value.to_string() == "x"),
            "only the baggage key the service reads is copied onto spans: {} {}",
            span.name,
            span.attributes
        );
    }
    // Up to step 4 an event on the request's span; from step 5 a log record written in it.
    let as_event = server.events.iter().any(|event| event.name == "cache miss");
    let as_record = || {
        receiver.wait_for_log_records(SPAN_TIMEOUT, |records| {
            records.iter().any(|record| {
                record.body_str() == Some("cache miss")
                    && record.span_id.as_deref() == Some(server.span_id.as_str())
            })
        })
    };
    assert!(
        as_event || as_record().await.is_ok(),
        "the cache miss is recorded in the request's span (as an event, or a log record): {:?}",
        server.events
    );
    for child in ["cache_get_user", "find_user"] {
        let span = spans
            .iter()
            .find(|s| s.name == child && s.trace_id == trace_id)
            .unwrap_or_else(|| panic!("no {child} span in the trace"));
        assert_eq!(
            span.parent_span_id.as_deref(),
            Some(server.span_id.as_str()),
            "{child} is a child of the server span"
        );
        assert_eq!(span.kind, SpanKind::Internal);
    }

    let create = spans
        .iter()
        .find(|s| s.name == "POST /users")
        .expect("POST /users span");
    for child in ["validate_user", "store_user", "cache_put_user"] {
        let span = spans
            .iter()
            .find(|s| s.name == child && s.trace_id == create.trace_id)
            .unwrap_or_else(|| panic!("no {child} span under POST /users"));
        assert_eq!(
            span.parent_span_id.as_deref(),
            Some(create.span_id.as_str()),
            "{child}"
        );
    }

    let error_server = spans
        .iter()
        .find(|s| s.name == "GET /demo/error")
        .expect("error span");
    let failed_query = spans
        .iter()
        .find(|s| s.name == "find_legacy_account")
        .expect("query span");
    assert_eq!(
        failed_query.parent_span_id.as_deref(),
        Some(error_server.span_id.as_str())
    );
    assert_eq!(
        failed_query.status.code,
        SpanStatus::Error,
        "the error is recorded where it happens"
    );
    stack.stop().await;
}

pub async fn trace_context_and_child_spans_http(binaries: &StepBinaries) {
    trace_context_and_child_spans(binaries, Protocol::HttpProtobuf).await;
}

pub async fn trace_context_and_child_spans_grpc(binaries: &StepBinaries) {
    trace_context_and_child_spans(binaries, Protocol::Grpc).await;
}

/// A malformed `traceparent` or `baggage` never fails a request: it starts a new root trace.
pub async fn malformed_trace_headers_start_a_new_trace(binaries: &StepBinaries) {
    let (receiver, stack) = start(binaries, Protocol::HttpProtobuf).await;
    let id = create_user(&stack, "Alan Turing", "alan@example.com").await;
    let malformed = [
        ("traceparent", "00-zzzz-not-hex-01"),
        (
            "traceparent",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        ),
        ("traceparent", "garbage"),
        ("baggage", "%%%;;;==,,"),
    ];
    for (header, value) in malformed {
        let response = get(&stack, &format!("/users/{id}"))
            .header(header, value)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::OK, "{header}: {value}");
    }
    let spans = receiver
        .wait_for_spans(SPAN_TIMEOUT, |spans| {
            server_spans(spans, "GET /users/{id}").len() >= malformed.len()
        })
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    for span in server_spans(&spans, "GET /users/{id}") {
        assert!(span.parent_span_id.is_none(), "a new root trace: {span:?}");
        assert_ne!(span.trace_id, "0".repeat(32));
        assert_eq!(span.trace_id.len(), 32);
    }
    stack.stop().await;
}

/// N requests sent just before SIGTERM: all N server spans arrive before the process exits 0
/// (with the default 5 s batch delay, so only the shutdown flush can deliver them).
async fn every_span_is_flushed_on_sigterm(binaries: &StepBinaries, protocol: Protocol) {
    const N: usize = 120;
    let receiver = OtlpReceiver::start().await.expect("OTLP receiver");
    let mut options = exporting_to(&receiver, protocol);
    options
        .env
        .retain(|(key, _)| key != "OTEL_BSP_SCHEDULE_DELAY");
    let mut stack = Stack::start(binaries, options).await;
    let id = create_user(&stack, "Barbara Liskov", "barbara@example.com").await;
    let path = format!("/users/{id}");
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..N {
        requests.spawn(get(&stack, &path).send());
    }
    while let Some(response) = requests.join_next().await {
        let response = response.expect("join").expect("request");
        assert_eq!(response.status(), StatusCode::OK);
    }
    let exit = stack.user_service.stop(Duration::from_secs(10)).await;
    assert!(exit.success(), "exit status {exit}");
    let received = server_spans(&receiver.spans(), "GET /users/{id}").len();
    assert_eq!(
        received, N,
        "every server span was exported before the process exited"
    );
    stack.stop_email_service().await;
}

pub async fn every_span_is_flushed_on_sigterm_http(binaries: &StepBinaries) {
    every_span_is_flushed_on_sigterm(binaries, Protocol::HttpProtobuf).await;
}

pub async fn every_span_is_flushed_on_sigterm_grpc(binaries: &StepBinaries) {
    every_span_is_flushed_on_sigterm(binaries, Protocol::Grpc).await;
}

/// The collector is down, refusing connections or accepting them and never answering (the
/// slow failure: a refused connect costs microseconds and would hide an export on the request
/// path): requests succeed without added latency, the outage is said once, and SIGTERM still
/// stops the process cleanly within 10 s.
async fn collector_outage_costs_nothing(binaries: &StepBinaries, protocol: Protocol) {
    let receiver = OtlpReceiver::start().await.expect("OTLP receiver");
    let stack = Stack::start(binaries, exporting_to(&receiver, protocol)).await;
    let up = median_read_latency(&stack).await;
    stack.stop().await;

    let refusing = ClosedPort::new();
    let silent = BlackHole::start().await;
    for (kind, endpoint) in [
        ("refusing", format!("http://{}", refusing.address())),
        ("silent", format!("http://{}", silent.address())),
    ] {
        let options =
            exporting_to(&receiver, protocol).env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint);
        let mut stack = Stack::start(binaries, options).await;
        let down = median_read_latency(&stack).await;
        assert!(
            down <= up * 2 + Duration::from_millis(10),
            "median latency with a {kind} collector ({down:?}) is not above noise of the one with it up ({up:?})"
        );
        // The SDK gives up on an export after its 10 s timeout when nothing answers.
        stack
            .user_service
            .wait_for_line("OTLP collector", Duration::from_secs(20))
            .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            stack.user_service.count_lines("OTLP collector"),
            1,
            "the {kind} collector outage is said once:\n{}",
            stack.user_service.output()
        );
        for repeated in ["ExportError", "Export.Failed"] {
            assert_eq!(
                stack.user_service.count_lines(repeated),
                0,
                "the SDK's own export errors ({repeated}) are not repeated on stdout:\n{}",
                stack.user_service.output()
            );
        }
        let started = Instant::now();
        let exit = stack.user_service.stop(Duration::from_secs(10)).await;
        assert!(exit.success(), "exit status {exit} with a {kind} collector");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "stopped in {:?} with a {kind} collector",
            started.elapsed()
        );
        stack.stop_email_service().await;
    }
}

/// Creates a user and reads it 40 times; the median latency of the reads.
async fn median_read_latency(stack: &Stack) -> Duration {
    const REQUESTS: usize = 40;
    let id = create_user(stack, "Tony Hoare", "tony@example.com").await;
    let mut latencies = Vec::with_capacity(REQUESTS);
    for _ in 0..REQUESTS {
        let started = Instant::now();
        let (status, body): (StatusCode, Value) = stack.get(&format!("/users/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        latencies.push(started.elapsed());
    }
    latencies.sort_unstable();
    latencies[REQUESTS / 2]
}

pub async fn collector_outage_costs_nothing_http(binaries: &StepBinaries) {
    collector_outage_costs_nothing(binaries, Protocol::HttpProtobuf).await;
}

pub async fn collector_outage_costs_nothing_grpc(binaries: &StepBinaries) {
    collector_outage_costs_nothing(binaries, Protocol::Grpc).await;
}

/// The transport follows the standard variables, as the SDK reads them: HTTP/protobuf
/// when none is set, and the per-signal `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` over the
/// generic `OTEL_EXPORTER_OTLP_PROTOCOL`, either way round.
pub async fn exporter_protocol_follows_the_environment(binaries: &StepBinaries) {
    const GENERIC: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";
    const TRACES: &str = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL";
    let cases = [
        ("no protocol variable", vec![], Protocol::HttpProtobuf),
        (
            "traces: http/protobuf, generic: grpc",
            vec![(GENERIC, "grpc"), (TRACES, "http/protobuf")],
            Protocol::HttpProtobuf,
        ),
        (
            "traces: grpc, generic: http/protobuf",
            vec![(GENERIC, "http/protobuf"), (TRACES, "grpc")],
            Protocol::Grpc,
        ),
    ];
    for (what, variables, expected) in cases {
        let receiver = OtlpReceiver::start().await.expect("OTLP receiver");
        let mut options = StackOptions::default()
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", expected.endpoint(&receiver))
            .env("OTEL_BSP_SCHEDULE_DELAY", "100");
        for (key, value) in variables {
            options = options.env(key, value);
        }
        let stack = Stack::start(binaries, options).await;
        let response = get(&stack, "/users/404404").send().await.expect("request");
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        receiver
            .wait_for_spans(SPAN_TIMEOUT, |spans| {
                !server_spans(spans, "GET /users/{id}").is_empty()
            })
            .await
            .unwrap_or_else(|err| panic!("{what}: {err}"));
        stack.stop().await;
        assert_exported_over(&receiver, expected, what);
    }
}

/// Valkey stops answering: reads still succeed (from Postgres), and the cache's span in the
/// request's trace (or a span under it) is marked failed, with an `error.type`, while the
/// request's own span stays green.
pub async fn cache_outage_marks_the_cache_span_failed(binaries: &StepBinaries) {
    let receiver = OtlpReceiver::start().await.expect("OTLP receiver");
    let proxy = TcpProxy::start(&services::host_port(&services::redis_url())).await;
    let options = StackOptions {
        redis_url: Some(format!("redis://{}", proxy.address())),
        ..exporting_to(&receiver, Protocol::HttpProtobuf)
    };
    let stack = Stack::start(binaries, options).await;
    let id = create_user(&stack, "Edsger Dijkstra", "edsger@example.com").await;
    proxy.set_down(true);
    let response = get(&stack, &format!("/users/{id}"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK, "read from Postgres");

    let spans = receiver
        .wait_for_spans(SPAN_TIMEOUT, |spans| {
            spans.iter().any(|s| s.name == "GET /users/{id}")
                && spans.iter().any(|s| s.name == "find_user")
        })
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    let request = spans
        .iter()
        .find(|s| s.name == "GET /users/{id}")
        .expect("request span");
    assert_ne!(request.status.code, SpanStatus::Error, "the read succeeded");
    let cache = spans
        .iter()
        .find(|s| s.trace_id == request.trace_id && s.name == "cache_get_user")
        .unwrap_or_else(|| panic!("no cache_get_user span in the read's trace: {spans:#?}"));
    let failed: Vec<&Span> = spans
        .iter()
        .filter(|s| {
            s.trace_id == request.trace_id
                && (s.span_id == cache.span_id
                    || s.parent_span_id.as_deref() == Some(cache.span_id.as_str()))
                && s.status.code == SpanStatus::Error
        })
        .collect();
    assert!(
        !failed.is_empty(),
        "the cache outage is marked on the cache's span: {spans:#?}"
    );
    for span in failed {
        let error_type = span.attributes.str("error.type").unwrap_or_default();
        assert!(
            matches!(error_type, "io" | "timeout" | "redis"),
            "error.type of {}: {:?}",
            span.name,
            span.attributes
        );
    }
    proxy.set_down(false);
    stack.stop().await;
}

/// A session that exercises every path that could carry personal data onto a span: a
/// created user (with a `traceparent` and baggage that holds the email), a cache hit and a
/// miss, a duplicate (409), an invalid email (422), an unknown user (404), a server error
/// (500), a malformed `traceparent` and an unknown method. Returns the person created.
pub(super) async fn personal_session(stack: &Stack, id: i64) -> Person<'static> {
    let person = Person {
        name: "Margaret Hamilton",
        email: "margaret.hamilton@example.com",
        id,
    };
    let baggage = format!("session.id=apollo-11,user.email={}", person.email);
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let create = |email: &str| {
        stack
            .http
            .post(stack.user_url("/users"))
            .header("traceparent", traceparent)
            .header("baggage", &baggage)
            .json(&serde_json::json!({ "name": person.name, "email": email }))
    };
    let (status, body) = stack.send(create(person.email)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        body["id"].as_i64(),
        Some(id),
        "ids start where the test set them"
    );
    let (status, _) = stack.send(create(person.email)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = stack.send(create("margaret.hamilton")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    for (path, header, expected) in [
        (
            format!("/users/{id}"),
            ("baggage", baggage.as_str()),
            StatusCode::OK,
        ),
        (
            format!("/users/{id}"),
            ("traceparent", "garbage"),
            StatusCode::OK,
        ),
        (
            format!("/users/{}", id + 1),
            ("x-none", ""),
            StatusCode::NOT_FOUND,
        ),
        (
            "/demo/error".to_owned(),
            ("x-none", ""),
            StatusCode::INTERNAL_SERVER_ERROR,
        ),
    ] {
        let response = get(stack, &path)
            .header(header.0, header.1)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), expected, "{path}");
    }
    let brew = reqwest::Method::from_bytes(b"BREW").expect("a valid method token");
    let response = stack
        .http
        .request(brew, stack.user_url(&format!("/users/{id}")))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    stack.wait_for_emails(1, SPAN_TIMEOUT).await;
    person
}

/// A random eight-digit id: it can be looked for in telemetry, where `1` could not.
pub(super) fn distinctive_user_id() -> i64 {
    fastrand::i64(40_000_000..90_000_000)
}

/// Everything both services export for a [`personal_session`] (after SIGTERM flushed it)
/// carries no name, email or user id outside `url.path`: not in span names, attributes,
/// events or status messages.
pub async fn nothing_personal_leaves_the_process(binaries: &StepBinaries) {
    let (receiver, stack) = start(binaries, Protocol::HttpProtobuf).await;
    let id = distinctive_user_id();
    stack.database.start_user_ids_at(id).await;
    let person = personal_session(&stack, id).await;
    let (user_exit, email_exit) = stack.stop().await;
    assert!(user_exit.success() && email_exit.success());
    let spans = receiver.spans();
    for name in [
        "POST /users",
        "GET /users/{id}",
        "HTTP /users/{id}",
        "POST /emails",
    ] {
        assert!(
            spans.iter().any(|s| s.name == name),
            "the session's {name} span was exported: {spans:#?}"
        );
    }
    assert_nothing_personal(&spans, &person);
    assert_no_personal_records(&receiver.log_records(), &person);
}
