//! Hand-made requests: encodings, bad input, counting, waiting and shutdown.

mod common;

use std::time::{Duration, Instant};

use common::{gzip, post};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, span};
use otlp_receiver::{ExportStats, OtlpReceiver, Signal, SpanKind, Transport};
use prost::Message as _;

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

fn request(span_name: &str) -> ExportTraceServiceRequest {
    let kv = |key: &str, value| KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    };
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv(
                    "service.name",
                    any_value::Value::StringValue("edge".into()),
                )],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: vec![0xab; 16],
                    span_id: vec![0xcd; 8],
                    name: span_name.to_owned(),
                    kind: span::SpanKind::Server as i32,
                    start_time_unix_nano: 1,
                    end_time_unix_nano: 2,
                    attributes: vec![kv(
                        "http.response.status_code",
                        any_value::Value::IntValue(200),
                    )],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn only_http_traces(n: u64) -> ExportStats {
    ExportStats {
        http_traces: n,
        ..Default::default()
    }
}

#[tokio::test]
async fn gzip_protobuf_is_decoded_and_answered_in_protobuf() {
    let rx = OtlpReceiver::start().await.unwrap();
    let body = gzip(&request("gz").encode_to_vec());
    let resp = post(&rx.http_traces_url(), PROTOBUF, Some("gzip"), body).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], PROTOBUF);
    let bytes = resp.bytes().await.unwrap();
    assert_eq!(
        ExportTraceServiceResponse::decode(bytes).unwrap(),
        ExportTraceServiceResponse::default()
    );

    let span = rx.spans().pop().unwrap();
    assert_eq!(span.name, "gz");
    assert_eq!(span.kind, SpanKind::Server);
    assert_eq!(span.trace_id, "ab".repeat(16));
    assert_eq!(span.span_id, "cd".repeat(8));
    assert_eq!(span.parent_span_id, None);
    assert_eq!(span.attributes.int("http.response.status_code"), Some(200));
    assert_eq!(span.resource.service_name(), Some("edge"));
    assert_eq!(span.scope_version, None);
    let req = &rx.requests()[0];
    assert_eq!(req.content_encoding.as_deref(), Some("gzip"));
    assert_eq!(req.items, 1);
}

#[tokio::test]
async fn gzip_json_is_decoded_and_answered_in_json() {
    let rx = OtlpReceiver::start().await.unwrap();
    // OTLP/JSON as another SDK might write it: enum name, numeric int64, upper-case id.
    let json = r#"{"resourceSpans":[{"resource":{"attributes":[
        {"key":"service.name","value":{"stringValue":"js"}}]},
      "scopeSpans":[{"scope":{"name":"s"},"spans":[{
        "traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"eee19b7ec3c1b174",
        "parentSpanId":"aaaaaaaaaaaaaaaa","name":"json span","kind":"SPAN_KIND_CLIENT",
        "startTimeUnixNano":"1","endTimeUnixNano":2,
        "attributes":[{"key":"n","value":{"intValue":"-7"}},{"key":"m","value":{"intValue":8}}]
      }]}]}]}"#;
    let resp = post(
        &rx.http_traces_url(),
        "application/json; charset=utf-8",
        Some("gzip"),
        gzip(json.as_bytes()),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], JSON);
    assert_eq!(resp.text().await.unwrap(), "{}");

    let span = rx.spans().pop().unwrap();
    assert_eq!(span.name, "json span");
    assert_eq!(span.kind, SpanKind::Client);
    assert_eq!(span.trace_id, "5b8efff798038103d269b633813fc60c");
    assert_eq!(span.parent_span_id.as_deref(), Some("aaaaaaaaaaaaaaaa"));
    assert_eq!(span.attributes.int("n"), Some(-7));
    assert_eq!(span.attributes.int("m"), Some(8));
    assert_eq!(span.duration(), Duration::from_nanos(1));
    assert_eq!(span.service_name(), Some("js"));
    assert_eq!(span.scope_name, "s");
}

#[tokio::test]
async fn garbage_gets_400_and_is_counted() {
    let rx = OtlpReceiver::start().await.unwrap();
    let garbage = vec![0xff, 0x00, 0x13, 0x37, 0xde, 0xad, 0xbe, 0xef];

    let resp = post(&rx.http_traces_url(), PROTOBUF, None, garbage.clone()).await;
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("invalid protobuf"));

    let resp = post(&rx.http_traces_url(), JSON, None, b"{not json".to_vec()).await;
    assert_eq!(resp.status(), 400);
    let resp = post(&rx.http_traces_url(), JSON, None, b"[]".to_vec()).await;
    assert_eq!(resp.status(), 400);

    // Claims gzip but is not.
    let resp = post(
        &rx.http_traces_url(),
        PROTOBUF,
        Some("gzip"),
        garbage.clone(),
    )
    .await;
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("decompress"));

    assert!(rx.spans().is_empty());
    assert_eq!(rx.export_requests(), only_http_traces(4));
    let requests = rx.requests();
    assert_eq!(requests.len(), 4);
    assert!(requests.iter().all(|r| r.error.is_some() && r.items == 0));
    assert!(requests.iter().all(|r| r.transport == Transport::Http));
    assert!(
        requests[0]
            .error
            .as_deref()
            .unwrap()
            .starts_with("400 Bad Request: invalid protobuf")
    );

    // Wrong type for the endpoint: a logs request body on /v1/metrics
    // decodes (unknown fields are skipped), so it is an empty, valid request.
    let logs = ExportLogsServiceRequest::default().encode_to_vec();
    let resp = post(&rx.http_metrics_url(), PROTOBUF, None, logs).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(rx.export_requests().http_metrics, 1);
}

#[tokio::test]
async fn unsupported_media_type_and_encoding_get_415() {
    let rx = OtlpReceiver::start().await.unwrap();
    let body = request("x").encode_to_vec();

    let resp = post(&rx.http_logs_url(), "text/plain", None, body.clone()).await;
    assert_eq!(resp.status(), 415);
    let resp = reqwest::Client::new()
        .post(rx.http_logs_url())
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 415, "no content type");
    let resp = post(&rx.http_logs_url(), PROTOBUF, Some("br"), body).await;
    assert_eq!(resp.status(), 415);
    assert!(resp.text().await.unwrap().contains("Content-Encoding"));

    assert_eq!(
        rx.export_requests(),
        ExportStats {
            http_logs: 3,
            ..Default::default()
        }
    );
    assert!(rx.requests().iter().all(|r| r.signal == Signal::Logs));

    // Unknown paths and methods are not export requests.
    let resp = post(
        &format!("{}/v1/profiles", rx.http_endpoint()),
        PROTOBUF,
        None,
        vec![],
    )
    .await;
    assert_eq!(resp.status(), 404);
    let resp = reqwest::get(rx.http_traces_url()).await.unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(rx.export_requests().total(), 3);
}

#[tokio::test]
async fn empty_requests_are_counted() {
    let rx = OtlpReceiver::start().await.unwrap();
    let resp = post(&rx.http_traces_url(), PROTOBUF, None, Vec::new()).await;
    assert_eq!(resp.status(), 200);
    let resp = post(&rx.http_metrics_url(), JSON, None, b"{}".to_vec()).await;
    assert_eq!(resp.status(), 200);

    let mut client = TraceServiceClient::connect(rx.grpc_endpoint())
        .await
        .unwrap();
    client
        .export(ExportTraceServiceRequest::default())
        .await
        .unwrap();
    client.export(request("via grpc")).await.unwrap();

    assert_eq!(
        rx.export_requests(),
        ExportStats {
            http_traces: 1,
            http_metrics: 1,
            grpc_traces: 2,
            ..Default::default()
        }
    );
    assert_eq!(rx.export_requests().total(), 4);
    let spans = rx.spans();
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].name, "via grpc");
    assert_eq!(
        spans[0].attributes.int("http.response.status_code"),
        Some(200)
    );
}

/// A gRPC codec that sends raw bytes, to put garbage on the wire.
#[derive(Clone, Default)]
struct RawCodec;

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl tonic::codec::Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(
        &mut self,
        item: Vec<u8>,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        use prost::bytes::BufMut as _;
        dst.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Vec<u8>>, tonic::Status> {
        use prost::bytes::Buf as _;
        let mut out = vec![0; src.remaining()];
        src.copy_to_slice(&mut out);
        Ok(Some(out))
    }
}

#[tokio::test]
async fn grpc_garbage_is_rejected_and_counted() {
    let rx = OtlpReceiver::start().await.unwrap();
    let channel = tonic::transport::Endpoint::from_shared(rx.grpc_endpoint())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let status = grpc
        .unary(
            tonic::Request::new(vec![0xff, 0xff, 0xff, 0xff]),
            tonic::codegen::http::uri::PathAndQuery::from_static(
                "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            ),
            RawCodec,
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Internal, "{status:?}");
    assert_eq!(rx.export_requests().grpc_traces, 1);
    assert!(rx.spans().is_empty());
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let rx = OtlpReceiver::start().await.unwrap();
    // A gzip bomb: small on the wire, 33 MiB once inflated.
    let bomb = gzip(&vec![0; otlp_receiver::MAX_BODY_BYTES + 1024 * 1024]);
    assert!(bomb.len() < 1024 * 1024);
    let resp = post(&rx.http_traces_url(), PROTOBUF, Some("gzip"), bomb).await;
    assert_eq!(resp.status(), 413);

    let big = vec![0; otlp_receiver::MAX_BODY_BYTES + 1];
    let resp = reqwest::Client::new()
        .post(rx.http_traces_url())
        .header("content-type", PROTOBUF)
        .body(big)
        .send()
        .await;
    // The server may answer before reading the whole body and close the
    // connection; either way nothing is stored.
    if let Ok(resp) = resp {
        assert_eq!(resp.status(), 413);
    }
    assert_eq!(rx.export_requests().http_traces, 2);
    assert!(rx.spans().is_empty());
}

#[tokio::test]
async fn wait_times_out_with_an_explanation() {
    let rx = OtlpReceiver::start().await.unwrap();
    let resp = post(
        &rx.http_traces_url(),
        PROTOBUF,
        None,
        request("GET /present").encode_to_vec(),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let resp = post(&rx.http_traces_url(), PROTOBUF, None, vec![0xff; 3]).await;
    assert_eq!(resp.status(), 400);

    let started = Instant::now();
    let err = rx
        .wait_for_span_named("GET /missing", Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(started.elapsed() >= Duration::from_millis(200));
    let msg = err.to_string();
    assert!(
        msg.contains(r#"waiting for a span named "GET /missing""#),
        "{msg}"
    );
    assert!(msg.contains("received 1 span(s)"), "{msg}");
    assert!(msg.contains(r#""GET /present" kind=Server"#), "{msg}");
    assert!(msg.contains(&"ab".repeat(16)), "{msg}");
    assert!(msg.contains("http.response.status_code=200"), "{msg}");
    assert!(msg.contains("http traces=2"), "{msg}");
    assert!(msg.contains("invalid protobuf"), "{msg}");
    assert_eq!(err.stats.http_traces, 2);

    let err = rx
        .wait_for_metric_points(Duration::from_millis(50), |p| !p.is_empty())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("received 0 metric point(s)"),
        "{err}"
    );
    let err = rx
        .wait_for_log_records(Duration::from_millis(50), |l| !l.is_empty())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("received 0 log record(s)"),
        "{err}"
    );
    let err = rx
        .wait_for_span_count(2, Duration::from_millis(50))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("at least 2 span(s)"), "{err}");
}

#[tokio::test]
async fn timeout_listing_is_capped() {
    let rx = OtlpReceiver::start().await.unwrap();
    let mut req = request("s");
    let template = req.resource_spans[0].scope_spans[0].spans[0].clone();
    req.resource_spans[0].scope_spans[0].spans = (0..60)
        .map(|i| Span {
            name: format!("span {i}"),
            ..template.clone()
        })
        .collect();
    post(&rx.http_traces_url(), PROTOBUF, None, req.encode_to_vec()).await;
    let err = rx
        .wait_for_span_named("nope", Duration::from_millis(10))
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("received 60 span(s)"), "{msg}");
    assert!(msg.contains("[49] \"span 49\""), "{msg}");
    assert!(!msg.contains("\"span 50\""), "{msg}");
    assert!(msg.contains("... and 10 more"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiters_wake_up_when_data_arrives() {
    let rx = OtlpReceiver::start().await.unwrap();
    let url = rx.http_traces_url();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        post(&url, PROTOBUF, None, request("late").encode_to_vec()).await;
    });
    let started = Instant::now();
    let span = rx
        .wait_for_span_named("late", Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(span.name, "late");
    assert!(started.elapsed() < Duration::from_secs(5));

    // Already satisfied: returns at once.
    let spans = rx
        .wait_for_spans(Duration::ZERO, |s| s.len() == 1)
        .await
        .unwrap();
    assert_eq!(spans.len(), 1);
}

#[tokio::test]
async fn clear_forgets_everything() {
    let rx = OtlpReceiver::start().await.unwrap();
    post(
        &rx.http_traces_url(),
        PROTOBUF,
        None,
        request("a").encode_to_vec(),
    )
    .await;
    assert_eq!(rx.spans().len(), 1);
    rx.clear();
    assert!(rx.spans().is_empty());
    assert!(rx.requests().is_empty());
    assert_eq!(rx.export_requests().total(), 0);
    // Still serving after a clear.
    post(
        &rx.http_traces_url(),
        PROTOBUF,
        None,
        request("b").encode_to_vec(),
    )
    .await;
    assert_eq!(rx.spans()[0].name, "b");
}

#[tokio::test]
async fn endpoints_and_shutdown_on_drop() {
    let rx = OtlpReceiver::start().await.unwrap();
    let http = rx.http_endpoint();
    let grpc = rx.grpc_endpoint();
    assert!(http.starts_with("http://127.0.0.1:"), "{http}");
    assert!(grpc.starts_with("http://127.0.0.1:"), "{grpc}");
    assert_ne!(http, grpc);
    assert_eq!(rx.http_traces_url(), format!("{http}/v1/traces"));
    assert_eq!(format!("http://{}", rx.grpc_addr()), grpc);

    // Clones share the store and keep the servers alive.
    let clone = rx.clone();
    drop(rx);
    let resp = post(&clone.http_traces_url(), PROTOBUF, None, vec![]).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(clone.export_requests().http_traces, 1);

    let addr = clone.http_addr();
    drop(clone);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        tokio::task::yield_now().await;
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "HTTP listener still open after drop"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
