//! The load generator against an in-process stub of the user-service: just enough of the API
//! (same statuses for the same input) to check the mix, the counts and the trace headers,
//! without Postgres, Valkey or Kafka.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use loadgen::mix::{Kind, is_valid_traceparent};
use loadgen::request::TransportError;
use loadgen::stats::StopReason;
use loadgen::{Config, RunError};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

#[derive(Default)]
struct Stub {
    /// email (lower-cased) → id, and the ids that exist.
    users: Mutex<HashMap<String, u64>>,
    /// (traceparent, baggage) of every request that had either.
    trace_headers: Mutex<Vec<(Option<String>, Option<String>)>>,
    requests: Mutex<u64>,
}

async fn start_stub() -> (String, Arc<Stub>) {
    let stub = Arc::new(Stub::default());
    let app = Router::new()
        .route(
            "/healthz",
            get(|| async { Json(json!({ "status": "ok" })) }),
        )
        .route("/users", post(create_user))
        .route("/users/{id}", get(get_user))
        .route("/demo/work", get(work))
        .route(
            "/demo/error",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "relation does not exist") }),
        )
        .route(
            "/demo/cpu",
            get(|| async { Json(json!({ "busy_ms": 20 })) }),
        )
        .route("/demo/logs", get(|| async { Json(json!({ "logged": 5 })) }))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&stub),
            record_headers,
        ))
        .with_state(Arc::clone(&stub));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, stub)
}

async fn record_headers(State(stub): State<Arc<Stub>>, request: Request, next: Next) -> Response {
    // Read the headers in a block: a borrow of the request (its body is not `Sync`) must not
    // live across the await below.
    let (traceparent, baggage) = {
        let header = |name| {
            request
                .headers()
                .get(name)
                .map(|value: &axum::http::HeaderValue| value.to_str().unwrap().to_owned())
        };
        (header("traceparent"), header("baggage"))
    };
    if request.uri().path() != "/healthz" {
        *stub.requests.lock().unwrap() += 1;
    }
    if traceparent.is_some() || baggage.is_some() {
        stub.trace_headers
            .lock()
            .unwrap()
            .push((traceparent, baggage));
    }
    next.run(request).await
}

/// The real service's rules: 400 malformed JSON, 422 missing field or bad email, 409 taken
/// email (case-insensitive), else 201 with the user.
async fn create_user(State(stub): State<Arc<Stub>>, body: Bytes) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "malformed JSON").into_response();
    };
    let (Some(name), Some(email)) = (body["name"].as_str(), body["email"].as_str()) else {
        return (StatusCode::UNPROCESSABLE_ENTITY, "missing field").into_response();
    };
    if !email.contains('@') {
        return (StatusCode::UNPROCESSABLE_ENTITY, "invalid email").into_response();
    }
    let email = email.to_lowercase();
    let mut users = stub.users.lock().unwrap();
    if users.contains_key(&email) {
        return (StatusCode::CONFLICT, "taken").into_response();
    }
    let id = users.len() as u64 + 1;
    users.insert(email.clone(), id);
    let user = json!({ "id": id, "name": name, "email": email });
    (StatusCode::CREATED, Json(user)).into_response()
}

async fn get_user(State(stub): State<Arc<Stub>>, Path(id): Path<u64>) -> Response {
    let exists = stub
        .users
        .lock()
        .unwrap()
        .values()
        .any(|&known| known == id);
    if exists {
        Json(json!({ "id": id })).into_response()
    } else {
        (StatusCode::NOT_FOUND, "not found").into_response()
    }
}

async fn work(Query(params): Query<HashMap<String, u64>>) -> Response {
    // A tenth of the asked delay: the test needs some latency spread, not the full wait.
    let delay = params.get("delay_ms").copied().unwrap_or(0) / 10;
    tokio::time::sleep(Duration::from_millis(delay)).await;
    let status = params.get("status").copied().unwrap_or(200) as u16;
    (StatusCode::from_u16(status).unwrap(), "done").into_response()
}

#[tokio::test]
async fn a_run_of_200_requests_covers_the_mix_and_the_counts_add_up() {
    let (url, stub) = start_stub().await;
    let mut config = Config::new(url, 200);
    config.seed = 42;
    config.run_id = "test1234".into();

    let summary = loadgen::run(&config, CancellationToken::new())
        .await
        .unwrap();
    println!("{summary}");

    assert_eq!(summary.total, 200);
    assert_eq!(*stub.requests.lock().unwrap(), 200);
    assert_eq!(summary.run.stopped, StopReason::RequestCount);
    assert_eq!(summary.transport_errors(), 0);
    assert_eq!(summary.statuses.values().sum::<u64>(), 200);
    assert_eq!(summary.classes().values().sum::<u64>(), 200);
    assert_eq!(summary.kinds.iter().map(|k| k.count).sum::<u64>(), 200);
    // The stub answers like the service, so every answer is the one the request asked for.
    assert_eq!(summary.unexpected(), 0, "{summary}");

    let kinds: Vec<Kind> = summary.kinds.iter().map(|k| k.kind).collect();
    for kind in [Kind::Create, Kind::Read, Kind::ReadUnknown, Kind::DemoWork] {
        assert!(kinds.contains(&kind), "no {kind} in {kinds:?}");
    }
    assert!(kinds.len() >= 8, "only {kinds:?}");
    for status in [200, 201, 404] {
        assert!(summary.statuses.contains_key(&status), "no {status}");
    }
    assert!(summary.statuses.len() >= 6, "{:?}", summary.statuses);
    let creates = summary.kind(Kind::Create).unwrap().count;
    assert_eq!(stub.users.lock().unwrap().len() as u64, creates);
    let latency = summary.latency.unwrap();
    assert!(latency.p50 <= latency.p90 && latency.p90 <= latency.p99 && latency.p99 <= latency.max);

    let headers = stub.trace_headers.lock().unwrap();
    assert!(
        (15..=70).contains(&headers.len()),
        "{} of 200 traced",
        headers.len()
    );
    for (traceparent, baggage) in headers.iter() {
        let traceparent = traceparent.as_deref().unwrap();
        assert!(is_valid_traceparent(traceparent), "{traceparent}");
        assert_eq!(baggage.as_deref(), Some("session.id=loadgen-test1234"));
    }
}

#[tokio::test]
async fn the_rate_caps_requests_per_second() {
    let (url, _stub) = start_stub().await;
    let mut config = Config::new(url, 30);
    config.rate = Some(100.0);
    config.weights = "demo-logs=1".parse().unwrap();
    let started = Instant::now();
    let summary = loadgen::run(&config, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(summary.total, 30);
    // 30 starts 10 ms apart: the last starts 290 ms after the first.
    assert!(started.elapsed() >= Duration::from_millis(285), "{summary}");
    assert!(summary.rate() <= 105.0, "{}", summary.rate());
}

#[tokio::test]
async fn a_duration_ends_the_run() {
    let (url, _stub) = start_stub().await;
    let config = Config {
        requests: None,
        duration: Some(Duration::from_millis(300)),
        concurrency: 2,
        ..Config::new(url, 1)
    };
    let summary = loadgen::run(&config, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(summary.run.stopped, StopReason::Duration);
    assert!(summary.total > 0);
    let elapsed = summary.run.elapsed;
    // In-flight requests finish after the deadline: at most a slow demo-work (30 ms here).
    assert!(
        elapsed >= Duration::from_millis(300) && elapsed < Duration::from_millis(800),
        "{elapsed:?}"
    );
}

#[tokio::test]
async fn cancelling_stops_early_and_still_summarises() {
    let (url, _stub) = start_stub().await;
    let config = Config {
        requests: None,
        duration: Some(Duration::from_secs(60)),
        ..Config::new(url, 1)
    };
    let cancel = CancellationToken::new();
    let stopper = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        stopper.cancel();
    });
    let summary = loadgen::run(&config, cancel).await.unwrap();
    assert_eq!(summary.run.stopped, StopReason::Interrupted);
    assert!(summary.total > 0);
    assert!(summary.run.elapsed < Duration::from_secs(2));
}

#[tokio::test]
async fn a_service_that_goes_away_counts_refused_connections_without_failing() {
    // A service that passes the health check, then shuts down 100 ms into the run.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new().route("/healthz", get(|| async { "ok" }));
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(tokio::time::sleep(Duration::from_millis(100)))
            .await
            .unwrap()
    });
    let config = Config {
        requests: None,
        duration: Some(Duration::from_millis(600)),
        concurrency: 2,
        weights: "demo-logs=1".parse().unwrap(),
        ..Config::new(url, 1)
    };
    let summary = loadgen::run(&config, CancellationToken::new())
        .await
        .unwrap();
    server.await.unwrap();
    let refused = summary.transport[&TransportError::ConnectionRefused];
    assert!(refused > 0, "{summary}");
    // The back-off keeps a dead service from turning into a busy loop: 2 workers, 500 ms.
    assert!(refused < 30, "{summary}");
}

#[tokio::test]
async fn an_unreachable_service_is_a_clear_error() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let error = loadgen::run(&Config::new(url.clone(), 10), CancellationToken::new())
        .await
        .unwrap_err();
    assert!(matches!(error, RunError::Unreachable { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        format!("no user-service at {url}: connection refused — start one with `make run STEP=n`")
    );
}

#[tokio::test]
async fn something_else_than_the_service_is_named() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, Router::new()).await.unwrap() });
    let error = loadgen::run(&Config::new(url.clone(), 10), CancellationToken::new())
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with(&format!("GET {url}/healthz answered 404")),
        "{error}"
    );
}

#[test]
fn the_binary_exits_1_with_the_message_when_nothing_listens() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(["--url", &format!("http://127.0.0.1:{port}"), "--quiet"])
        .args(["--requests", "5"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "error: no user-service at http://127.0.0.1:{port}: connection refused"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("make run STEP=n"), "{stderr}");
}

#[tokio::test]
async fn the_binary_prints_the_summary_and_exits_0_despite_errors() {
    let (url, _stub) = start_stub().await;
    // Blocking wait on a blocking thread: the stub runs on this test's runtime.
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_loadgen"))
            .args(["--url", &url, "--requests", "50", "--seed", "1", "--quiet"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("requests   50 in"), "{stdout}");
    assert!(stdout.contains("seed 1"), "{stdout}");
    // --quiet: no progress and no plan line on stderr.
    assert!(output.stderr.is_empty());
}
