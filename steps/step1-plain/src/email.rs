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
        match self.http.post(&self.send_url).json(&request).send().await {
            Ok(response) if response.status().is_success() => Ok(()),
            Ok(response) => Err(EmailError::Rejected(response.status())),
            Err(err) => Err(EmailError::Unreachable(err)),
        }
    }
}
