//! OTLP/gRPC server: the generated `TraceService`, `MetricsService` and
//! `LogsService` servers from `opentelemetry-proto`, backed by the store.

use std::sync::Arc;

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tonic::codec::CompressionEncoding;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

use crate::MAX_BODY_BYTES;
use crate::model::{log_records_from, metric_points_from, spans_from};
use crate::store::{ExportRequest, ExportStats, Signal, Store, Transport};

#[derive(Clone)]
struct Receiver(Arc<Store>);

impl Receiver {
    fn record<T>(&self, signal: Signal, request: &Request<T>) -> ExportRequest {
        let meta = |key| {
            request
                .metadata()
                .get(key)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        ExportRequest {
            transport: Transport::Grpc,
            signal,
            content_type: meta("content-type"),
            content_encoding: meta("grpc-encoding"),
            items: 0,
            error: None,
        }
    }
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let record = self.record(Signal::Traces, &request);
        let spans = spans_from(request.into_inner().resource_spans);
        self.0.update(|d| {
            d.requests.push(ExportRequest {
                items: spans.len(),
                ..record
            });
            d.spans.extend(spans);
        });
        Ok(Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Receiver {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        let record = self.record(Signal::Metrics, &request);
        let points = metric_points_from(request.into_inner().resource_metrics);
        self.0.update(|d| {
            d.requests.push(ExportRequest {
                items: points.len(),
                ..record
            });
            d.metric_points.extend(points);
        });
        Ok(Response::new(ExportMetricsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl LogsService for Receiver {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        let record = self.record(Signal::Logs, &request);
        let records = log_records_from(request.into_inner().resource_logs);
        self.0.update(|d| {
            d.requests.push(ExportRequest {
                items: records.len(),
                ..record
            });
            d.log_records.extend(records);
        });
        Ok(Response::new(ExportLogsServiceResponse::default()))
    }
}

/// An interceptor that counts the request. Interceptors run before the
/// message is decoded, so undecodable requests are counted too.
fn counter(
    store: &Arc<Store>,
    field: fn(&mut ExportStats) -> &mut u64,
) -> impl FnMut(Request<()>) -> Result<Request<()>, Status> + Clone + Send + Sync + 'static {
    let store = Arc::clone(store);
    move |req| {
        store.count(|s| *field(s) += 1);
        Ok(req)
    }
}

/// Serve OTLP/gRPC on `listener` until the task is aborted.
pub(crate) async fn serve(store: Arc<Store>, listener: tokio::net::TcpListener) {
    let receiver = Receiver(Arc::clone(&store));
    let traces = TraceServiceServer::new(receiver.clone())
        .accept_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(MAX_BODY_BYTES);
    let metrics = MetricsServiceServer::new(receiver.clone())
        .accept_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(MAX_BODY_BYTES);
    let logs = LogsServiceServer::new(receiver)
        .accept_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(MAX_BODY_BYTES);

    let result = Server::builder()
        .add_service(tonic::service::interceptor::InterceptedService::new(
            traces,
            counter(&store, |s| &mut s.grpc_traces),
        ))
        .add_service(tonic::service::interceptor::InterceptedService::new(
            metrics,
            counter(&store, |s| &mut s.grpc_metrics),
        ))
        .add_service(tonic::service::interceptor::InterceptedService::new(
            logs,
            counter(&store, |s| &mut s.grpc_logs),
        ))
        .serve_with_incoming(TcpIncoming::from(listener))
        .await;
    if let Err(e) = result {
        eprintln!("otlp-receiver: gRPC server stopped: {e}");
    }
}
