//! The email-service: accepts `POST /emails` and pretends to send them. It keeps the last
//! accepted emails in memory (`GET /emails`), like a mail catcher, so that the demo and the
//! tests can see what was sent. `EMAIL_FAILURE_RATE` makes a share of calls fail with 503.
//!
//! A request may carry an `idempotency_key`: a repeated key gets the first answer again and
//! sends nothing, so a caller that delivers at least once (the welcome-email consumer) sends
//! each email exactly once.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use opentelemetry::KeyValue;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

use crate::config::EmailServiceConfig;
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::http::{MAX_BODY_BYTES, no_route};
use crate::{http_metrics, http_tracing};

/// How many accepted emails `GET /emails` remembers.
const KEEP_LAST: usize = 1000;
/// How many idempotency keys are remembered (the oldest are forgotten first): far more than
/// the copies of an event that can be in flight at once.
const KEEP_KEYS: usize = 100_000;
const MAX_KEY_CHARS: usize = 255;

#[derive(Debug, Deserialize)]
pub struct SendEmail {
    pub to: String,
    pub subject: String,
    /// Optional: the same key twice sends one email.
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SentEmail {
    pub id: i64,
    pub to: String,
    pub subject: String,
    pub accepted_at: DateTime<Utc>,
}

#[derive(Default)]
struct Outbox {
    next_id: i64,
    sent: VecDeque<SentEmail>,
    /// Idempotency key → id of the email it sent, and the keys in arrival order.
    keys: HashMap<String, i64>,
    key_order: VecDeque<String>,
}

struct EmailState {
    failure_rate: f64,
    outbox: Mutex<Outbox>,
}

pub fn router(failure_rate: f64) -> Router {
    let state = Arc::new(EmailState {
        failure_rate,
        outbox: Mutex::default(),
    });
    Router::new()
        .route("/emails", post(send_email).get(list_emails))
        .route("/healthz", get(ok))
        .route("/readyz", get(ok))
        .fallback(no_route)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(http_tracing::server_span)
                .on_response(http_tracing::record_response)
                // 5xx are recorded on the span; the service logs its own errors.
                .on_failure(()),
        )
        .layer(axum::middleware::from_fn(http_metrics::record_request))
        .with_state(state)
}

pub async fn run(config: EmailServiceConfig) -> anyhow::Result<()> {
    let listener = TcpListener::bind(config.listen_addr)
        .await
        .map_err(|err| anyhow::anyhow!("cannot listen on {}: {err}", config.listen_addr))?;
    tracing::info!(
        failure_rate = config.failure_rate,
        "email-service listening on http://{}",
        listener.local_addr()?
    );
    let app = router(config.failure_rate);
    crate::server::serve(listener, app, crate::shutdown::signal_received()).await;
    tracing::info!("email-service stopped");
    Ok(())
}

/// `POST /emails` → 202, or 503 when the simulated provider fails. A repeated
/// `idempotency_key` → 202 with the first email's id, and nothing sent.
#[tracing::instrument(name = "send_email", skip_all)]
async fn send_email(
    State(state): State<Arc<EmailState>>,
    JsonBody(request): JsonBody<SendEmail>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    crate::telemetry::record_baggage_entry("session.id");
    let to = request.to.trim();
    if to.is_empty() || !to.contains('@') {
        return Err(ApiError::Unprocessable(
            "to must be an email address".into(),
        ));
    }
    if request.subject.trim().is_empty() {
        return Err(ApiError::Unprocessable("subject must not be empty".into()));
    }
    let key = request.idempotency_key;
    if key
        .as_ref()
        .is_some_and(|key| key.is_empty() || key.chars().count() > MAX_KEY_CHARS)
    {
        return Err(ApiError::Unprocessable(format!(
            "idempotency_key must be 1 to {MAX_KEY_CHARS} characters"
        )));
    }
    let mut outbox = state
        .outbox
        .lock()
        .map_err(|_| ApiError::Internal("email outbox lock poisoned".into()))?;
    // Before the simulated failure: a real provider answers a replay from its records.
    if let Some(&id) = key.as_ref().and_then(|key| outbox.keys.get(key)) {
        drop(outbox);
        tracing::info!(email_id = id, "repeated idempotency key, nothing sent");
        count_email("duplicate");
        return Ok(accepted(id));
    }
    if state.failure_rate > 0.0 && fastrand::f64() < state.failure_rate {
        drop(outbox);
        tracing::warn!("simulated email provider failure");
        count_email("failed");
        return Err(ApiError::Unavailable(
            "email provider unavailable (simulated)".into(),
        ));
    }
    outbox.next_id += 1;
    let id = outbox.next_id;
    if outbox.sent.len() == KEEP_LAST {
        outbox.sent.pop_front();
    }
    outbox.sent.push_back(SentEmail {
        id,
        to: to.to_owned(),
        subject: request.subject,
        accepted_at: Utc::now(),
    });
    if let Some(key) = key {
        if outbox.key_order.len() == KEEP_KEYS
            && let Some(oldest) = outbox.key_order.pop_front()
        {
            outbox.keys.remove(&oldest);
        }
        outbox.keys.insert(key.clone(), id);
        outbox.key_order.push_back(key);
    }
    drop(outbox);
    // The address and the subject (it holds the name) stay out of the logs; the id finds
    // them in `GET /emails`.
    tracing::info!(email_id = id, "email accepted");
    count_email("sent");
    Ok(accepted(id))
}

/// `emails.sent` by outcome: `sent`, `duplicate` (a repeated idempotency key: nothing sent),
/// `failed` (the simulated provider failed).
fn count_email(outcome: &'static str) {
    crate::metrics::instruments()
        .emails_sent
        .add(1, &[KeyValue::new("outcome", outcome)]);
}

fn accepted(id: i64) -> (StatusCode, Json<Value>) {
    (
        StatusCode::ACCEPTED,
        Json(json!({ "id": id, "status": "accepted" })),
    )
}

/// `GET /emails`: the emails accepted so far, oldest first.
async fn list_emails(
    State(state): State<Arc<EmailState>>,
) -> Result<Json<Vec<SentEmail>>, ApiError> {
    let outbox = state
        .outbox
        .lock()
        .map_err(|_| ApiError::Internal("email outbox lock poisoned".into()))?;
    Ok(Json(outbox.sent.iter().cloned().collect()))
}

async fn ok() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}
