//! A span exporter that says once that the collector is unreachable, and once that it is
//! back. The SDK itself logs every failed export (every few seconds while the collector is
//! down); `telemetry.rs` keeps those logs out of stdout and lets this wrapper speak instead.
//! Requests are never slowed down by an outage: exports run on the SDK's own thread, and
//! spans that cannot be sent are dropped.

use std::time::Duration;

use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

use crate::outage::OutageLog;

#[derive(Debug)]
pub struct OutageReportingExporter<E> {
    inner: E,
    outage: OutageLog,
}

impl<E> OutageReportingExporter<E> {
    pub fn new(inner: E, collector: String) -> Self {
        Self {
            inner,
            outage: OutageLog::new(
                collector,
                "spans are dropped",
                "Start the stack with `make up`, or point OTEL_EXPORTER_OTLP_ENDPOINT at a collector.",
            ),
        }
    }
}

impl<E: SpanExporter> SpanExporter for OutageReportingExporter<E> {
    // ANCHOR: export_outage
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let result = self.inner.export(batch).await;
        match &result {
            Ok(()) => self.outage.succeeded(),
            Err(err) => self.outage.failed(err),
        }
        result
    }
    // ANCHOR_END: export_outage

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}
