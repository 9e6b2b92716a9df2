//! Step 3: CLIENT spans for Postgres, Valkey and the HTTP client, PRODUCER/CONSUMER spans
//! for Kafka, and one trace from `POST /users` to the email-service's `POST /emails`,
//! across two processes and the broker.

use std::collections::HashMap;
use std::time::Duration;

use redis::AsyncCommands;
use reqwest::StatusCode;

use super::privacy::{assert_no_personal_records, assert_nothing_personal};
use super::step2::{Protocol, create_user, distinctive_user_id, personal_session, start};
use crate::otlp::{AttrValue, Span, SpanKind, StatusCode as SpanStatus};
use crate::{StepBinaries, services};

const SPAN_TIMEOUT: Duration = Duration::from_secs(30);

fn str_attr<'a>(span: &'a Span, key: &str) -> Option<&'a str> {
    span.attributes.str(key)
}

#[track_caller]
fn assert_attr(span: &Span, key: &str, expected: AttrValue) {
    assert_eq!(
        span.attributes.get(key),
        Some(&expected),
        "{key} on {:?} ({:?}): {}",
        span.name,
        span.kind,
        span.attributes
    );
}

fn text(value: &str) -> AttrValue {
    AttrValue::String(value.to_owned())
}

/// The one span of `trace_id` with this name and kind.
#[track_caller]
fn find<'a>(spans: &'a [Span], trace_id: &str, name: &str, kind: SpanKind) -> &'a Span {
    let found: Vec<&Span> = spans
        .iter()
        .filter(|s| s.trace_id == trace_id && s.name == name && s.kind == kind)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected one {kind:?} span {name:?} in trace {trace_id}, found {}; the trace:\n{}",
        found.len(),
        describe(spans, trace_id)
    );
    found[0]
}

fn describe(spans: &[Span], trace_id: &str) -> String {
    spans
        .iter()
        .filter(|s| s.trace_id == trace_id)
        .map(|s| {
            format!(
                "  {} {:?} span={} parent={:?} service={:?}",
                s.name,
                s.kind,
                s.span_id,
                s.parent_span_id,
                s.resource.service_name()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether `ancestor` is a parent, grandparent, … of `span`.
fn descends_from(spans: &[Span], span: &Span, ancestor: &Span) -> bool {
    let by_id: HashMap<&str, &Span> = spans.iter().map(|s| (s.span_id.as_str(), s)).collect();
    let mut current = span;
    while let Some(parent) = current.parent_span_id.as_deref() {
        if parent == ancestor.span_id {
            return true;
        }
        match by_id.get(parent) {
            Some(next) => current = next,
            None => return false,
        }
    }
    false
}

// ANCHOR: one_trace
/// `POST /users` → `INSERT users` → `SET` → `send <topic>` → `process <topic>` → `POST`
/// (HTTP client) → `POST /emails` (email-service): one trace id, the right parents, a link
/// from the consumer to the producer, both services' resources, and every attribute.
pub async fn one_trace_from_request_to_email(binaries: &StepBinaries) {
    let (receiver, stack) = start(binaries, Protocol::HttpProtobuf).await;
    let id = create_user(&stack, "Ada Lovelace", "ada@example.com").await;
    stack.wait_for_emails(1, SPAN_TIMEOUT).await;
    let topic = stack.topic.name();
    let chain_names = [
        "POST /users".to_owned(),
        "INSERT users".to_owned(),
        "SET".to_owned(),
        format!("send {topic}"),
        format!("process {topic}"),
        "POST".to_owned(),
        "POST /emails".to_owned(),
    ];
    // The two services export on their own schedules: wait for every link of the chain.
    let spans = receiver
        .wait_for_spans(SPAN_TIMEOUT, |spans| {
            let Some(request) = spans.iter().find(|s| s.name == "POST /users") else {
                return false;
            };
            chain_names.iter().all(|name| {
                spans
                    .iter()
                    .any(|s| &s.name == name && s.trace_id == request.trace_id)
            })
        })
        .await
        .unwrap_or_else(|err| panic!("the trace does not reach the email-service: {err}"));
    let request = spans
        .iter()
        .find(|s| s.name == "POST /users")
        .expect("request span");
    let trace = request.trace_id.as_str();

    let insert = find(&spans, trace, "INSERT users", SpanKind::Client);
    let set = find(&spans, trace, "SET", SpanKind::Client);
    let send = find(&spans, trace, &format!("send {topic}"), SpanKind::Producer);
    let process = find(
        &spans,
        trace,
        &format!("process {topic}"),
        SpanKind::Consumer,
    );
    let post = find(&spans, trace, "POST", SpanKind::Client);
    let email = find(&spans, trace, "POST /emails", SpanKind::Server);
    let chain = [request, insert, set, send, process, post, email];

    for span in [insert, set, send] {
        assert!(
            descends_from(&spans, span, request),
            "{} under POST /users:\n{}",
            span.name,
            describe(&spans, trace)
        );
    }
    assert_eq!(
        process.parent_span_id.as_deref(),
        Some(send.span_id.as_str()),
        "the consumer continues the producer's span"
    );
    assert!(
        process
            .links
            .iter()
            .any(|link| link.span_id == send.span_id && link.trace_id == send.trace_id),
        "the consumer span links to the producer span: {:?}",
        process.links
    );
    assert!(
        descends_from(&spans, post, process),
        "the HTTP call is made while processing"
    );
    assert_eq!(
        email.parent_span_id.as_deref(),
        Some(post.span_id.as_str()),
        "traceparent injected into the HTTP request"
    );
    for span in &chain[..6] {
        assert_eq!(
            span.resource.service_name(),
            Some("user-service"),
            "{}",
            span.name
        );
    }
    assert_eq!(email.resource.service_name(), Some("email-service"));

    // Postgres
    assert_attr(insert, "db.system.name", text("postgresql"));
    assert_attr(insert, "db.namespace", text(stack.database.name()));
    assert_attr(insert, "db.collection.name", text("users"));
    assert_attr(insert, "db.operation.name", text("INSERT"));
    assert_attr(insert, "server.address", text("127.0.0.1"));
    assert_attr(insert, "server.port", AttrValue::Int(5432));
    let query = str_attr(insert, "db.query.text").expect("db.query.text");
    assert!(
        query.starts_with("INSERT INTO users") && query.contains("$1"),
        "parameterised: {query}"
    );
    // Valkey
    assert_attr(set, "db.system.name", text("redis"));
    assert_attr(set, "db.operation.name", text("SET"));
    assert_attr(set, "db.namespace", text("0"));
    assert_attr(set, "server.address", text("127.0.0.1"));
    assert_attr(set, "server.port", AttrValue::Int(6379));
    // Kafka
    for (span, operation) in [(send, "send"), (process, "process")] {
        assert_attr(span, "messaging.system", text("kafka"));
        assert_attr(span, "messaging.destination.name", text(topic));
        assert_attr(span, "messaging.operation.type", text(operation));
        assert_attr(span, "messaging.kafka.message.key", text(&id.to_string()));
        assert_attr(span, "messaging.destination.partition.id", text("0"));
        assert!(
            matches!(
                span.attributes.get("messaging.kafka.offset"),
                Some(AttrValue::Int(_))
            ),
            "integer offset on {}: {}",
            span.name,
            span.attributes
        );
    }
    assert_attr(
        process,
        "messaging.consumer.group.name",
        text(&stack.consumer_group),
    );
    // HTTP client
    let email_port: i64 = stack
        .email_service
        .base_url()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    assert_attr(post, "http.request.method", text("POST"));
    assert_attr(post, "url.full", text(&stack.email_service.url("/emails")));
    assert_attr(post, "server.address", text("127.0.0.1"));
    assert_attr(post, "server.port", AttrValue::Int(email_port));
    assert_attr(post, "http.response.status_code", AttrValue::Int(202));
    assert!(
        chain
            .iter()
            .all(|span| span.status.code != SpanStatus::Error)
    );
    stack.stop().await;
    if let Ok(path) = std::env::var("TRACE_DUMP") {
        dump_trace(&spans, trace, &path);
    }
}
// ANCHOR_END: one_trace

/// Writes the spans of one trace as JSON (`TRACE_DUMP=path`): the slides draw their trace
/// waterfall from a real trace captured by this test.
fn dump_trace(spans: &[Span], trace_id: &str, path: &str) {
    let mut trace: Vec<&Span> = spans.iter().filter(|s| s.trace_id == trace_id).collect();
    trace.sort_by_key(|s| s.start_unix_nano);
    let rows: Vec<serde_json::Value> = trace
        .iter()
        .map(|s| {
            serde_json::json!({
                "name": s.name,
                "kind": format!("{:?}", s.kind).to_uppercase(),
                "service": s.resource.service_name(),
                "span_id": s.span_id,
                "parent_span_id": s.parent_span_id,
                "start_unix_nano": s.start_unix_nano,
                "end_unix_nano": s.end_unix_nano,
                "error": s.status.code == SpanStatus::Error,
            })
        })
        .collect();
    let json = serde_json::json!({ "trace_id": trace_id, "spans": rows });
    let text = serde_json::to_string_pretty(&json).expect("JSON");
    std::fs::write(path, text).unwrap_or_else(|err| panic!("cannot write {path}: {err}"));
}

/// A cache miss then a hit, visible on the Valkey spans; a unique violation (409) and a
/// missing table (500) recorded as errors on their DB spans, with the SQLSTATE.
pub async fn cache_hits_and_failing_queries_are_visible(binaries: &StepBinaries) {
    let (receiver, stack) = start(binaries, Protocol::HttpProtobuf).await;
    let id = create_user(&stack, "Grace Hopper", "grace@example.com").await;
    let mut redis = redis::Client::open(services::redis_url())
        .expect("valid TEST_REDIS_URL")
        .get_multiplexed_async_connection()
        .await
        .expect("Valkey");
    let _: () = redis
        .del(format!("{}:user:{id}", stack.cache_prefix))
        .await
        .expect("DEL");
    for _ in 0..2 {
        let (status, body) = stack.get(&format!("/users/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, _) = stack.create_user("Grace again", "GRACE@example.com").await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = stack.get("/demo/error").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);

    let spans = receiver
        .wait_for_spans(SPAN_TIMEOUT, |spans| {
            spans.iter().filter(|s| s.name == "GET /users/{id}").count() >= 2
                && spans.iter().filter(|s| s.name == "INSERT users").count() >= 2
                && spans.iter().any(|s| s.name == "SELECT legacy_accounts")
        })
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    let mut reads: Vec<&Span> = spans
        .iter()
        .filter(|s| s.name == "GET /users/{id}")
        .collect();
    reads.sort_by_key(|s| s.start_unix_nano);
    let (miss, hit) = (reads[0], reads[1]);
    let miss_get = find(&spans, &miss.trace_id, "GET", SpanKind::Client);
    assert_attr(miss_get, "cache.hit", AttrValue::Bool(false));
    assert_attr(miss_get, "db.operation.name", text("GET"));
    find(&spans, &miss.trace_id, "SELECT users", SpanKind::Client);
    find(&spans, &miss.trace_id, "SET", SpanKind::Client);
    let hit_get = find(&spans, &hit.trace_id, "GET", SpanKind::Client);
    assert_attr(hit_get, "cache.hit", AttrValue::Bool(true));
    assert!(
        !spans
            .iter()
            .any(|s| s.trace_id == hit.trace_id && s.name == "SELECT users"),
        "a hit does not query Postgres"
    );

    let failed_insert = spans
        .iter()
        .find(|s| s.name == "INSERT users" && s.status.code == SpanStatus::Error)
        .unwrap_or_else(|| panic!("no failed INSERT users span"));
    assert_attr(failed_insert, "db.response.status_code", text("23505"));
    assert_attr(failed_insert, "error.type", text("23505"));
    let failed_select = spans
        .iter()
        .find(|s| s.name == "SELECT legacy_accounts")
        .expect("span");
    assert_eq!(failed_select.kind, SpanKind::Client);
    assert_eq!(failed_select.status.code, SpanStatus::Error);
    assert_attr(failed_select, "db.response.status_code", text("42P01"));
    stack.stop().await;
}

/// The same session as step 2's privacy check, now with the whole chain (Postgres, Valkey,
/// Kafka, the HTTP call, the email-service): nothing personal in any span, except the id
/// in `url.path` and the Kafka message key. The session's W3C baggage travels with the
/// event: in the Kafka message's headers, and on to the email-service, which reads
/// `session.id` from it.
pub async fn nothing_personal_leaves_the_process_across_services(binaries: &StepBinaries) {
    let (receiver, stack) = start(binaries, Protocol::HttpProtobuf).await;
    let id = distinctive_user_id();
    stack.database.start_user_ids_at(id).await;
    let person = personal_session(&stack, id).await;
    let messages = stack.topic.read(1, SPAN_TIMEOUT).await;
    let topic = stack.topic.name().to_owned();
    let (user_exit, email_exit) = stack.stop().await;
    assert!(user_exit.success() && email_exit.success());
    let spans = receiver.spans();
    for name in ["INSERT users", "SET", "POST", "POST /emails"] {
        assert!(
            spans.iter().any(|s| s.name == name),
            "the session's {name} span was exported"
        );
    }
    assert!(spans.iter().any(|s| s.name == format!("process {topic}")));
    assert_nothing_personal(&spans, &person);
    assert_no_personal_records(&receiver.log_records(), &person);

    let baggage = messages
        .first()
        .and_then(|m| m.headers.iter().find(|(key, _)| key == "baggage"))
        .map(|(_, value)| value.as_str());
    assert!(
        baggage.is_some_and(|b| b.contains("session.id=apollo-11")),
        "the event carries the request's baggage: {messages:?}"
    );
    assert!(
        spans
            .iter()
            .any(|s| s.resource.service_name() == Some("email-service")
                && s.attributes.str("session.id") == Some("apollo-11")),
        "the email-service read session.id from the baggage it received: {:#?}",
        spans
            .iter()
            .filter(|s| s.resource.service_name() == Some("email-service"))
            .collect::<Vec<_>>()
    );
}

/// The email-service fails every call (`EMAIL_FAILURE_RATE=1.0`): the HTTP CLIENT span is
/// an error with `error.type` "503" and the status code, and the email-service's own span
/// is an error too (a 5xx).
pub async fn failed_email_calls_are_client_span_errors(binaries: &StepBinaries) {
    let receiver = crate::otlp::OtlpReceiver::start()
        .await
        .expect("OTLP receiver");
    let mut options = super::step2::exporting_to(&receiver, Protocol::HttpProtobuf);
    options
        .email_service_env
        .push(("EMAIL_FAILURE_RATE".into(), "1.0".into()));
    let stack = crate::Stack::start(binaries, options).await;
    create_user(&stack, "Ken Thompson", "ken@example.com").await;
    let spans = receiver
        .wait_for_spans(SPAN_TIMEOUT, |spans| {
            spans
                .iter()
                .any(|s| s.name == "POST" && s.kind == SpanKind::Client)
                && spans.iter().any(|s| s.name == "POST /emails")
        })
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    let post = spans
        .iter()
        .find(|s| s.name == "POST" && s.kind == SpanKind::Client)
        .expect("client span");
    assert_eq!(post.status.code, SpanStatus::Error, "{post:?}");
    assert_attr(post, "error.type", text("503"));
    assert_attr(post, "http.response.status_code", AttrValue::Int(503));
    let served = spans
        .iter()
        .find(|s| s.name == "POST /emails")
        .expect("server span");
    assert_eq!(served.status.code, SpanStatus::Error);
    assert_attr(served, "error.type", text("503"));
    stack.stop().await;
}

/// A message without headers, or with broken ones, is processed in a new root trace: the
/// email is sent, nothing is dropped.
pub async fn messages_without_trace_headers_start_new_traces(binaries: &StepBinaries) {
    let (receiver, stack) = start(binaries, Protocol::HttpProtobuf).await;
    let event = |id: i64, email: &str| format!(r#"{{"id":{id},"name":"Test","email":"{email}"}}"#);
    stack
        .topic
        .produce("900001", &event(900_001, "plain@example.com"), &[])
        .await;
    stack
        .topic
        .produce(
            "900002",
            &event(900_002, "broken@example.com"),
            &[
                ("traceparent", b"garbage".as_slice()),
                ("baggage", &[0xff, 0xfe]),
            ],
        )
        .await;
    let emails = stack.wait_for_emails(2, SPAN_TIMEOUT).await;
    let mut recipients: Vec<&str> = emails.iter().filter_map(|e| e["to"].as_str()).collect();
    recipients.sort_unstable();
    assert_eq!(recipients, ["broken@example.com", "plain@example.com"]);

    let name = format!("process {}", stack.topic.name());
    let spans = receiver
        .wait_for_spans(SPAN_TIMEOUT, |spans| {
            spans.iter().filter(|s| s.name == name).count() >= 2
        })
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    for process in spans.iter().filter(|s| s.name == name) {
        assert!(
            process.parent_span_id.is_none(),
            "a new root trace: {process:?}"
        );
        assert!(
            process.links.is_empty(),
            "nothing to link to: {:?}",
            process.links
        );
        let post = find(&spans, &process.trace_id, "POST", SpanKind::Client);
        assert!(descends_from(&spans, post, process));
    }
    stack.stop().await;
}
