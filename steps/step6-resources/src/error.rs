//! Every failure a client can see, mapped to a status code and a JSON body
//! `{ "error": "…" }`. Handlers return `Result<_, ApiError>`; nothing panics on bad input.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed request: bad JSON syntax, bad path or query parameter (400).
    #[error("{0}")]
    BadRequest(String),
    /// The resource does not exist (404).
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with existing data, e.g. a duplicate email (409).
    #[error("{0}")]
    Conflict(String),
    /// Well-formed but invalid content, e.g. a missing name (422).
    #[error("{0}")]
    Unprocessable(String),
    /// A dependency the request needs is unavailable (503).
    #[error("{0}")]
    Unavailable(String),
    /// A rejection that already knows its status, e.g. 413 or 415 from the body extractor.
    #[error("{message}")]
    WithStatus { status: StatusCode, message: String },
    /// A bug or an unexpected failure (500). The details are logged, not sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::WithStatus { status, .. } => *status,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            Self::Internal(details) => {
                tracing::error!(%details, "request failed");
                "internal error".to_owned()
            }
            other => other.to_string(),
        };
        (status, Json(json!({ "error": message }))).into_response()
    }
}

/// Echo client input in an error message without echoing a whole payload.
pub fn excerpt(input: &str) -> String {
    const MAX: usize = 64;
    match input.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &input[..cut]),
        None => input.to_owned(),
    }
}
