//! HTTP client of the email-service.

use std::time::Duration;

use serde::Serialize;

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
}

impl EmailClient {
    pub fn new(base_url: &str) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()?;
        Ok(Self {
            http,
            send_url: format!("{}/emails", base_url.trim_end_matches('/')),
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
        let result = match self.http.post(&self.send_url).json(&request).send().await {
            Ok(response) if response.status().is_success() => Ok(()),
            Ok(response) => Err(EmailError::Rejected(response.status())),
            Err(err) => Err(EmailError::Unreachable(err)),
        };
        // The consumer logs the failure and retries; the span records it.
        if let Err(err) = &result {
            crate::telemetry::mark_failed(&tracing::Span::current(), &err.kind(), err);
        }
        result
    }
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
