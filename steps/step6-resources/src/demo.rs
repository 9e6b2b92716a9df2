//! Demo endpoints for the talk and the load generator: slow work, CPU, memory, logs and a
//! real failure. `?delay_ms=N` adds latency and `?status=NNN` picks the response status.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::extract::QueryParams;
use crate::http::AppState;

const MAX_DELAY_MS: u64 = 10_000;
const MAX_CPU_MS: u64 = 5_000;
const MAX_MEMORY_MB: usize = 256;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/work", get(work))
        .route("/cpu", get(cpu))
        .route("/memory", get(memory))
        .route("/logs", get(logs))
        .route("/error", get(error))
}

#[derive(Debug, Default, Deserialize)]
pub struct DemoParams {
    delay_ms: Option<u64>,
    status: Option<u16>,
    ms: Option<u64>,
    mb: Option<usize>,
}

impl DemoParams {
    fn delay(&self) -> Result<Duration, ApiError> {
        let delay_ms = self.delay_ms.unwrap_or(0);
        if delay_ms > MAX_DELAY_MS {
            return Err(ApiError::BadRequest(format!(
                "delay_ms must be at most {MAX_DELAY_MS}"
            )));
        }
        Ok(Duration::from_millis(delay_ms))
    }

    fn status(&self) -> Result<StatusCode, ApiError> {
        match self.status {
            None => Ok(StatusCode::OK),
            Some(code @ 200..=599) => StatusCode::from_u16(code)
                .map_err(|_| ApiError::BadRequest(format!("status {code} is not a status code"))),
            Some(code) => Err(ApiError::BadRequest(format!(
                "status must be between 200 and 599, got {code}"
            ))),
        }
    }
}

/// Three steps of simulated work (load, compute, render) sharing `delay_ms`.
async fn work(
    QueryParams(params): QueryParams<DemoParams>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let delay = params.delay()?;
    let status = params.status()?;
    let started = Instant::now();
    // Tells a watcher (the graceful-shutdown test) that a request is in flight.
    tracing::info!("work started");
    for step in ["load", "compute", "render"] {
        tokio::time::sleep(delay / 3).await;
        tracing::debug!(step, "work step done");
    }
    let body = json!({
        "steps": ["load", "compute", "render"],
        "elapsed_ms": started.elapsed().as_millis() as u64,
        "status": status.as_u16(),
    });
    Ok((status, Json(body)))
}

/// Burn CPU for `ms` milliseconds (default 200) on a blocking thread, counting primes.
async fn cpu(QueryParams(params): QueryParams<DemoParams>) -> Result<Json<Value>, ApiError> {
    let budget_ms = params.ms.unwrap_or(200);
    if budget_ms > MAX_CPU_MS {
        return Err(ApiError::BadRequest(format!(
            "ms must be at most {MAX_CPU_MS}"
        )));
    }
    let budget = Duration::from_millis(budget_ms);
    let primes = tokio::task::spawn_blocking(move || count_primes_for(budget))
        .await
        .map_err(|err| ApiError::Internal(format!("cpu task failed: {err}")))?;
    Ok(Json(
        json!({ "primes_found": primes, "busy_ms": budget_ms }),
    ))
}

fn count_primes_for(budget: Duration) -> u64 {
    let started = Instant::now();
    let mut found = 0;
    let mut candidate: u64 = 2;
    while started.elapsed() < budget {
        if (2..)
            .take_while(|d| d * d <= candidate)
            .all(|d| !candidate.is_multiple_of(d))
        {
            found += 1;
        }
        candidate += 1;
    }
    found
}

/// Allocate `mb` MiB (default 16), touch every page, hold it for `delay_ms`, free it.
async fn memory(QueryParams(params): QueryParams<DemoParams>) -> Result<Json<Value>, ApiError> {
    let mb = params.mb.unwrap_or(16);
    if mb > MAX_MEMORY_MB {
        return Err(ApiError::BadRequest(format!(
            "mb must be at most {MAX_MEMORY_MB}"
        )));
    }
    let hold = params.delay()?.max(Duration::from_millis(100));
    let block = vec![1u8; mb * 1024 * 1024];
    tokio::time::sleep(hold).await;
    let touched: usize = block
        .iter()
        .step_by(4096)
        .map(|&byte| usize::from(byte))
        .sum();
    drop(block);
    Ok(Json(
        json!({ "allocated_mb": mb, "pages_touched": touched, "held_ms": hold.as_millis() as u64 }),
    ))
}

/// One log line at each level, with structured fields.
async fn logs(QueryParams(params): QueryParams<DemoParams>) -> Result<Json<Value>, ApiError> {
    tokio::time::sleep(params.delay()?).await;
    tracing::trace!(demo = "logs", "a trace-level detail");
    tracing::debug!(demo = "logs", "a debug message");
    tracing::info!(demo = "logs", items = 3, "an info message with a field");
    tracing::warn!(demo = "logs", retry_in_ms = 250, "a warning");
    tracing::error!(demo = "logs", "an error message");
    Ok(Json(
        json!({ "logged": ["trace", "debug", "info", "warn", "error"] }),
    ))
}

// ANCHOR: demo_error
/// A real failure path: reads a table that does not exist, so Postgres answers with an
/// error (SQLSTATE 42P01) and the request fails with 500.
async fn error(
    State(state): State<Arc<AppState>>,
    QueryParams(params): QueryParams<DemoParams>,
) -> Result<Json<Value>, ApiError> {
    tokio::time::sleep(params.delay()?).await;
    match state.store.find_legacy_account(1).await {
        Ok(name) => Ok(Json(json!({ "legacy_account": name }))),
        Err(err) => Err(ApiError::Internal(format!(
            "legacy account lookup failed: {err}"
        ))),
    }
}
// ANCHOR_END: demo_error
