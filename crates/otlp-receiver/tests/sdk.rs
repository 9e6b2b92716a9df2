//! The real OpenTelemetry SDK + OTLP exporters, over each protocol, into the receiver.
//!
//! Everything that blocks (building HTTP exporters with the blocking reqwest
//! client, `shutdown()`) runs in `spawn_blocking` on a multi-thread runtime,
//! which is also what the tonic exporter needs.
//!
//! OTLP/JSON goes through [`start_json_relay`]: the workspace must not enable
//! opentelemetry-otlp's `http-json` feature (see `tests/workspace_features.rs`),
//! so the SDK exports http/protobuf to a relay that re-sends each request to
//! the receiver exactly as the `http-json` transport would have.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as HttpStatus, Uri, header};
use axum::response::{IntoResponse as _, Response};
use axum::routing;
use common::{gzip, post};

use opentelemetry::logs::{LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::{
    Link, Span as _, SpanContext, SpanKind as OtelSpanKind, Status, TraceContextExt as _,
    Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, InstrumentationScope, KeyValue};
use opentelemetry_otlp::{
    Compression, LogExporter, MetricExporter, Protocol, SpanExporter, WithExportConfig as _,
    WithHttpConfig as _, WithTonicConfig as _,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_sdk::Resource as SdkResource;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::{SdkMeterProvider, Temporality as SdkTemporality};
use opentelemetry_sdk::trace::SdkTracerProvider;
use otlp_receiver::{
    AttrValue, ExportStats, MetricKind, OtlpReceiver, PointValue, Signal, SpanKind, StatusCode,
    Temporality,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proto {
    HttpProtobuf,
    HttpJson,
    Grpc,
}

impl Proto {
    /// What the SDK's HTTP exporter speaks: always protobuf, as `HttpJson`
    /// exports to the relay, which sends OTLP/JSON on to the receiver.
    fn http_protocol(self) -> Protocol {
        match self {
            Proto::HttpProtobuf | Proto::HttpJson => Protocol::HttpBinary,
            Proto::Grpc => unreachable!("not an HTTP protocol"),
        }
    }

    /// The counters one export request per signal leaves behind.
    fn expected_stats(self, traces: u64, metrics: u64, logs: u64) -> ExportStats {
        match self {
            Proto::HttpProtobuf | Proto::HttpJson => ExportStats {
                http_traces: traces,
                http_metrics: metrics,
                http_logs: logs,
                ..ExportStats::default()
            },
            Proto::Grpc => ExportStats {
                grpc_traces: traces,
                grpc_metrics: metrics,
                grpc_logs: logs,
                ..ExportStats::default()
            },
        }
    }
}

/// Where the exporters send: the receiver, or for `HttpJson` the relay in front of it.
#[derive(Debug, Clone)]
struct Endpoints {
    /// Base URL for OTLP/HTTP, without `/v1/...`.
    http: String,
    grpc: String,
}

impl Endpoints {
    async fn new(proto: Proto, rx: &OtlpReceiver) -> Endpoints {
        let http = match proto {
            Proto::HttpJson => start_json_relay(rx.http_endpoint()).await,
            Proto::HttpProtobuf | Proto::Grpc => rx.http_endpoint(),
        };
        Endpoints {
            http,
            grpc: rx.grpc_endpoint(),
        }
    }

    fn http_url(&self, signal: &str) -> String {
        format!("{}/v1/{signal}", self.http)
    }
}

/// Starts an OTLP/HTTP server that turns http/protobuf exports into OTLP/JSON
/// requests to `receiver` (a base URL), and returns its base URL.
///
/// Each request body is decoded into the opentelemetry-proto request type the
/// exporter built it from, then sent on as opentelemetry-otlp 0.33.1 sends
/// it with `Protocol::HttpJson` (`OtlpHttpClient::build_*_export_body` and
/// `process_body` in `src/exporter/http/mod.rs`): `serde_json::to_string_pretty`
/// of that request (opentelemetry-proto's `with-serde` impls), `Content-Type:
/// application/json`, and, when the exporter compresses, the JSON gzipped
/// (flate2, default level) with `Content-Encoding: gzip`. The receiver's
/// answer is parsed as the JSON exporter parses it (`serde_json::from_slice`
/// of the response type, `handle_partial_success` in `http/{trace,...}.rs`)
/// and returned to the SDK in protobuf.
async fn start_json_relay(receiver: String) -> String {
    let app = Router::new()
        .route(
            "/v1/traces",
            routing::post(relay::<ExportTraceServiceRequest, ExportTraceServiceResponse>),
        )
        .route(
            "/v1/metrics",
            routing::post(relay::<ExportMetricsServiceRequest, ExportMetricsServiceResponse>),
        )
        .route(
            "/v1/logs",
            routing::post(relay::<ExportLogsServiceRequest, ExportLogsServiceResponse>),
        )
        .with_state(Arc::<str>::from(receiver));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

async fn relay<Req, Resp>(
    State(receiver): State<Arc<str>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response
where
    Req: prost::Message + Default + Serialize,
    Resp: prost::Message + DeserializeOwned,
{
    match relay_as_json::<Req, Resp>(&receiver, uri.path(), &headers, &body).await {
        Ok(response) => response,
        Err((status, message)) => {
            // Shows up in the failing test's output; the SDK only logs a status code.
            eprintln!("OTLP/JSON relay: {status}: {message}");
            (status, message).into_response()
        }
    }
}

async fn relay_as_json<Req, Resp>(
    receiver: &str,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, (HttpStatus, String)>
where
    Req: prost::Message + Default + Serialize,
    Resp: prost::Message + DeserializeOwned,
{
    let bad = |message: String| (HttpStatus::BAD_REQUEST, message);
    let get = |name| {
        headers
            .get(name)
            .map(|v| v.to_str().unwrap_or("<not ASCII>"))
    };

    let content_type = get(header::CONTENT_TYPE);
    if content_type != Some("application/x-protobuf") {
        return Err(bad(format!(
            "expected an http/protobuf export, got Content-Type {content_type:?}"
        )));
    }
    let encoding = get(header::CONTENT_ENCODING);
    let protobuf = match encoding {
        None => body.to_vec(),
        Some("gzip") => {
            let mut out = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(body), &mut out)
                .map_err(|e| bad(format!("gunzip: {e}")))?;
            out
        }
        Some(other) => return Err(bad(format!("unexpected Content-Encoding {other:?}"))),
    };
    let request = Req::decode(&protobuf[..]).map_err(|e| bad(format!("protobuf: {e}")))?;

    // What the `http-json` transport sends for the same request.
    let json = serde_json::to_string_pretty(&request)
        .map_err(|e| bad(format!("to JSON: {e}")))?
        .into_bytes();
    let json = match encoding {
        Some(_) => gzip(&json),
        None => json,
    };
    let answer = post(
        &format!("{receiver}{path}"),
        "application/json",
        encoding,
        json,
    )
    .await;
    let status = answer.status();
    let answer = answer
        .bytes()
        .await
        .map_err(|e| bad(format!("answer: {e}")))?;
    if !status.is_success() {
        return Err((status, String::from_utf8_lossy(&answer).into_owned()));
    }
    let answer: Resp = serde_json::from_slice(&answer).map_err(|e| {
        bad(format!(
            "answer {:?} is not OTLP/JSON: {e}",
            String::from_utf8_lossy(&answer)
        ))
    })?;
    Ok((
        [(header::CONTENT_TYPE, "application/x-protobuf")],
        answer.encode_to_vec(),
    )
        .into_response())
}

fn sdk_resource() -> SdkResource {
    SdkResource::builder()
        .with_service_name("receiver-test")
        .with_attribute(KeyValue::new("service.instance.id", "i-1"))
        .build()
}

fn scope() -> InstrumentationScope {
    InstrumentationScope::builder("otlp-receiver-test")
        .with_version("1.2.3")
        .build()
}

fn span_exporter(proto: Proto, endpoints: &Endpoints, gzip: bool) -> SpanExporter {
    let builder = SpanExporter::builder();
    match proto {
        Proto::Grpc => {
            let mut b = builder.with_tonic().with_endpoint(&endpoints.grpc);
            if gzip {
                b = b.with_compression(Compression::Gzip);
            }
            b.build()
        }
        _ => {
            let mut b = builder
                .with_http()
                .with_protocol(proto.http_protocol())
                .with_endpoint(endpoints.http_url("traces"));
            if gzip {
                b = b.with_compression(Compression::Gzip);
            }
            b.build()
        }
    }
    .expect("span exporter")
}

fn metric_exporter(proto: Proto, endpoints: &Endpoints) -> MetricExporter {
    let builder = MetricExporter::builder().with_temporality(SdkTemporality::Cumulative);
    match proto {
        Proto::Grpc => builder.with_tonic().with_endpoint(&endpoints.grpc).build(),
        _ => builder
            .with_http()
            .with_protocol(proto.http_protocol())
            .with_endpoint(endpoints.http_url("metrics"))
            .build(),
    }
    .expect("metric exporter")
}

fn log_exporter(proto: Proto, endpoints: &Endpoints) -> LogExporter {
    let builder = LogExporter::builder();
    match proto {
        Proto::Grpc => builder.with_tonic().with_endpoint(&endpoints.grpc).build(),
        _ => builder
            .with_http()
            .with_protocol(proto.http_protocol())
            .with_endpoint(endpoints.http_url("logs"))
            .build(),
    }
    .expect("log exporter")
}

/// Ids of the spans created by [`emit_spans`].
struct Emitted {
    server: SpanContext,
    linked: SpanContext,
}

/// A linked background span, then a SERVER span with typed attributes, an
/// event and a link, with one child span that fails.
fn emit_spans(proto: Proto, endpoints: &Endpoints, gzip: bool) -> Emitted {
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(span_exporter(proto, endpoints, gzip))
        .with_resource(sdk_resource())
        .build();
    let tracer = provider.tracer_with_scope(scope());

    let mut background = tracer.start("background job");
    let linked = background.span_context().clone();
    background.end();

    let mut server = tracer
        .span_builder("GET /users/{id}")
        .with_kind(OtelSpanKind::Server)
        .with_attributes([
            KeyValue::new("http.response.status_code", 200_i64),
            KeyValue::new("http.route", "/users/{id}"),
            KeyValue::new("cache.hit", false),
            KeyValue::new("load", 0.25),
        ])
        .with_links(vec![Link::new(
            linked.clone(),
            vec![KeyValue::new("link.reason", "triggered by")],
            0,
        )])
        .start(&tracer);
    server.add_event("request.parsed", vec![KeyValue::new("body.size", 42_i64)]);
    server.set_status(Status::Ok);
    let server_ctx = server.span_context().clone();
    let cx = Context::current_with_span(server);

    let mut child = tracer
        .span_builder("SELECT users")
        .with_kind(OtelSpanKind::Client)
        .start_with_context(&tracer, &cx);
    child.set_attribute(KeyValue::new("db.system.name", "postgresql"));
    child.set_status(Status::error("no rows"));
    child.end();
    cx.span().end();

    provider.shutdown().expect("tracer provider shutdown");
    Emitted {
        server: server_ctx,
        linked,
    }
}

async fn check_traces(proto: Proto, gzip: bool) {
    let rx = OtlpReceiver::start().await.unwrap();
    let endpoints = Endpoints::new(proto, &rx).await;
    let emitted = tokio::task::spawn_blocking(move || emit_spans(proto, &endpoints, gzip))
        .await
        .unwrap();

    let spans = rx.wait_for_span_count(3, TIMEOUT).await.unwrap();
    assert_eq!(spans.len(), 3, "{spans:#?}");
    let server = spans.iter().find(|s| s.name == "GET /users/{id}").unwrap();
    let child = spans.iter().find(|s| s.name == "SELECT users").unwrap();
    let background = spans.iter().find(|s| s.name == "background job").unwrap();

    // Ids and parentage.
    assert_eq!(server.trace_id, emitted.server.trace_id().to_string());
    assert_eq!(server.trace_id.len(), 32);
    assert_eq!(server.span_id, emitted.server.span_id().to_string());
    assert_eq!(server.span_id.len(), 16);
    assert!(server.is_root());
    assert!(child.is_child_of(server), "{child:#?}");
    assert_eq!(
        child.parent_span_id.as_deref(),
        Some(server.span_id.as_str())
    );
    assert_ne!(background.trace_id, server.trace_id);

    // Kinds.
    assert_eq!(server.kind, SpanKind::Server);
    assert_eq!(child.kind, SpanKind::Client);
    assert_eq!(background.kind, SpanKind::Internal);

    // Typed attributes: the integer stays an integer.
    assert_eq!(
        server.attr("http.response.status_code"),
        Some(&AttrValue::Int(200))
    );
    assert_eq!(
        server.attributes.int("http.response.status_code"),
        Some(200)
    );
    assert_eq!(server.attributes.str("http.route"), Some("/users/{id}"));
    assert_eq!(server.attributes.bool("cache.hit"), Some(false));
    assert_eq!(server.attributes.double("load"), Some(0.25));
    assert_eq!(child.attributes.str("db.system.name"), Some("postgresql"));

    // Event.
    assert_eq!(server.events.len(), 1);
    let event = server.event("request.parsed").unwrap();
    assert_eq!(event.attributes.int("body.size"), Some(42));
    assert!(event.time_unix_nano >= server.start_unix_nano);

    // Link.
    assert_eq!(server.links.len(), 1);
    let link = &server.links[0];
    assert_eq!(link.trace_id, emitted.linked.trace_id().to_string());
    assert_eq!(link.span_id, emitted.linked.span_id().to_string());
    assert_eq!(link.span_id, background.span_id);
    assert_eq!(link.attributes.str("link.reason"), Some("triggered by"));

    // Status.
    assert_eq!(server.status.code, StatusCode::Ok);
    assert_eq!(child.status.code, StatusCode::Error);
    assert_eq!(child.status.message, "no rows");
    assert_eq!(background.status.code, StatusCode::Unset);

    // Timing.
    assert!(server.end_unix_nano >= server.start_unix_nano);
    assert!(server.start_unix_nano > 1_600_000_000_000_000_000);
    assert!(server.duration() < Duration::from_secs(60));

    // Resource and scope.
    for span in &spans {
        assert_eq!(span.resource.service_name(), Some("receiver-test"));
        assert_eq!(span.service_name(), Some("receiver-test"));
        assert_eq!(
            span.resource.attributes.str("service.instance.id"),
            Some("i-1")
        );
        assert_eq!(
            span.resource.attributes.str("telemetry.sdk.language"),
            Some("rust")
        );
        assert_eq!(span.scope_name, "otlp-receiver-test");
        assert_eq!(span.scope_version.as_deref(), Some("1.2.3"));
    }

    // One batch, over the expected transport only, in the expected encoding.
    assert_eq!(rx.export_requests(), proto.expected_stats(1, 0, 0));
    let requests = rx.requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    let request = &requests[0];
    assert_eq!(request.signal, Signal::Traces);
    assert_eq!(request.items, 3);
    assert_eq!(request.error, None);
    let content_type = request.content_type.as_deref().unwrap();
    match proto {
        Proto::HttpProtobuf => assert_eq!(content_type, "application/x-protobuf"),
        Proto::HttpJson => assert_eq!(content_type, "application/json"),
        Proto::Grpc => assert!(
            content_type.starts_with("application/grpc"),
            "{content_type}"
        ),
    }
    let expected_encoding = gzip.then_some("gzip");
    assert_eq!(request.content_encoding.as_deref(), expected_encoding);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_over_http_protobuf() {
    check_traces(Proto::HttpProtobuf, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_over_http_json() {
    check_traces(Proto::HttpJson, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_over_grpc() {
    check_traces(Proto::Grpc, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_over_http_protobuf_gzip() {
    check_traces(Proto::HttpProtobuf, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_over_http_json_gzip() {
    check_traces(Proto::HttpJson, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_over_grpc_gzip() {
    check_traces(Proto::Grpc, true).await;
}

fn emit_metrics(proto: Proto, endpoints: &Endpoints) {
    let provider = SdkMeterProvider::builder()
        .with_periodic_exporter(metric_exporter(proto, endpoints))
        .with_resource(sdk_resource())
        .build();
    let meter = provider.meter_with_scope(scope());

    let requests = meter
        .u64_counter("http.server.requests")
        .with_description("Requests served")
        .with_unit("{request}")
        .build();
    let attrs = [KeyValue::new("http.route", "/users/{id}")];
    requests.add(3, &attrs);
    requests.add(2, &attrs);

    let duration = meter
        .f64_histogram("http.server.request.duration")
        .with_unit("s")
        .with_boundaries(vec![0.1, 0.5, 1.0])
        .build();
    let attrs = [
        KeyValue::new("http.route", "/users/{id}"),
        KeyValue::new("http.response.status_code", 200_i64),
    ];
    duration.record(0.3, &attrs);
    duration.record(0.7, &attrs);

    let in_flight = meter.i64_gauge("jobs.queued").build();
    in_flight.record(-4, &[]);

    provider.shutdown().expect("meter provider shutdown");
}

async fn check_metrics(proto: Proto) {
    let rx = OtlpReceiver::start().await.unwrap();
    let endpoints = Endpoints::new(proto, &rx).await;
    tokio::task::spawn_blocking(move || emit_metrics(proto, &endpoints))
        .await
        .unwrap();

    let points = rx
        .wait_for_metric_points(TIMEOUT, |p| p.len() >= 3)
        .await
        .unwrap();
    assert_eq!(points.len(), 3, "{points:#?}");

    let counter = rx
        .wait_for_metric_named("http.server.requests", TIMEOUT)
        .await
        .unwrap();
    assert_eq!(counter.len(), 1);
    let counter = &counter[0];
    assert_eq!(
        counter.kind,
        MetricKind::Sum {
            monotonic: true,
            temporality: Temporality::Cumulative
        }
    );
    assert_eq!(counter.value, PointValue::Int(5));
    assert_eq!(counter.value.as_i64(), Some(5));
    assert_eq!(counter.unit, "{request}");
    assert_eq!(counter.description, "Requests served");
    assert_eq!(counter.attributes.str("http.route"), Some("/users/{id}"));
    assert!(counter.time_unix_nano >= counter.start_time_unix_nano);

    let hist = points
        .iter()
        .find(|p| p.name == "http.server.request.duration")
        .unwrap();
    assert_eq!(
        hist.kind,
        MetricKind::Histogram {
            temporality: Temporality::Cumulative
        }
    );
    assert_eq!(hist.unit, "s");
    assert_eq!(hist.attributes.int("http.response.status_code"), Some(200));
    match &hist.value {
        PointValue::Histogram {
            count,
            sum,
            bucket_counts,
            explicit_bounds,
            min,
            max,
        } => {
            assert_eq!(*count, 2);
            assert!((sum.unwrap() - 1.0).abs() < 1e-9, "{sum:?}");
            assert_eq!(explicit_bounds, &[0.1, 0.5, 1.0]);
            assert_eq!(bucket_counts, &[0, 1, 1, 0]);
            assert_eq!(*min, Some(0.3));
            assert_eq!(*max, Some(0.7));
        }
        other => panic!("not a histogram: {other:?}"),
    }
    assert_eq!(hist.value.count(), Some(2));

    let gauge = points.iter().find(|p| p.name == "jobs.queued").unwrap();
    assert_eq!(gauge.kind, MetricKind::Gauge);
    assert_eq!(gauge.value, PointValue::Int(-4));
    assert!(gauge.attributes.is_empty());

    for p in &points {
        assert_eq!(p.resource.service_name(), Some("receiver-test"));
        assert_eq!(p.scope_name, "otlp-receiver-test");
        assert_eq!(p.scope_version.as_deref(), Some("1.2.3"));
    }
    assert_eq!(rx.export_requests(), proto.expected_stats(0, 1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_over_http_protobuf() {
    check_metrics(Proto::HttpProtobuf).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_over_http_json() {
    check_metrics(Proto::HttpJson).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_over_grpc() {
    check_metrics(Proto::Grpc).await;
}

/// Emits one record inside a span (trace context attached by the SDK) and
/// one outside. Returns the span's context.
fn emit_logs(proto: Proto, endpoints: &Endpoints) -> SpanContext {
    let provider = SdkLoggerProvider::builder()
        .with_batch_exporter(log_exporter(proto, endpoints))
        .with_resource(sdk_resource())
        .build();
    let logger = provider.logger_with_scope(scope());

    // A tracer without exporter, only to have a valid, sampled span context.
    let tracers = SdkTracerProvider::builder().build();
    let span = tracers.tracer("t").start("work");
    let span_ctx = span.span_context().clone();
    {
        let _guard = Context::current_with_span(span).attach();
        let mut record = logger.create_log_record();
        record.set_event_name("user.login");
        record.set_severity_number(Severity::Warn);
        record.set_severity_text("WARN");
        record.set_body("login failed".into());
        record.add_attribute("user.id", 42_i64);
        record.add_attribute("user.name", "ada");
        logger.emit(record);
    }
    let mut record = logger.create_log_record();
    record.set_severity_number(Severity::Info);
    record.set_body("outside any span".into());
    logger.emit(record);

    provider.shutdown().expect("logger provider shutdown");
    let _ = tracers.shutdown();
    span_ctx
}

async fn check_logs(proto: Proto) {
    let rx = OtlpReceiver::start().await.unwrap();
    let endpoints = Endpoints::new(proto, &rx).await;
    let span_ctx = tokio::task::spawn_blocking(move || emit_logs(proto, &endpoints))
        .await
        .unwrap();

    let records = rx
        .wait_for_log_records(TIMEOUT, |r| r.len() >= 2)
        .await
        .unwrap();
    assert_eq!(records.len(), 2, "{records:#?}");
    let login = records
        .iter()
        .find(|r| r.body_str() == Some("login failed"))
        .unwrap();
    assert_eq!(login.severity_number, 13);
    assert_eq!(login.severity_text, "WARN");
    assert_eq!(login.event_name, "user.login");
    assert_eq!(login.attributes.int("user.id"), Some(42));
    assert_eq!(login.attributes.str("user.name"), Some("ada"));
    assert_eq!(
        login.trace_id.as_deref(),
        Some(span_ctx.trace_id().to_string().as_str())
    );
    assert_eq!(
        login.span_id.as_deref(),
        Some(span_ctx.span_id().to_string().as_str())
    );
    assert!(login.observed_time_unix_nano > 0);
    assert_eq!(login.service_name(), Some("receiver-test"));
    assert_eq!(login.scope_name, "otlp-receiver-test");

    let outside = records
        .iter()
        .find(|r| r.body_str() == Some("outside any span"))
        .unwrap();
    assert_eq!(outside.severity_number, 9);
    assert_eq!(outside.trace_id, None);
    assert_eq!(outside.span_id, None);
    assert_eq!(rx.export_requests(), proto.expected_stats(0, 0, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_over_http_protobuf() {
    check_logs(Proto::HttpProtobuf).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_over_http_json() {
    check_logs(Proto::HttpJson).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_over_grpc() {
    check_logs(Proto::Grpc).await;
}
