//! The user-service's HTTP API: routes, handlers and the health endpoints.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use tokio::sync::Notify;
use tower_http::trace::TraceLayer;

use crate::cache::UserCache;
use crate::error::{ApiError, excerpt};
use crate::extract::{JsonBody, UserId};
use crate::store::{Store, StoreError};
use crate::user::{CreateUser, User};
use crate::{http_metrics, http_tracing};

/// Request bodies above this size get a 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub struct AppState {
    pub store: Store,
    pub cache: UserCache,
    /// Wakes the outbox relay after a user (and its event) is committed.
    pub outbox_wake: Arc<Notify>,
}

// ANCHOR: router
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/users", post(create_user))
        .route("/users/{id}", get(get_user))
        .nest("/demo", crate::demo::routes())
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(no_route)
        .method_not_allowed_fallback(method_not_allowed)
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
// ANCHOR_END: router

/// `POST /users`: validate, insert (with its event, in one transaction), cache, 201.
async fn create_user(
    State(state): State<Arc<AppState>>,
    JsonBody(request): JsonBody<CreateUser>,
) -> Result<impl IntoResponse, ApiError> {
    crate::telemetry::record_baggage_entry("session.id");
    let new_user = request.validate()?;
    let user = state
        .store
        .create_user(&new_user)
        .await
        .map_err(|err| match err {
            StoreError::DuplicateEmail => ApiError::Conflict(err.to_string()),
            other => database_failure(other),
        })?;
    state.outbox_wake.notify_one();
    crate::metrics::instruments().users_created.add(1, &[]);
    // Write-through: the first read is already a hit. A cache failure is not the client's
    // problem (the cache logs the outage).
    let _ = state.cache.put(&user).await;
    // No id, name or email in log lines: from step 2 on they are exported as telemetry.
    tracing::info!("user created");
    let location = format!("/users/{}", user.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(user),
    ))
}

// ANCHOR: get_user
/// `GET /users/{id}`: from the cache, else from Postgres (and then into the cache).
async fn get_user(
    State(state): State<Arc<AppState>>,
    UserId(id): UserId,
) -> Result<Json<User>, ApiError> {
    crate::telemetry::record_baggage_entry("session.id");
    match state.cache.get(id).await {
        Ok(Some(user)) => return Ok(Json(user)),
        // ANCHOR: span_event
        // A log record written inside the request's span: exported with that span's trace
        // and span ids (up to step 4, it was an event on the span).
        Ok(None) => tracing::info!("cache miss"),
        // ANCHOR_END: span_event
        // The cache has logged the outage: read from Postgres.
        Err(_) => {}
    }
    let user = state
        .store
        .find_user(id)
        .await
        .map_err(database_failure)?
        .ok_or_else(|| ApiError::NotFound(format!("user {id} not found")))?;
    let _ = state.cache.put(&user).await;
    Ok(Json(user))
}
// ANCHOR_END: get_user

/// A failed query, as the client sees it: 503 when the database is down or overloaded (try
/// again later), 500 for anything else. The database's own message stays in the log.
fn database_failure(err: StoreError) -> ApiError {
    if err.is_outage() {
        ApiError::Unavailable("the database is unavailable; try again later".into())
    } else {
        ApiError::Internal(format!("database error: {err}"))
    }
}

/// Liveness: the process answers.
async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// Readiness: can the service serve? Postgres is required. Valkey is not: without it reads
/// go to Postgres, so a cache outage leaves the service ready, and the body says it runs
/// degraded. Kafka is not required either: events wait in the outbox. The causes are in the
/// log (said once per outage), not in the body.
async fn readyz(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let postgres = state.store.ping().await;
    let valkey = state.cache.ping().await;
    let status = if postgres.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let describe = |ok: bool| if ok { "ok" } else { "unavailable" };
    let mode = if valkey.is_ok() {
        "normal"
    } else {
        "degraded: the cache is bypassed, reads go to Postgres"
    };
    let body = json!({
        "postgres": describe(postgres.is_ok()),
        "valkey": describe(valkey.is_ok()),
        "mode": mode,
    });
    (status, Json(body))
}

/// JSON 404 for any unknown route (both services use it).
pub async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {method} {}", excerpt(uri.path())))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::WithStatus {
        status: StatusCode::METHOD_NOT_ALLOWED,
        message: format!("{method} is not allowed on {}", excerpt(uri.path())),
    }
}
