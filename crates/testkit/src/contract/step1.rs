//! Step 1: the service itself. Users are created, cached and read; each new user gets one
//! `user.created` event and one welcome email; bad input gets clear JSON errors; Valkey,
//! Kafka and Postgres outages are handled as documented; shutdown is graceful.

use std::time::{Duration, Instant};

use redis::AsyncCommands;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::assert_json_error;
use crate::{
    ProxyMode, ServiceProcess, SpawnOptions, Stack, StackOptions, StepBinaries, TcpProxy, services,
};

const EVENT_TIMEOUT: Duration = Duration::from_secs(30);

fn user_id(body: &Value) -> i64 {
    body["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no numeric id in {body}"))
}

async fn redis_connection() -> redis::aio::MultiplexedConnection {
    redis::Client::open(services::redis_url())
        .expect("valid TEST_REDIS_URL")
        .get_multiplexed_async_connection()
        .await
        .expect("cannot connect to the test Valkey")
}

/// Create → 201 (with Location) → read back → cached (write-through) → a read is served from
/// the cache → after eviction a read fills the cache again → unknown id is 404.
pub async fn users_are_created_cached_and_read(binaries: &StepBinaries) {
    let stack = Stack::start(binaries, StackOptions::default()).await;

    let response = stack
        .send(stack.http.post(stack.user_url("/users")).json(&json!({
            "name": "  Ada Lovelace ", "email": "Ada@Example.com"
        })))
        .await;
    assert_eq!(response.0, StatusCode::CREATED, "create: {}", response.1);
    let created = response.1;
    let id = user_id(&created);
    assert_eq!(created["name"], "Ada Lovelace", "name is trimmed");
    assert_eq!(created["email"], "ada@example.com", "email is lower-cased");
    assert!(created["created_at"].is_string(), "created_at in {created}");

    let (status, fetched) = stack.get(&format!("/users/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{fetched}");
    assert_eq!(fetched, created, "GET returns what POST returned");

    // Write-through: the user is in Valkey right after the create.
    let mut redis = redis_connection().await;
    let key = format!("{}:user:{id}", stack.cache_prefix);
    let cached: Option<String> = redis.get(&key).await.expect("GET from Valkey");
    let cached: Value = serde_json::from_str(&cached.unwrap_or_else(|| panic!("{key} not cached")))
        .expect("cached JSON");
    assert_eq!(cached, created);
    let ttl: i64 = redis.ttl(&key).await.expect("TTL");
    assert!(ttl > 0, "cached users expire (TTL {ttl})");

    // A read is served from the cache: change the cached copy and see it come back.
    let mut altered = cached.clone();
    altered["name"] = json!("from the cache");
    let _: () = redis.set(&key, altered.to_string()).await.expect("SET");
    let (_, fetched) = stack.get(&format!("/users/{id}")).await;
    assert_eq!(
        fetched["name"], "from the cache",
        "a cache hit does not query Postgres"
    );

    // After eviction the read goes to Postgres and fills the cache again.
    let _: () = redis.del(&key).await.expect("DEL");
    let (status, fetched) = stack.get(&format!("/users/{id}")).await;
    assert_eq!((status, &fetched), (StatusCode::OK, &created));
    let refilled: Option<String> = redis.get(&key).await.expect("GET");
    assert!(refilled.is_some(), "a miss fills the cache");

    let unknown = stack.get(&format!("/users/{}", id + 1000)).await;
    assert_json_error("unknown id", &unknown, StatusCode::NOT_FOUND);

    let (user_exit, email_exit) = stack.stop().await;
    assert!(
        user_exit.success() && email_exit.success(),
        "exit codes {user_exit} {email_exit}"
    );
}

/// Every new user gets exactly one `user.created` event (key = id, JSON body) and exactly
/// one welcome email; the outbox is empty afterwards.
pub async fn each_user_gets_one_event_and_one_welcome_email(binaries: &StepBinaries) {
    let stack = Stack::start(binaries, StackOptions::default()).await;
    let mut ids = Vec::new();
    for (name, email) in [
        ("Grace Hopper", "grace@example.com"),
        ("Alan Turing", "alan@example.com"),
        ("Barbara Liskov", "barbara@example.com"),
    ] {
        let (status, body) = stack.create_user(name, email).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        ids.push(user_id(&body));
    }
    // A rejected duplicate must not produce an event.
    let duplicate = stack.create_user("Grace again", "grace@example.com").await;
    assert_json_error("duplicate", &duplicate, StatusCode::CONFLICT);

    let emails = stack.wait_for_emails(3, EVENT_TIMEOUT).await;
    let mut recipients: Vec<&str> = emails.iter().filter_map(|e| e["to"].as_str()).collect();
    recipients.sort_unstable();
    assert_eq!(
        recipients,
        [
            "alan@example.com",
            "barbara@example.com",
            "grace@example.com"
        ]
    );
    assert!(
        emails.iter().all(|e| e["subject"]
            .as_str()
            .is_some_and(|s| s.starts_with("Welcome"))),
        "{emails:?}"
    );

    let events = stack.topic.read(3, EVENT_TIMEOUT).await;
    let mut keys: Vec<i64> = events
        .iter()
        .map(|event| {
            let key = event.key.as_deref().expect("events are keyed");
            let payload: Value = serde_json::from_str(event.payload.as_deref().expect("payload"))
                .expect("JSON event");
            assert_eq!(
                payload["id"].to_string(),
                key,
                "key is the user id: {payload}"
            );
            key.parse().expect("numeric key")
        })
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys, ids,
        "one event per created user, none for the duplicate"
    );

    // No duplicates arrive later.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(stack.sent_emails().await.len(), 3, "one email per user");
    assert_eq!(stack.topic.read(4, Duration::from_secs(2)).await.len(), 3);
    assert_eq!(stack.database.count("outbox").await, 0, "outbox drained");

    let (user_exit, email_exit) = stack.stop().await;
    assert!(user_exit.success() && email_exit.success());
}

/// Bad input gets a JSON error with the right status; never a 500, never a panic.
pub async fn bad_input_gets_clear_json_errors(binaries: &StepBinaries) {
    let stack = Stack::start(binaries, StackOptions::default()).await;
    let (status, body) = stack.create_user("Ada", "ada@example.com").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let post_raw = |body: String| {
        stack
            .http
            .post(stack.user_url("/users"))
            .header("content-type", "application/json")
            .body(body)
    };
    let cases: Vec<(&str, reqwest::RequestBuilder, StatusCode)> = vec![
        (
            "non-numeric id",
            stack.http.get(stack.user_url("/users/abc")),
            StatusCode::BAD_REQUEST,
        ),
        (
            "negative id",
            stack.http.get(stack.user_url("/users/-3")),
            StatusCode::BAD_REQUEST,
        ),
        (
            "huge id",
            stack
                .http
                .get(stack.user_url("/users/99999999999999999999")),
            StatusCode::BAD_REQUEST,
        ),
        (
            "unknown id",
            stack.http.get(stack.user_url("/users/424242")),
            StatusCode::NOT_FOUND,
        ),
        (
            "malformed JSON",
            post_raw(r#"{"name": "Ada""#.into()),
            StatusCode::BAD_REQUEST,
        ),
        (
            "not JSON at all",
            post_raw("name=Ada".into()),
            StatusCode::BAD_REQUEST,
        ),
        (
            "missing email",
            post_raw(r#"{"name": "Ada"}"#.into()),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "missing name",
            post_raw(r#"{"email": "x@example.com"}"#.into()),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "name of wrong type",
            post_raw(r#"{"name": 42, "email": "x@example.com"}"#.into()),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "empty name",
            post_raw(r#"{"name": " ", "email": "x@example.com"}"#.into()),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "invalid email",
            post_raw(r#"{"name": "Ada", "email": "ada"}"#.into()),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "duplicate email",
            post_raw(r#"{"name": "Ada", "email": "ADA@example.com"}"#.into()),
            StatusCode::CONFLICT,
        ),
        (
            "NUL in the name (Postgres refuses it)",
            post_raw(r#"{"name": "Ada\u0000", "email": "nul@example.com"}"#.into()),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "NUL in the email",
            post_raw(r#"{"name": "Ada", "email": "nul\u0000@example.com"}"#.into()),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "a lone surrogate (not UTF-8)",
            post_raw(r#"{"name": "Ada\ud800", "email": "sur@example.com"}"#.into()),
            StatusCode::BAD_REQUEST,
        ),
        (
            "body over 64 KiB",
            post_raw(format!(
                r#"{{"name": "{}", "email": "big@example.com"}}"#,
                "a".repeat(70_000)
            )),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            "no content type",
            stack
                .http
                .post(stack.user_url("/users"))
                .body(r#"{"name":"A","email":"a@b.co"}"#),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "unknown route",
            stack.http.get(stack.user_url("/nope")),
            StatusCode::NOT_FOUND,
        ),
        (
            "wrong method",
            stack.http.delete(stack.user_url("/users/1")),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            "bad query parameter",
            stack.http.get(stack.user_url("/demo/work?delay_ms=soon")),
            StatusCode::BAD_REQUEST,
        ),
        (
            "status out of range",
            stack.http.get(stack.user_url("/demo/work?status=99")),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (what, request, expected) in cases {
        let response = stack.send(request).await;
        assert_json_error(what, &response, expected);
        let message = response.1["error"].as_str().unwrap_or_default();
        if what.contains("NUL in the") {
            let field = if what.ends_with("name (Postgres refuses it)") {
                "name"
            } else {
                "email"
            };
            assert!(
                message.contains(field),
                "{what}: the error names the field: {message}"
            );
        }
        assert!(
            !message.contains("database") && !message.contains("SQLSTATE"),
            "{what}: no internal error text in a response: {message}"
        );
    }

    let (status, _) = stack.get("/healthz").await;
    assert_eq!(status, StatusCode::OK, "still serving after bad input");
    assert_eq!(
        stack.user_service.count_lines("panicked"),
        0,
        "{}",
        stack.user_service.output()
    );
    let (user_exit, email_exit) = stack.stop().await;
    assert!(user_exit.success() && email_exit.success());
}

/// Demo endpoints answer as documented: `?status=`, `?delay_ms=`, and a real 500.
pub async fn demo_endpoints_work(binaries: &StepBinaries) {
    let stack = Stack::start(binaries, StackOptions::default()).await;

    let started = Instant::now();
    let (status, body) = stack.get("/demo/work?delay_ms=300").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        started.elapsed() >= Duration::from_millis(290),
        "delay_ms is honoured"
    );

    let (status, body) = stack.get("/demo/work?status=503").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");

    let error = stack.get("/demo/error").await;
    assert_json_error("demo error", &error, StatusCode::INTERNAL_SERVER_ERROR);

    for path in ["/demo/cpu?ms=50", "/demo/memory?mb=4", "/demo/logs"] {
        let (status, body) = stack.get(path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }
    let too_much = stack.get("/demo/memory?mb=100000").await;
    assert_json_error("memory cap", &too_much, StatusCode::BAD_REQUEST);
    stack.stop().await;
}

/// Valkey is down, cut (refusing) or black-holed (silent): every read and write still
/// succeeds (from Postgres), reads stay fast (after one failed call the cache is skipped for
/// a while instead of costing each request a timeout), the outage is logged once, and
/// readiness stays 200 with the degraded mode in its body. When Valkey is back, the service
/// uses it again without a restart.
pub async fn valkey_outage_falls_back_to_postgres(binaries: &StepBinaries) {
    let proxy = TcpProxy::start(&services::host_port(&services::redis_url())).await;
    let options = StackOptions {
        redis_url: Some(format!("redis://{}", proxy.address())),
        ..StackOptions::default()
    };
    let stack = Stack::start(binaries, options).await;
    let (status, body) = stack
        .create_user("Edsger Dijkstra", "edsger@example.com")
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let path = format!("/users/{}", user_id(&body));

    for (mode, writer) in [
        (ProxyMode::Cut, ("Tony Hoare", "tony@example.com")),
        (
            ProxyMode::BlackHole,
            ("Barbara Liskov", "barbara@example.com"),
        ),
    ] {
        proxy.set_mode(mode);
        let mut latencies = Vec::new();
        for _ in 0..10 {
            let started = Instant::now();
            let (status, fetched) = stack.get(&path).await;
            assert_eq!(
                status,
                StatusCode::OK,
                "{mode:?}: read during the outage: {fetched}"
            );
            assert_eq!(fetched["email"], "edsger@example.com");
            latencies.push(started.elapsed());
        }
        latencies.sort_unstable();
        assert!(
            latencies[9] < Duration::from_secs(1),
            "{mode:?}: a cache outage must not stall reads ({latencies:?})"
        );
        assert!(
            latencies[5] < Duration::from_millis(150),
            "{mode:?}: after one failed call the cache is skipped, not waited for ({latencies:?})"
        );
        let (status, ready) = stack.get("/readyz").await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{mode:?}: still ready without the cache: {ready}"
        );
        assert_eq!(ready["postgres"], "ok");
        assert_eq!(ready["valkey"], "unavailable");
        assert!(
            ready["mode"]
                .as_str()
                .is_some_and(|m| m.starts_with("degraded")),
            "{ready}"
        );
        let (status, created) = stack.create_user(writer.0, writer.1).await;
        assert_eq!(
            status,
            StatusCode::CREATED,
            "{mode:?}: writes work without the cache: {created}"
        );

        proxy.set_mode(ProxyMode::Up);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (_, ready) = stack.get("/readyz").await;
            if ready["valkey"] == "ok" {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{mode:?}: Valkey never came back:\n{}",
                stack.user_service.output()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    // Other dependencies may come and go meanwhile (the broker, a collector): count Valkey's.
    let valkey_lines = |needle: &str| {
        stack
            .user_service
            .output()
            .lines()
            .filter(|line| line.contains("Valkey at") && line.contains(needle))
            .count()
    };
    assert_eq!(
        valkey_lines("is unreachable"),
        2,
        "each outage is logged once, not per request:\n{}",
        stack.user_service.output()
    );
    assert_eq!(valkey_lines("reachable again"), 2);
    let (status, _) = stack.get(&path).await;
    assert_eq!(status, StatusCode::OK);
    let (user_exit, _) = stack.stop().await;
    assert!(user_exit.success());
}

/// Postgres is cut, then black-holed: requests that need it get a 503 with a JSON error that
/// names no internals, and fast (one request waits for the timeout, then the database is
/// skipped for a moment instead of every request waiting); cached reads still succeed;
/// readiness is 503; and the service recovers without a restart.
pub async fn postgres_outage_fails_fast_and_recovers(binaries: &StepBinaries) {
    let proxy = TcpProxy::start(&services::host_port(&services::postgres_admin_url())).await;
    let options = StackOptions {
        postgres_address: Some(proxy.address().to_string()),
        ..StackOptions::default()
    };
    let stack = Stack::start(binaries, options).await;
    let (status, body) = stack.create_user("Alan Kay", "alan@example.com").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let cached = format!("/users/{}", user_id(&body));

    for (round, mode) in [ProxyMode::Cut, ProxyMode::BlackHole]
        .into_iter()
        .enumerate()
    {
        proxy.set_mode(mode);
        let mut latencies = Vec::new();
        for i in 0..12 {
            let started = Instant::now();
            let response = if i % 2 == 0 {
                stack.get(&format!("/users/{}", 900_000 + i)).await
            } else {
                let email = format!("down{round}-{i}@example.com");
                stack.create_user("Nobody", &email).await
            };
            latencies.push(started.elapsed());
            assert_json_error(
                &format!("{mode:?} #{i}"),
                &response,
                StatusCode::SERVICE_UNAVAILABLE,
            );
            let message = response.1["error"].as_str().unwrap_or_default();
            assert!(
                !message.contains("pool") && !message.contains("timed out"),
                "no internals in the body: {message}"
            );
        }
        latencies.sort_unstable();
        assert!(
            latencies[6] < Duration::from_millis(200),
            "{mode:?}: most requests fail fast, not after the pool's timeout: {latencies:?}"
        );
        assert!(
            latencies[11] < Duration::from_secs(6),
            "{mode:?}: {latencies:?}"
        );
        let (status, _) = stack.get(&cached).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{mode:?}: a cached user is still served"
        );
        let started = Instant::now();
        let (status, ready) = stack.get("/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{ready}");
        assert_eq!(ready["postgres"], "unavailable");
        assert!(started.elapsed() < Duration::from_secs(6));

        proxy.set_mode(ProxyMode::Up);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let email = format!("back{round}@example.com");
            let (status, _) = stack.create_user("Back Again", &email).await;
            if status == StatusCode::CREATED {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{mode:?}: no recovery without a restart:\n{}",
                stack.user_service.output()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let (status, _) = stack.get("/readyz").await;
        assert_eq!(status, StatusCode::OK);
    }
    let (user_exit, _) = stack.stop().await;
    assert!(user_exit.success());
}

/// Kafka is down: users are still created (201) and their events wait in the outbox; no
/// event exists for a user that does not. When the service runs again with Kafka, every
/// waiting event is published exactly once and every user gets their email.
pub async fn kafka_outage_keeps_users_and_events_consistent(binaries: &StepBinaries) {
    let closed = crate::ClosedPort::new();
    let dead_brokers = closed.address();
    let down = StackOptions {
        kafka_brokers: Some(dead_brokers),
        ..StackOptions::default()
    };
    let mut stack = Stack::start(binaries, down).await;
    let mut ids = Vec::new();
    for (name, email) in [
        ("Ken Thompson", "ken@example.com"),
        ("Dennis Ritchie", "dmr@example.com"),
    ] {
        let started = Instant::now();
        let (status, body) = stack.create_user(name, email).await;
        assert_eq!(
            status,
            StatusCode::CREATED,
            "create while Kafka is down: {body}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "Kafka is not on the request path"
        );
        ids.push(user_id(&body));
    }
    let duplicate = stack.create_user("Ken", "ken@example.com").await;
    assert_json_error("duplicate", &duplicate, StatusCode::CONFLICT);

    stack
        .user_service
        .wait_for_line("Kafka at", Duration::from_secs(20))
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(stack.database.count("users").await, 2);
    assert_eq!(
        stack.database.count("outbox").await,
        2,
        "one waiting event per user"
    );
    assert!(
        stack.topic.read(1, Duration::from_secs(1)).await.is_empty(),
        "nothing published"
    );
    assert_eq!(
        stack.user_service.count_lines("Kafka at"),
        1,
        "the outage is logged once:\n{}",
        stack.user_service.output()
    );

    let exit = stack.user_service.stop(Duration::from_secs(15)).await;
    assert!(exit.success(), "stops cleanly while Kafka is down: {exit}");
    stack.restart_user_service(&StackOptions::default()).await;

    let emails = stack.wait_for_emails(2, EVENT_TIMEOUT).await;
    assert_eq!(emails.len(), 2, "{emails:?}");
    let events = stack.topic.read(2, EVENT_TIMEOUT).await;
    let mut keys: Vec<i64> = events
        .iter()
        .filter_map(|event| event.key.as_deref()?.parse().ok())
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys, ids,
        "every waiting event published, each names an existing user"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while stack.database.count("outbox").await > 0 {
        assert!(Instant::now() < deadline, "outbox not drained");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        stack.topic.read(3, Duration::from_secs(2)).await.len(),
        2,
        "no duplicates"
    );
    stack.stop().await;
}

/// Postgres unreachable at start: one clear error naming the URL and how to start it, exit
/// code 1; an invalid variable: exit code 2 naming the variable.
pub async fn start_up_errors_are_clear(binaries: &StepBinaries) {
    let closed = crate::ClosedPort::new();
    let port = closed.port();
    let mut process = ServiceProcess::spawn(
        SpawnOptions::new("user-service", &binaries.user_service, "USER_SERVICE_ADDR")
            .env(
                "DATABASE_URL",
                format!("postgres://postgres:secret@127.0.0.1:{port}/users"),
            )
            .ready_path(None),
    )
    .await;
    let status = process.wait_exit(Duration::from_secs(20)).await;
    let output = process.output();
    assert_eq!(status.code(), Some(1), "{output}");
    assert!(
        output.contains(&format!(
            "cannot reach Postgres at postgres://postgres:***@127.0.0.1:{port}/users"
        )),
        "{output}"
    );
    assert!(
        output.contains("make services"),
        "says how to start it: {output}"
    );
    assert!(
        !output.contains("secret"),
        "the password is not printed: {output}"
    );
    assert_eq!(
        output.matches("cannot reach Postgres").count(),
        1,
        "said once: {output}"
    );

    let user_service =
        || SpawnOptions::new("user-service", &binaries.user_service, "USER_SERVICE_ADDR");
    exits_on_a_bad_variable(
        user_service().env("CACHE_TTL_SECONDS", "soon"),
        &["CACHE_TTL_SECONDS"],
    )
    .await;
    // A pool of no connections would make every query wait for ever.
    exits_on_a_bad_variable(
        user_service().env("DATABASE_MAX_CONNECTIONS", "0"),
        &["DATABASE_MAX_CONNECTIONS", "at least 1"],
    )
    .await;
    exits_on_a_bad_variable(
        SpawnOptions::new(
            "email-service",
            &binaries.email_service,
            "EMAIL_SERVICE_ADDR",
        )
        .env("EMAIL_FAILURE_RATE", "1.5"),
        &["EMAIL_FAILURE_RATE"],
    )
    .await;
}

/// The service, started with a variable it cannot use, exits with code 2 and a message that
/// says each of `says`.
async fn exits_on_a_bad_variable(options: SpawnOptions, says: &[&str]) {
    let mut process = ServiceProcess::spawn(options.ready_path(None)).await;
    let status = process.wait_exit(Duration::from_secs(10)).await;
    let output = process.output();
    assert_eq!(status.code(), Some(2), "{output}");
    for text in says {
        assert!(output.contains(text), "does not say {text:?}: {output}");
    }
}

/// SIGTERM while a request is in flight: the request completes, then the process exits 0.
pub async fn shutdown_is_graceful(binaries: &StepBinaries) {
    let stack = Stack::start(binaries, StackOptions::default()).await;
    let slow = stack
        .http
        .get(stack.user_url("/demo/work?delay_ms=1500"))
        .timeout(Duration::from_secs(10))
        .send();
    let slow = tokio::spawn(slow);
    // The server says when the request is in its handler: only then is it "in flight".
    stack
        .user_service
        .wait_for_line("work started", Duration::from_secs(10))
        .await;
    stack.user_service.terminate();
    let response = slow
        .await
        .expect("join")
        .expect("in-flight request completes");
    assert_eq!(response.status(), StatusCode::OK);
    let started = Instant::now();
    let (user_exit, email_exit) = stack.stop().await;
    assert!(user_exit.success(), "user-service exit: {user_exit}");
    assert!(email_exit.success(), "email-service exit: {email_exit}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// SIGTERM ends the process within 10 s whatever clients do: one has sent half a request
/// head and waits, another's request would take longer than the shutdown grace. Requests
/// that finish in time are answered; the rest are cut.
pub async fn shutdown_is_bounded_whatever_clients_do(binaries: &StepBinaries) {
    use tokio::io::AsyncWriteExt;

    let mut stack = Stack::start(binaries, StackOptions::default()).await;
    let address = stack.user_url("").trim_start_matches("http://").to_owned();
    let mut stalled = tokio::net::TcpStream::connect(&address)
        .await
        .expect("connect");
    stalled
        .write_all(b"GET /users/1 HTTP/1.1\r\nHost: stalled\r\nUser-Agent: half-a-head\r\n")
        .await
        .expect("half a head");
    let too_slow = tokio::spawn(
        stack
            .http
            .get(stack.user_url("/demo/work?delay_ms=10000"))
            .timeout(Duration::from_secs(20))
            .send(),
    );
    stack
        .user_service
        .wait_for_line("work started", Duration::from_secs(10))
        .await;
    let started = Instant::now();
    let exit = stack.user_service.stop(Duration::from_secs(15)).await;
    let took = started.elapsed();
    assert!(exit.success(), "exit status {exit}");
    assert!(
        took < Duration::from_secs(10),
        "SIGTERM took {took:?} with a stalled client and a slow request:\n{}",
        stack.user_service.output()
    );
    let cut = too_slow.await.expect("join");
    assert!(
        cut.is_err() || cut.as_ref().is_ok_and(|r| r.status().is_server_error()),
        "a request longer than the grace is cut: {cut:?}"
    );
    drop(stalled);
    stack.stop_email_service().await;
}

/// Asking for more logs about one crate (`RUST_LOG=info,librdkafka=debug`, the natural
/// setting to debug Kafka) never loses the service's own `info` lines.
pub async fn logs_stay_complete_whatever_rust_log_adds(binaries: &StepBinaries) {
    for filter in [
        "info,librdkafka=debug",
        "info,foo=debug",
        "info,tower=trace",
    ] {
        let mut options = StackOptions::default();
        options
            .user_service_env
            .push(("RUST_LOG".into(), filter.into()));
        let mut stack = Stack::start(binaries, options).await;
        let (status, body) = stack
            .create_user("Niklaus Wirth", "niklaus@example.com")
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let exit = stack.user_service.stop(Duration::from_secs(10)).await;
        assert!(exit.success());
        for line in [
            "listening on",
            "user created",
            "SIGTERM received",
            "outbox relay stopped",
            "user-service stopped",
        ] {
            assert_eq!(
                stack.user_service.count_lines(line),
                1,
                "RUST_LOG={filter}: {line:?} is missing or repeated:\n{}",
                stack.user_service.output()
            );
        }
        stack.stop_email_service().await;
    }
}

/// The email-service on its own: 202 for a valid email, 422 for an invalid one, 503 for
/// every call with `EMAIL_FAILURE_RATE=1`.
pub async fn email_service_accepts_and_fails_on_demand(binaries: &StepBinaries) {
    let http = reqwest::Client::new();
    let service = ServiceProcess::spawn(SpawnOptions::new(
        "email-service",
        &binaries.email_service,
        "EMAIL_SERVICE_ADDR",
    ))
    .await;
    let send = |to: &str| {
        http.post(service.url("/emails"))
            .json(&json!({ "to": to, "subject": "Welcome" }))
            .send()
    };
    assert_eq!(
        send("ada@example.com").await.expect("send").status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        send("nobody").await.expect("send").status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let sent: Value = http
        .get(service.url("/emails"))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("JSON");
    assert_eq!(sent.as_array().map(Vec::len), Some(1), "{sent}");
    let mut service = service;
    assert!(service.stop(Duration::from_secs(10)).await.success());

    let mut failing = ServiceProcess::spawn(
        SpawnOptions::new(
            "email-service",
            &binaries.email_service,
            "EMAIL_SERVICE_ADDR",
        )
        .env("EMAIL_FAILURE_RATE", "1.0"),
    )
    .await;
    let response = http
        .post(failing.url("/emails"))
        .json(&json!({ "to": "ada@example.com", "subject": "Welcome" }))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(failing.stop(Duration::from_secs(10)).await.success());
}

/// Step 1 has no OpenTelemetry: even with `OTEL_EXPORTER_OTLP_ENDPOINT` set, nothing is
/// sent over OTLP (HTTP or gRPC).
pub async fn sends_nothing_over_otlp(binaries: &StepBinaries) {
    let receiver = crate::otlp::OtlpReceiver::start()
        .await
        .expect("OTLP receiver");
    let options = StackOptions::default()
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.http_endpoint())
        .env(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            receiver.grpc_endpoint(),
        )
        .env("OTEL_METRIC_EXPORT_INTERVAL", "500");
    let stack = Stack::start(binaries, options).await;
    let (status, body) = stack
        .create_user("Margaret Hamilton", "margaret@example.com")
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    stack.get(&format!("/users/{}", user_id(&body))).await;
    stack.get("/demo/error").await;
    stack.wait_for_emails(1, EVENT_TIMEOUT).await;
    stack.stop().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let received = receiver.export_requests();
    assert_eq!(
        received.total(),
        0,
        "step 1 must not export telemetry: {received:?}"
    );
}
