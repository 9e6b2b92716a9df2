//! Step 4: metrics. After a known mix of requests, each HTTP histogram series counts exactly
//! the requests of its (method, route, status), with the semantic conventions' unit and
//! buckets; the business counters match the users and emails; the database, messaging, pool,
//! process and runtime instruments are there with the resource; temporality is cumulative;
//! what was recorded just before SIGTERM arrives without waiting for the next interval; and
//! no attribute takes a value a client chose (the number of series stays the same whatever
//! paths and methods are sent). Over OTLP/HTTP and OTLP/gRPC.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use reqwest::{Method, StatusCode};

use super::step2::{Protocol, exporting_to};
use crate::otlp::{MetricKind, MetricPoint, OtlpReceiver, PointValue, Temporality};
use crate::{Stack, StackOptions, StepBinaries};

const EMAIL_TIMEOUT: Duration = Duration::from_secs(30);
const METRIC_TIMEOUT: Duration = Duration::from_secs(20);

/// The semantic conventions' buckets for HTTP and messaging durations, and for database
/// operations.
const DURATION_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];
const DB_DURATION_BUCKETS: [f64; 9] = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0];

/// Exports only when the process stops: every point a test sees was flushed by SIGTERM.
fn exporting_on_shutdown_only(receiver: &OtlpReceiver, protocol: Protocol) -> StackOptions {
    exporting_to(receiver, protocol).env("OTEL_METRIC_EXPORT_INTERVAL", "600000")
}

/// The latest point of each series (service, metric, attribute set): with cumulative
/// temporality, the totals since the process started.
fn latest_points(points: &[MetricPoint]) -> BTreeMap<(String, String, String), MetricPoint> {
    let mut latest: BTreeMap<(String, String, String), MetricPoint> = BTreeMap::new();
    for point in points {
        let key = (
            point.service_name().unwrap_or_default().to_owned(),
            point.name.clone(),
            point.attributes.to_string(),
        );
        match latest.get(&key) {
            Some(seen) if seen.time_unix_nano >= point.time_unix_nano => {}
            _ => {
                latest.insert(key, point.clone());
            }
        }
    }
    latest
}

/// The latest points of `metric` exported by `service`.
fn series<'a>(
    latest: &'a BTreeMap<(String, String, String), MetricPoint>,
    service: &str,
    metric: &str,
) -> Vec<&'a MetricPoint> {
    latest
        .iter()
        .filter(|((s, name, _), _)| s == service && name == metric)
        .map(|(_, point)| point)
        .collect()
}

fn describe(points: &[&MetricPoint]) -> String {
    points
        .iter()
        .map(|p| format!("  {} {} = {:?}", p.name, p.attributes, p.value))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `(method, route, status)` of a `http.server.request.duration` point (`route` is `None`
/// for unknown routes).
fn request_key(point: &MetricPoint) -> (String, Option<String>, i64) {
    (
        point
            .attributes
            .str("http.request.method")
            .unwrap_or_default()
            .to_owned(),
        point.attributes.str("http.route").map(str::to_owned),
        point
            .attributes
            .int("http.response.status_code")
            .unwrap_or_default(),
    )
}

#[track_caller]
fn assert_histogram(point: &MetricPoint, unit: &str, buckets: &[f64]) -> (u64, f64) {
    assert_eq!(
        point.unit, unit,
        "unit of {} {}",
        point.name, point.attributes
    );
    assert_eq!(
        point.kind,
        MetricKind::Histogram {
            temporality: Temporality::Cumulative
        },
        "{} is a cumulative histogram",
        point.name
    );
    assert_eq!(point.scope_name, "workshop", "meter of {}", point.name);
    let PointValue::Histogram {
        count,
        sum,
        bucket_counts,
        explicit_bounds,
        ..
    } = &point.value
    else {
        panic!(
            "{} {}: not a histogram point: {:?}",
            point.name, point.attributes, point.value
        );
    };
    assert_eq!(
        explicit_bounds, buckets,
        "bucket boundaries of {} (the semantic conventions' advice)",
        point.name
    );
    assert_eq!(
        bucket_counts.iter().sum::<u64>(),
        *count,
        "bucket counts of {} {} add up to its count",
        point.name,
        point.attributes
    );
    (*count, sum.unwrap_or_default())
}

#[track_caller]
fn assert_counter(point: &MetricPoint, unit: &str) -> f64 {
    assert_eq!(point.unit, unit, "unit of {}", point.name);
    assert_eq!(
        point.kind,
        MetricKind::Sum {
            monotonic: true,
            temporality: Temporality::Cumulative
        },
        "{} is a cumulative counter",
        point.name
    );
    point.value.as_f64().expect("a number")
}

/// The sum of the latest values of `metric` from `service` whose attributes include `with`.
fn total(
    latest: &BTreeMap<(String, String, String), MetricPoint>,
    service: &str,
    metric: &str,
    with: &[(&str, &str)],
) -> f64 {
    series(latest, service, metric)
        .into_iter()
        .filter(|p| with.iter().all(|(k, v)| p.attributes.str(k) == Some(*v)))
        .map(|p| match &p.value {
            PointValue::Histogram { count, .. } => *count as f64,
            value => value.as_f64().unwrap_or_default(),
        })
        .sum()
}

// ANCHOR: request_counts
/// A known mix of requests; then SIGTERM. Each `(method, route, status)` series of the
/// user-service's `http.server.request.duration` counts exactly its requests, and no other
/// series exists; durations are plausible; the buckets and unit are the conventions'; the
/// email-service measured its `POST /emails`; no request is left active. The export interval
/// is 10 minutes, so the points come from the flush at SIGTERM.
async fn request_metrics_count_every_request(binaries: &StepBinaries, protocol: Protocol) {
    let receiver = OtlpReceiver::start().await.expect("OTLP receiver");
    let stack = Stack::start(binaries, exporting_on_shutdown_only(&receiver, protocol)).await;
    let mut ids = Vec::new();
    for n in 0..3 {
        let (status, body) = stack
            .create_user("Grace Hopper", &format!("grace{n}@example.com"))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        ids.push(body["id"].as_i64().expect("id"));
    }
    let (status, _) = stack
        .create_user("Grace Hopper", "grace0@example.com")
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    for _ in 0..2 {
        let (status, _) = stack.create_user("", "nobody@example.com").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    for n in 0..4 {
        let (status, _) = stack.get(&format!("/users/{}", ids[n % 3])).await;
        assert_eq!(status, StatusCode::OK);
    }
    for _ in 0..2 {
        let (status, _) = stack.get("/users/999999999").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    let (status, _) = stack.get("/no/such/route").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    stack.wait_for_emails(3, EMAIL_TIMEOUT).await;
    let (users, emails) = stack.stop().await;
    assert!(
        users.success() && emails.success(),
        "exit: {users}, {emails}"
    );

    receiver
        .wait_for_metric_named("http.server.request.duration", METRIC_TIMEOUT)
        .await
        .expect("http.server.request.duration flushed at SIGTERM, before the first interval");
    let latest = latest_points(&receiver.metric_points());
    let requests = series(&latest, "user-service", "http.server.request.duration");
    let counted: BTreeMap<_, u64> = requests
        .iter()
        .map(|point| {
            let (count, sum) = assert_histogram(point, "s", &DURATION_BUCKETS);
            assert!(
                sum > 0.0 && sum < count as f64 * 5.0,
                "{count} requests took {sum} s in all: {}",
                point.attributes
            );
            assert_eq!(point.attributes.str("url.scheme"), Some("http"));
            assert!(
                !point.attributes.contains("error.type"),
                "no 5xx here: {}",
                point.attributes
            );
            (request_key(point), count)
        })
        .collect();
    let key = |method: &str, route: Option<&str>, status: i64| {
        (method.to_owned(), route.map(str::to_owned), status)
    };
    let expected = BTreeMap::from([
        (key("POST", Some("/users"), 201), 3),
        (key("POST", Some("/users"), 409), 1),
        (key("POST", Some("/users"), 422), 2),
        (key("GET", Some("/users/{id}"), 200), 4),
        (key("GET", Some("/users/{id}"), 404), 2),
        (key("GET", None, 404), 1),
    ]);
    assert_eq!(
        counted,
        expected,
        "one series per (method, route, status), counting its requests; the points:\n{}",
        describe(&requests)
    );

    let sent = total(
        &latest,
        "email-service",
        "http.server.request.duration",
        &[("http.route", "/emails"), ("http.request.method", "POST")],
    );
    assert_eq!(sent, 3.0, "the email-service measured each POST /emails");
    let active = series(&latest, "user-service", "http.server.active_requests");
    assert!(
        !active.is_empty(),
        "http.server.active_requests is exported"
    );
    for point in active {
        assert_eq!(point.unit, "{request}");
        assert_eq!(
            point.kind,
            MetricKind::Sum {
                monotonic: false,
                temporality: Temporality::Cumulative
            },
            "an up-down counter"
        );
        assert_eq!(
            point.value.as_i64(),
            Some(0),
            "no request is active after the server drained: {}",
            point.attributes
        );
    }
    if let Ok(path) = std::env::var("METRICS_DUMP") {
        dump_histograms(&requests, protocol, &path);
    }
}
// ANCHOR_END: request_counts

/// Writes the user-service's `http.server.request.duration` points as JSON
/// (`METRICS_DUMP=path`), the latest of each series: the slides draw their histogram from
/// the points this test received.
fn dump_histograms(points: &[&MetricPoint], protocol: Protocol, path: &str) {
    let series: Vec<serde_json::Value> = points
        .iter()
        .filter_map(|point| {
            let PointValue::Histogram {
                count,
                sum,
                bucket_counts,
                explicit_bounds,
                min,
                max,
            } = &point.value
            else {
                return None;
            };
            let attributes: serde_json::Map<String, serde_json::Value> = point
                .attributes
                .iter()
                .map(|(key, value)| (key.clone(), super::attribute_json(value)))
                .collect();
            Some(serde_json::json!({
                "attributes": attributes,
                "explicit_bounds": explicit_bounds,
                "bucket_counts": bucket_counts,
                "count": count,
                "sum": sum,
                "min": min,
                "max": max,
                "exemplars": point.exemplars.len(),
                "start_time_unix_nano": point.start_time_unix_nano,
                "time_unix_nano": point.time_unix_nano,
            }))
        })
        .collect();
    let first = points.first().expect("a point");
    let json = serde_json::json!({
        "metric": first.name,
        "unit": first.unit,
        "service": first.service_name(),
        "scope": first.scope_name,
        "temporality": "cumulative",
        "protocol": match protocol {
            Protocol::HttpProtobuf => "http/protobuf",
            Protocol::Grpc => "grpc",
        },
        "captured_by": "request_metrics_count_every_request (crates/testkit/src/contract/step4.rs)",
        "series": series,
    });
    let text = serde_json::to_string_pretty(&json).expect("JSON");
    std::fs::write(path, text).unwrap_or_else(|err| panic!("cannot write {path}: {err}"));
}

pub async fn request_metrics_count_every_request_http(binaries: &StepBinaries) {
    request_metrics_count_every_request(binaries, Protocol::HttpProtobuf).await;
}

pub async fn request_metrics_count_every_request_grpc(binaries: &StepBinaries) {
    request_metrics_count_every_request(binaries, Protocol::Grpc).await;
}

/// Four sign-ups and two cached reads: `users.created` and `emails.sent` count them; every
/// span kind of step 3 has its metric (database, HTTP client, producer, consumer); the pool,
/// outbox, process and runtime figures are exported with the resource; nothing personal is
/// in any attribute.
async fn flow_metrics_match_what_happened(binaries: &StepBinaries, protocol: Protocol) {
    const USERS: usize = 4;
    let receiver = OtlpReceiver::start().await.expect("OTLP receiver");
    let stack = Stack::start(binaries, exporting_on_shutdown_only(&receiver, protocol)).await;
    let topic = stack.topic.name().to_owned();
    let group = stack.consumer_group.clone();
    let mut first = None;
    for n in 0..USERS {
        let (status, body) = stack
            .create_user("Edsger Dijkstra", &format!("edsger{n}@example.com"))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        first.get_or_insert(body["id"].as_i64().expect("id"));
    }
    let first = first.expect("a user");
    for _ in 0..2 {
        let (status, _) = stack.get(&format!("/users/{first}")).await;
        assert_eq!(status, StatusCode::OK);
    }
    stack.wait_for_emails(USERS, EMAIL_TIMEOUT).await;
    let (users, emails) = stack.stop().await;
    assert!(
        users.success() && emails.success(),
        "exit: {users}, {emails}"
    );

    let points = receiver
        .wait_for_metric_points(METRIC_TIMEOUT, |points| {
            points.iter().any(|p| p.name == "users.created")
                && points.iter().any(|p| p.name == "emails.sent")
        })
        .await
        .expect("the business counters are flushed at SIGTERM");
    let latest = latest_points(&points);
    let users = USERS as f64;

    // ANCHOR: business_counts
    let created = series(&latest, "user-service", "users.created");
    assert_eq!(
        created.len(),
        1,
        "one series, no attributes: {}",
        describe(&created)
    );
    assert_eq!(assert_counter(created[0], "{user}"), users);
    let sent = series(&latest, "email-service", "emails.sent");
    for point in &sent {
        assert_counter(point, "{email}");
    }
    assert_eq!(
        total(
            &latest,
            "email-service",
            "emails.sent",
            &[("outcome", "sent")]
        ),
        users,
        "one email sent per user: {}",
        describe(&sent)
    );
    // ANCHOR_END: business_counts

    let db = series(&latest, "user-service", "db.client.operation.duration");
    for point in &db {
        assert_histogram(point, "s", &DB_DURATION_BUCKETS);
    }
    let db_count = |system: &str, operation: &str, collection: Option<&str>| {
        let mut with = vec![("db.system.name", system), ("db.operation.name", operation)];
        with.extend(collection.map(|c| ("db.collection.name", c)));
        total(
            &latest,
            "user-service",
            "db.client.operation.duration",
            &with,
        )
    };
    assert_eq!(
        db_count("postgresql", "INSERT", Some("users")),
        users,
        "one INSERT users per sign-up:\n{}",
        describe(&db)
    );
    assert_eq!(db_count("postgresql", "INSERT", Some("outbox")), users);
    assert!(db_count("redis", "SET", None) >= users, "{}", describe(&db));
    assert!(db_count("redis", "GET", None) >= 2.0, "{}", describe(&db));

    let client = series(&latest, "user-service", "http.client.request.duration");
    for point in &client {
        assert_histogram(point, "s", &DURATION_BUCKETS);
        assert!(
            point.attributes.contains("server.address"),
            "{}",
            point.attributes
        );
    }
    assert_eq!(
        total(
            &latest,
            "user-service",
            "http.client.request.duration",
            &[("http.request.method", "POST")]
        ),
        users,
        "one call to the email-service per user:\n{}",
        describe(&client)
    );

    let messaging = [
        ("messaging.system", "kafka"),
        ("messaging.destination.name", topic.as_str()),
    ];
    let sent_messages = total(
        &latest,
        "user-service",
        "messaging.client.sent.messages",
        &messaging,
    );
    let consumed = total(
        &latest,
        "user-service",
        "messaging.client.consumed.messages",
        &[
            messaging[0],
            messaging[1],
            ("messaging.consumer.group.name", &group),
        ],
    );
    let processed = total(
        &latest,
        "user-service",
        "messaging.process.duration",
        &[
            messaging[0],
            messaging[1],
            ("messaging.operation.name", "process"),
        ],
    );
    assert!(
        sent_messages >= users && consumed >= users && processed >= users,
        "sent {sent_messages}, consumed {consumed}, processed {processed} for {users} events"
    );
    for point in series(&latest, "user-service", "messaging.client.sent.messages") {
        assert_counter(point, "{message}");
    }
    for point in series(&latest, "user-service", "messaging.process.duration") {
        assert_histogram(point, "s", &DURATION_BUCKETS);
    }

    let backlog = series(&latest, "user-service", "outbox.backlog");
    assert!(
        backlog
            .iter()
            .all(|p| p.kind == MetricKind::Gauge && p.value.as_i64() == Some(0)),
        "the outbox is empty once every event is out: {}",
        describe(&backlog)
    );
    assert!(!backlog.is_empty(), "outbox.backlog is exported");

    let pool = series(&latest, "user-service", "db.client.connection.count");
    let states: BTreeSet<&str> = pool
        .iter()
        .filter_map(|p| p.attributes.str("db.client.connection.state"))
        .collect();
    assert_eq!(
        states,
        BTreeSet::from(["idle", "used"]),
        "the pool gauge by state: {}",
        describe(&pool)
    );
    assert!(
        total(&latest, "user-service", "db.client.connection.count", &[]) >= 1.0,
        "the pool has a connection: {}",
        describe(&pool)
    );

    for service in ["user-service", "email-service"] {
        let cpu_user = total(
            &latest,
            service,
            "process.cpu.time",
            &[("cpu.mode", "user")],
        );
        assert!(
            cpu_user > 0.0,
            "{service}: process.cpu.time user {cpu_user}"
        );
        let memory = total(&latest, service, "process.memory.usage", &[]);
        if cfg!(target_os = "linux") {
            assert!(
                memory > 1e6,
                "{service}: process.memory.usage {memory} bytes"
            );
        }
        let workers = total(&latest, service, "tokio.runtime.workers", &[]);
        assert!(workers >= 1.0, "{service}: tokio.runtime.workers {workers}");
        // Read at the last export, after the server and the background tasks stopped: the
        // task count may be 0 by then.
        for figure in [
            "tokio.runtime.alive_tasks",
            "tokio.runtime.global_queue_depth",
        ] {
            assert!(
                !series(&latest, service, figure).is_empty(),
                "{service}: {figure}"
            );
        }
    }
    for point in series(&latest, "user-service", "process.cpu.time") {
        assert_counter(point, "s");
    }

    // The resource, and nothing personal in any attribute of any metric.
    for point in &points {
        assert!(
            matches!(point.service_name(), Some("user-service" | "email-service")),
            "{} has the resource's service.name: {:?}",
            point.name,
            point.resource
        );
        let attributes = point.attributes.to_string();
        assert!(
            !attributes.contains('@')
                && !attributes.contains("Dijkstra")
                && !attributes.contains(&format!("/users/{first}")),
            "{}: no email, name or id in metric attributes: {attributes}",
            point.name
        );
    }
}

pub async fn flow_metrics_match_what_happened_http(binaries: &StepBinaries) {
    flow_metrics_match_what_happened(binaries, Protocol::HttpProtobuf).await;
}

pub async fn flow_metrics_match_what_happened_grpc(binaries: &StepBinaries) {
    flow_metrics_match_what_happened(binaries, Protocol::Grpc).await;
}

// ANCHOR: cardinality
/// 200 requests to 200 distinct unknown paths and 50 with 50 distinct unknown methods add
/// no series: the user-service exports as many as after one request of each kind.
pub async fn metric_cardinality_stays_bounded(binaries: &StepBinaries) {
    let receiver = OtlpReceiver::start().await.expect("OTLP receiver");
    let options =
        exporting_to(&receiver, Protocol::HttpProtobuf).env("OTEL_METRIC_EXPORT_INTERVAL", "300");
    let stack = Stack::start(binaries, options).await;
    let send = |method: Method, path: String| {
        let request = stack.http.request(method, stack.user_url(&path));
        async move {
            let response = request.send().await.expect("request");
            assert!(response.status().is_client_error(), "{}", response.status());
        }
    };
    send(Method::GET, "/unknown-0".to_owned()).await;
    let brew = Method::from_bytes(b"BREW").expect("method");
    send(brew, "/users/1".to_owned()).await;
    let before = series_after_requests(&receiver, 2).await;

    for n in 0..200 {
        send(
            Method::GET,
            format!("/unknown-{n}/{:08x}", fastrand::u32(..)),
        )
        .await;
    }
    for n in 0..50 {
        let method = Method::from_bytes(format!("METHOD{n}").as_bytes()).expect("method");
        send(method, "/users/1".to_owned()).await;
    }
    let after = series_after_requests(&receiver, 252).await;
    assert_eq!(
        after, before,
        "the user-service's series after 250 requests with new paths and methods"
    );
    println!(
        "cardinality: {} series of the user-service, before and after",
        after.len()
    );
    stack.stop().await;
}
// ANCHOR_END: cardinality

/// Waits until the user-service's `http.server.request.duration` counted `requests`, then
/// one more export; every (metric, attribute set) the user-service exports.
async fn series_after_requests(
    receiver: &OtlpReceiver,
    requests: u64,
) -> BTreeSet<(String, String)> {
    let counted = |points: &[MetricPoint]| {
        let latest = latest_points(points);
        total(&latest, "user-service", "http.server.request.duration", &[]) as u64 >= requests
    };
    receiver
        .wait_for_metric_points(METRIC_TIMEOUT, counted)
        .await
        .unwrap_or_else(|err| panic!("{requests} requests measured: {err}"));
    // The observable instruments report at every export: wait for one more.
    tokio::time::sleep(Duration::from_millis(700)).await;
    latest_points(&receiver.metric_points())
        .into_keys()
        .filter(|(service, _, _)| service == "user-service")
        .map(|(_, name, attributes)| (name, attributes))
        .collect()
}
