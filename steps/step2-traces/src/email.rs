//! HTTP client of the email-service.

use std::time::Duration;

use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    #[error("email-service unreachable: {0}")]
    Unreachable(#[from] reqwest::Error),
    #[error("email-service answered {0}")]
    Rejected(reqwest::StatusCode),
}

#[derive(Serialize)]
struct EmailRequest<'a> {
    to: &'a str,
    subject: &'a str,
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

    #[tracing::instrument(name = "send_welcome_email", skip_all)]
    pub async fn send_welcome(&self, to: &str, name: &str) -> Result<(), EmailError> {
        let subject = format!("Welcome, {name}!");
        let response = self
            .http
            .post(&self.send_url)
            .json(&EmailRequest {
                to,
                subject: &subject,
            })
            .send()
            .await?;
        match response.status() {
            status if status.is_success() => Ok(()),
            status => {
                let err = EmailError::Rejected(status);
                crate::telemetry::record_error(&err);
                Err(err)
            }
        }
    }
}
