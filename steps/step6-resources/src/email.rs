//! HTTP client of the email-service.

use std::time::{Duration, Instant};

use opentelemetry::{KeyValue, global};
use opentelemetry_http::HeaderInjector;
use serde::Serialize;
use tracing::Instrument;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt;

#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    #[error("email-service unreachable: {0}")]
    Unreachable(reqwest::Error),
    #[error("email-service answered {0}")]
    Rejected(reqwest::StatusCode),
}

#[derive(Serialize)]
struct EmailRequest<'a> {
    to: &'a str,
    subject: &'a str,
    /// The email-service sends one email per key, however often it is asked.
    idempotency_key: &'a str,
}

#[derive(Clone)]
pub struct EmailClient {
    http: reqwest::Client,
    send_url: String,
    /// `server.address` and `server.port` of the CLIENT spans, parsed once from the URL.
    server_address: Option<String>,
    server_port: Option<i64>,
}

impl EmailClient {
    pub fn new(base_url: &str) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()?;
        let send_url = format!("{}/emails", base_url.trim_end_matches('/'));
        let url = reqwest::Url::parse(&send_url).ok();
        Ok(Self {
            http,
            server_address: url
                .as_ref()
                .and_then(|url| url.host_str().map(str::to_owned)),
            server_port: url
                .and_then(|url| url.port_or_known_default())
                .map(i64::from),
            send_url,
        })
    }

    /// Ask for a welcome email. Asking again with the same `idempotency_key` sends nothing
    /// more: a retry, or the same event seen twice, never mails the user twice.
    #[tracing::instrument(name = "send_welcome_email", skip_all)]
    pub async fn send_welcome(
        &self,
        to: &str,
        name: &str,
        idempotency_key: &str,
    ) -> Result<(), EmailError> {
        let subject = format!("Welcome, {name}!");
        let request = EmailRequest {
            to,
            subject: &subject,
            idempotency_key,
        };
        let result = self.post(&request).await;
        // The consumer logs the failure and retries; the span records it.
        if let Err(err) = &result {
            crate::telemetry::mark_failed(&tracing::Span::current(), &err.kind(), err);
        }
        result
    }

    // ANCHOR: client_span
    /// `POST /emails` in a CLIENT span, with the span's context in the request headers
    /// (`traceparent`, `baggage`): the email-service's server span becomes its child.
    async fn post(&self, body: &EmailRequest<'_>) -> Result<(), EmailError> {
        let span = tracing::info_span!(
            "HTTP client request",
            otel.name = "POST",
            otel.kind = "client",
            http.request.method = "POST",
            url.full = self.send_url,
            server.address = self.server_address,
            server.port = self.server_port,
            http.response.status_code = Empty,
        );
        // ANCHOR: inject
        let mut request = self
            .http
            .post(&self.send_url)
            .json(body)
            .build()
            .map_err(EmailError::Unreachable)?;
        global::get_text_map_propagator(|propagator| {
            propagator.inject_context(&span.context(), &mut HeaderInjector(request.headers_mut()));
        });
        let started = Instant::now();
        let response = self.http.execute(request).instrument(span.clone()).await;
        // ANCHOR_END: inject
        let duration = started.elapsed().as_secs_f64();
        let mut attributes = vec![KeyValue::new("http.request.method", "POST")];
        attributes.extend(
            self.server_address
                .clone()
                .map(|host| KeyValue::new("server.address", host)),
        );
        attributes.extend(
            self.server_port
                .map(|port| KeyValue::new("server.port", port)),
        );
        let result = match response {
            Ok(response) => {
                let status = response.status();
                span.record("http.response.status_code", i64::from(status.as_u16()));
                attributes.push(KeyValue::new(
                    "http.response.status_code",
                    i64::from(status.as_u16()),
                ));
                if status.is_success() {
                    Ok(())
                } else {
                    Err(EmailError::Rejected(status))
                }
            }
            Err(err) => Err(EmailError::Unreachable(err)),
        };
        // For a client span, any status >= 400 is an error, and so is no answer.
        if let Err(err) = &result {
            crate::telemetry::mark_failed(&span, &err.kind(), err);
            attributes.push(KeyValue::new("error.type", err.kind()));
        }
        crate::metrics::instruments()
            .http_client_duration
            .record(duration, &attributes);
        result
    }
    // ANCHOR_END: client_span
}

impl EmailError {
    /// A low-cardinality `error.type`: the status code the email-service answered, or what
    /// kept it from answering.
    fn kind(&self) -> String {
        match self {
            Self::Rejected(status) => status.as_str().to_owned(),
            Self::Unreachable(err) if err.is_timeout() => "timeout".to_owned(),
            Self::Unreachable(err) if err.is_connect() => "connect".to_owned(),
            Self::Unreachable(_) => "_OTHER".to_owned(),
        }
    }
}
