//! OTLP/HTTP server: `POST /v1/{traces,metrics,logs}` with protobuf or JSON
//! bodies, optionally gzip- or deflate-compressed.

use std::io::Read;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use serde::de::DeserializeOwned;

use crate::MAX_BODY_BYTES;
use crate::model::{log_records_from, metric_points_from, spans_from};
use crate::store::{Data, ExportRequest, Signal, Store, Transport};

pub(crate) fn router(store: Arc<Store>) -> Router {
    Router::new()
        .route("/v1/traces", post(traces))
        .route("/v1/metrics", post(metrics))
        .route("/v1/logs", post(logs))
        // The handlers enforce the limit themselves, after counting the request.
        .layer(DefaultBodyLimit::disable())
        .with_state(store)
}

async fn traces(State(store): State<Arc<Store>>, req: Request) -> Response {
    store.count(|s| s.http_traces += 1);
    handle::<ExportTraceServiceRequest, ExportTraceServiceResponse>(
        &store,
        Signal::Traces,
        req,
        |msg, data| {
            let spans = spans_from(msg.resource_spans);
            let n = spans.len();
            data.spans.extend(spans);
            n
        },
    )
    .await
}

async fn metrics(State(store): State<Arc<Store>>, req: Request) -> Response {
    store.count(|s| s.http_metrics += 1);
    handle::<ExportMetricsServiceRequest, ExportMetricsServiceResponse>(
        &store,
        Signal::Metrics,
        req,
        |msg, data| {
            let points = metric_points_from(msg.resource_metrics);
            let n = points.len();
            data.metric_points.extend(points);
            n
        },
    )
    .await
}

async fn logs(State(store): State<Arc<Store>>, req: Request) -> Response {
    store.count(|s| s.http_logs += 1);
    handle::<ExportLogsServiceRequest, ExportLogsServiceResponse>(
        &store,
        Signal::Logs,
        req,
        |msg, data| {
            let records = log_records_from(msg.resource_logs);
            let n = records.len();
            data.log_records.extend(records);
            n
        },
    )
    .await
}

/// Decode the request, store its items with `ingest`, record the request and answer.
async fn handle<Req, Resp>(
    store: &Store,
    signal: Signal,
    req: Request,
    ingest: fn(Req, &mut Data) -> usize,
) -> Response
where
    Req: prost::Message + Default + DeserializeOwned,
    Resp: prost::Message + Default,
{
    let mut record = ExportRequest {
        transport: Transport::Http,
        signal,
        content_type: header_string(req.headers(), header::CONTENT_TYPE),
        content_encoding: header_string(req.headers(), header::CONTENT_ENCODING),
        items: 0,
        error: None,
    };
    match decode::<Req>(req).await {
        Ok((msg, format)) => {
            store.update(|data| {
                record.items = ingest(msg, data);
                data.requests.push(record);
            });
            format.ok::<Resp>()
        }
        Err((status, message)) => {
            record.error = Some(format!("{status}: {message}"));
            store.update(|data| data.requests.push(record));
            error(status, message)
        }
    }
}

fn header_string(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Protobuf,
    Json,
}

impl Format {
    const PROTOBUF: &str = "application/x-protobuf";
    const JSON: &str = "application/json";

    fn from_headers(headers: &HeaderMap) -> Option<Format> {
        let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
        let media_type = value.split(';').next()?.trim();
        if media_type.eq_ignore_ascii_case(Self::PROTOBUF)
            || media_type.eq_ignore_ascii_case("application/protobuf")
        {
            Some(Format::Protobuf)
        } else if media_type.eq_ignore_ascii_case(Self::JSON) {
            Some(Format::Json)
        } else {
            None
        }
    }

    /// A successful (empty, i.e. no partial success) export response in this format.
    fn ok<R: prost::Message + Default>(self) -> Response {
        match self {
            Format::Protobuf => (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(Self::PROTOBUF),
                )],
                R::default().encode_to_vec(),
            )
                .into_response(),
            // All fields of a default response are absent, so `{}` is the exact
            // OTLP/JSON encoding (serde would write `"partialSuccess": null`).
            Format::Json => (
                [(header::CONTENT_TYPE, HeaderValue::from_static(Self::JSON))],
                "{}",
            )
                .into_response(),
        }
    }
}

fn error(status: StatusCode, message: String) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        message,
    )
        .into_response()
}

/// Read, decompress and decode an export request body.
async fn decode<T>(req: Request) -> Result<(T, Format), (StatusCode, String)>
where
    T: prost::Message + Default + DeserializeOwned,
{
    let (parts, body) = req.into_parts();
    let Some(format) = Format::from_headers(&parts.headers) else {
        let got = header_string(&parts.headers, header::CONTENT_TYPE)
            .unwrap_or_else(|| "<none>".to_owned());
        return Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "unsupported Content-Type {got:?}; expected {} or {}",
                Format::PROTOBUF,
                Format::JSON
            ),
        ));
    };
    let encoding = header_string(&parts.headers, header::CONTENT_ENCODING)
        .map(|v| v.trim().to_ascii_lowercase());

    let raw = read_body(body).await?;
    let bytes = match encoding.as_deref() {
        None | Some("" | "identity") => raw,
        Some("gzip" | "x-gzip") => decompress(flate2::read::GzDecoder::new(&raw[..]))?,
        Some("deflate") => decompress(flate2::read::ZlibDecoder::new(&raw[..]))?,
        Some(other) => {
            return Err((
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("unsupported Content-Encoding {other:?}; expected gzip, deflate or none"),
            ));
        }
    };

    let msg = match format {
        Format::Protobuf => T::decode(&bytes[..]).map_err(|e| format!("invalid protobuf: {e}")),
        Format::Json => crate::json::decode(&bytes),
    }
    .map_err(|e| (StatusCode::BAD_REQUEST, e))?;
    Ok((msg, format))
}

async fn read_body(body: Body) -> Result<Vec<u8>, (StatusCode, String)> {
    match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => Ok(bytes.to_vec()),
        Err(e) => {
            // `to_bytes` wraps http-body-util's `LengthLimitError`.
            let too_large =
                std::iter::successors(Some(&e as &(dyn std::error::Error + 'static)), |e| {
                    e.source()
                })
                .any(|e| e.to_string().contains("length limit exceeded"));
            Err(if too_large {
                (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("request body larger than {MAX_BODY_BYTES} bytes"),
                )
            } else {
                (StatusCode::BAD_REQUEST, format!("failed to read body: {e}"))
            })
        }
    }
}

/// Decompress, refusing output larger than the body limit (no zip bombs).
fn decompress(reader: impl Read) -> Result<Vec<u8>, (StatusCode, String)> {
    let mut out = Vec::new();
    let limit = MAX_BODY_BYTES as u64;
    match reader.take(limit + 1).read_to_end(&mut out) {
        Ok(_) if out.len() as u64 > limit => Err((
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("decompressed body larger than {MAX_BODY_BYTES} bytes"),
        )),
        Ok(_) => Ok(out),
        Err(e) => Err((
            StatusCode::BAD_REQUEST,
            format!("failed to decompress body: {e}"),
        )),
    }
}
