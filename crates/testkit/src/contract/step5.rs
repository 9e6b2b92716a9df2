//! Step 5: logs. The services' `tracing` events arrive as OTLP log records: with the trace
//! and span they were written in (none outside a request), the exact severity, typed
//! attributes and the module as scope; once (a record, not also a span event, except the
//! errors that mark a span failed); flushed at SIGTERM; with stdout and export filtered
//! apart (`RUST_LOG`, `LOG_EXPORT_FILTER`) and stdout as JSON lines with the same ids on
//! demand (`LOG_FORMAT=json`); never a record from the exporter's own crates, even at
//! `RUST_LOG=trace` with a slow then dead collector; and nothing personal in any record.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use super::privacy::assert_no_personal_records;
use super::step2::{Protocol, create_user, distinctive_user_id, exporting_to, personal_session};
use crate::otlp::{AttrValue, LogRecord, OtlpReceiver, Span, SpanKind};
use crate::{ProxyMode, Stack, StackOptions, StepBinaries, TcpProxy};

const RECORD_TIMEOUT: Duration = Duration::from_secs(20);

/// The crates that export telemetry: a record from one of them would be a loop.
const EXPORTER_STACK: [&str; 6] = ["opentelemetry", "hyper", "h2", "tonic", "tower", "reqwest"];

/// Exports log records every 100 ms (default 1 s) as well as spans, every level.
fn exporting_records_to(receiver: &OtlpReceiver, protocol: Protocol) -> StackOptions {
    exporting_to(receiver, protocol)
        .env("OTEL_BLRP_SCHEDULE_DELAY", "100")
        .env("LOG_EXPORT_FILTER", "trace")
}

fn records_with_body<'a>(records: &'a [LogRecord], body: &str) -> Vec<&'a LogRecord> {
    records
        .iter()
        .filter(|record| record.body_str() == Some(body))
        .collect()
}

#[track_caller]
fn one_record<'a>(records: &'a [LogRecord], body: &str) -> &'a LogRecord {
    let found = records_with_body(records, body);
    assert_eq!(
        found.len(),
        1,
        "exactly one record {body:?}; the bodies: {:?}",
        bodies(records)
    );
    found[0]
}

fn bodies(records: &[LogRecord]) -> Vec<String> {
    records
        .iter()
        .map(|record| format!("{} {:?}", record.severity_text, record.body_str()))
        .collect()
}

/// SIGTERM to both services; the user-service's exit status and everything it printed.
async fn stop_keeping_output(mut stack: Stack) -> (std::process::ExitStatus, String) {
    let exit = stack.user_service.stop(Duration::from_secs(10)).await;
    let output = stack.user_service.output();
    stack.stop_email_service().await;
    (exit, output)
}

#[track_caller]
fn span_named<'a>(spans: &'a [Span], name: &str) -> &'a Span {
    spans
        .iter()
        .find(|span| span.name == name)
        .unwrap_or_else(|| panic!("no span {name:?} among {:?}", span_names(spans)))
}

fn span_names(spans: &[Span]) -> Vec<&str> {
    spans.iter().map(|span| span.name.as_str()).collect()
}

/// `record` was written inside `span`: same trace, and `span` was the current one.
#[track_caller]
fn assert_written_in(record: &LogRecord, span: &Span) {
    assert_eq!(
        (record.trace_id.as_deref(), record.span_id.as_deref()),
        (Some(span.trace_id.as_str()), Some(span.span_id.as_str())),
        "the record {:?} carries the trace and span id of {:?}",
        record.body_str(),
        span.name
    );
}

/// A request's records carry its trace id and the id of the span they were written in,
/// across both services and the Kafka hop; records written outside any request have none;
/// levels map to the OTLP severities exactly; fields stay typed; the scope is the module.
/// And each event is exported once: as a record, not also as a span event — except ERROR
/// events, which also mark their span failed and show on it.
async fn log_records_carry_their_request_context(binaries: &StepBinaries, protocol: Protocol) {
    let receiver = OtlpReceiver::start().await.expect("OTLP receiver");
    let stack = Stack::start(binaries, exporting_records_to(&receiver, protocol)).await;
    create_user(&stack, "Barbara Liskov", "barbara@example.com").await;
    let (status, _) = stack.get("/users/987654").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = stack.get("/demo/logs").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    stack.wait_for_emails(1, RECORD_TIMEOUT).await;
    let topic = stack.topic.name().to_owned();
    let (user_exit, stdout) = stop_keeping_output(stack).await;
    assert!(user_exit.success());

    let spans = receiver.spans();
    let records = receiver.log_records();
    if let Ok(path) = std::env::var("LOGS_DUMP") {
        dump_records(&records, &stdout, protocol, &path);
    }

    // One request, one trace, across services and the Kafka hop: each record in its span.
    let create = span_named(&spans, "POST /users");
    assert_written_in(one_record(&records, "user created"), create);
    let send = span_named(&spans, &format!("send {topic}"));
    let published = one_record(&records, "user.created event published");
    assert_written_in(published, send);
    assert!(
        matches!(published.attr("offset"), Some(AttrValue::Int(_))),
        "the offset is an integer attribute: {:?}",
        published.attributes
    );
    let process = span_named(&spans, &format!("process {topic}"));
    assert_written_in(one_record(&records, "welcome email sent"), process);
    let accepted = one_record(&records, "email accepted");
    assert_written_in(accepted, span_named(&spans, "send_email"));
    assert_eq!(accepted.service_name(), Some("email-service"));
    assert_eq!(accepted.trace_id.as_deref(), Some(create.trace_id.as_str()));
    let miss = one_record(&records, "cache miss");
    let get = spans
        .iter()
        .find(|s| s.name == "GET /users/{id}" && s.kind == SpanKind::Server)
        .expect("the GET /users/{id} span");
    assert_written_in(miss, get);
    assert_eq!(miss.service_name(), Some("user-service"));

    // Outside any request: no trace context at all.
    let user_service_records: Vec<LogRecord> = records
        .iter()
        .filter(|r| r.service_name() == Some("user-service"))
        .cloned()
        .collect();
    for outside in ["SIGTERM received, shutting down", "user-service stopped"] {
        let record = one_record(&user_service_records, outside);
        assert_eq!(
            (record.trace_id.as_deref(), record.span_id.as_deref()),
            (None, None),
            "{outside:?} was written outside any request"
        );
    }
    let listening = records
        .iter()
        .find(|r| {
            r.body_str()
                .is_some_and(|b| b.starts_with("user-service listening on"))
        })
        .unwrap_or_else(|| panic!("the start-up record; bodies: {:?}", bodies(&records)));
    assert_eq!(listening.trace_id, None);

    // Severity: number and text, one per level (the OTLP data model's first of each range).
    let demo = spans
        .iter()
        .find(|s| s.name == "GET /demo/logs")
        .expect("the GET /demo/logs span");
    for (body, number, text) in [
        ("a trace-level detail", 1, "TRACE"),
        ("a debug message", 5, "DEBUG"),
        ("an info message with a field", 9, "INFO"),
        ("a warning", 13, "WARN"),
        ("an error message", 17, "ERROR"),
    ] {
        let record = one_record(&records, body);
        assert_eq!(
            (record.severity_number, record.severity_text.as_str()),
            (number, text),
            "{body:?}"
        );
        assert_written_in(record, demo);
        assert!(
            record.scope_name.ends_with("::demo"),
            "the scope is the module that wrote it: {:?}",
            record.scope_name
        );
        assert_eq!(record.attr("demo"), Some(&AttrValue::String("logs".into())));
    }
    let info = one_record(&records, "an info message with a field");
    assert_eq!(
        info.attr("items"),
        Some(&AttrValue::Int(3)),
        "typed, not \"3\""
    );
    let warning = one_record(&records, "a warning");
    assert_eq!(warning.attr("retry_in_ms"), Some(&AttrValue::Int(250)));

    // Exported once: no INFO or WARN event is also a span event; an ERROR event is on its
    // span too (it marked it failed), with its record beside it.
    for span in &spans {
        for event in &span.events {
            let mirrored = records.iter().any(|record| {
                record.severity_number >= 17
                    && record.span_id.as_deref() == Some(span.span_id.as_str())
            });
            assert!(
                mirrored,
                "the span event {:?} on {:?} is not an error that was also logged",
                event.name, span.name
            );
        }
    }
    assert!(
        !demo.events.iter().any(|e| e.name == "a warning"),
        "a warning is a record only, not also a span event: {:?}",
        demo.events
    );
    assert!(
        demo.events.iter().any(|e| e.name == "an error message"),
        "the ERROR event shows on its span: {:?}",
        demo.events
    );
}

/// Writes a few of the user-service's records as JSON (`LOGS_DUMP=path`), each beside the
/// line stdout printed for the same event: the slides show the two outputs of one event
/// from what this test received.
fn dump_records(records: &[LogRecord], stdout: &str, protocol: Protocol, path: &str) {
    let events: Vec<Value> = ["user created", "cache miss", "a warning"]
        .into_iter()
        .map(|body| {
            let record = one_record(records, body);
            let line = stdout
                .lines()
                .find(|line| line.contains(body))
                .unwrap_or_default();
            let attributes: serde_json::Map<String, Value> = record
                .attributes
                .iter()
                .map(|(key, v)| (key.clone(), super::attribute_json(v)))
                .collect();
            serde_json::json!({
                "stdout": line,
                "record": {
                    "time_unix_nano": record.time_unix_nano,
                    "observed_time_unix_nano": record.observed_time_unix_nano,
                    "severity_number": record.severity_number,
                    "severity_text": record.severity_text,
                    "body": record.body_str(),
                    "attributes": attributes,
                    "trace_id": record.trace_id,
                    "span_id": record.span_id,
                    "event_name": record.event_name,
                    "scope": record.scope_name,
                    "resource": { "service.name": record.service_name() },
                }
            })
        })
        .collect();
    let dump = serde_json::json!({
        "captured_by": format!("log_records_carry_their_request_context ({protocol:?})"),
        "events": events,
    });
    let text = serde_json::to_string_pretty(&dump).expect("JSON");
    std::fs::write(path, text + "\n").unwrap_or_else(|err| panic!("LOGS_DUMP {path}: {err}"));
}

pub async fn log_records_carry_their_request_context_http(binaries: &StepBinaries) {
    log_records_carry_their_request_context(binaries, Protocol::HttpProtobuf).await;
}

pub async fn log_records_carry_their_request_context_grpc(binaries: &StepBinaries) {
    log_records_carry_their_request_context(binaries, Protocol::Grpc).await;
}

/// With a batch delay of ten minutes, nothing is exported before SIGTERM: every record of
/// the run — the requests', the consumer's and the shutdown's own — must come from the
/// flush at shutdown.
async fn records_written_before_sigterm_arrive(binaries: &StepBinaries, protocol: Protocol) {
    const USERS: usize = 3;
    let receiver = OtlpReceiver::start().await.expect("OTLP receiver");
    let options = exporting_to(&receiver, protocol).env("OTEL_BLRP_SCHEDULE_DELAY", "600000");
    let stack = Stack::start(binaries, options).await;
    for n in 0..USERS {
        create_user(&stack, "Edsger Dijkstra", &format!("edsger{n}@example.com")).await;
    }
    stack.wait_for_emails(USERS, RECORD_TIMEOUT).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        receiver.log_records().is_empty(),
        "nothing is exported before the flush (the test would prove nothing)"
    );
    let (user_exit, email_exit) = stack.stop().await;
    assert!(user_exit.success() && email_exit.success());
    let records = receiver.log_records();
    for (body, count) in [
        ("user created", USERS),
        ("user.created event published", USERS),
        ("welcome email sent", USERS),
        ("email accepted", USERS),
        ("SIGTERM received, shutting down", 2),
        ("user-service stopped", 1),
        ("email-service stopped", 1),
    ] {
        assert_eq!(
            records_with_body(&records, body).len(),
            count,
            "{body:?}; the records: {:?}",
            bodies(&records)
        );
    }
}

pub async fn records_written_before_sigterm_arrive_http(binaries: &StepBinaries) {
    records_written_before_sigterm_arrive(binaries, Protocol::HttpProtobuf).await;
}

pub async fn records_written_before_sigterm_arrive_grpc(binaries: &StepBinaries) {
    records_written_before_sigterm_arrive(binaries, Protocol::Grpc).await;
}

/// `RUST_LOG` sets what stdout shows and `LOG_EXPORT_FILTER` what is exported, apart: a
/// quiet terminal still exports, a quiet export still prints. `LOG_FORMAT=json` prints one
/// JSON object per line, with the same trace and span ids as the exported record. A value
/// that cannot be used stops the service at start, saying which.
pub async fn stdout_and_export_are_set_apart(binaries: &StepBinaries) {
    let receiver = OtlpReceiver::start().await.expect("OTLP receiver");
    let quiet_export = exporting_to(&receiver, Protocol::HttpProtobuf)
        .env("LOG_EXPORT_FILTER", "warn")
        .env("LOG_FORMAT", "json");
    let stack = Stack::start(binaries, quiet_export).await;
    create_user(&stack, "John Backus", "john@example.com").await;
    let (status, _) = stack.get("/demo/logs").await;
    assert_eq!(status, StatusCode::OK);
    stack
        .user_service
        .wait_for_line("user created", RECORD_TIMEOUT)
        .await;
    let (user_exit, output) = stop_keeping_output(stack).await;
    assert!(user_exit.success());
    let records = receiver.log_records();
    assert!(
        records.iter().all(|r| r.severity_number >= 13),
        "LOG_EXPORT_FILTER=warn exports WARN and above only: {:?}",
        bodies(&records)
    );
    let warning = one_record(&records, "a warning");
    let lines: Vec<Value> = output
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|err| panic!("LOG_FORMAT=json: not a JSON line ({err}): {line}"))
        })
        .collect();
    let printed = lines
        .iter()
        .find(|line| line["message"] == "a warning")
        .expect("the warning on stdout");
    assert_eq!(printed["level"], "WARN");
    assert_eq!(
        printed["retry_in_ms"], 250,
        "fields keep their type: {printed}"
    );
    assert_eq!(
        (printed["trace_id"].as_str(), printed["span_id"].as_str()),
        (warning.trace_id.as_deref(), warning.span_id.as_deref()),
        "stdout and the exported record name the same span: {printed}"
    );
    let created = lines
        .iter()
        .find(|line| line["message"] == "user created")
        .expect("stdout keeps INFO lines while the export keeps WARN");
    assert!(
        created["timestamp"].is_string() && created["target"].is_string(),
        "{created}"
    );

    // The module that writes "user created", as the records name it (`<crate>::http`).
    let http_module = warning.scope_name.replace("::demo", "::http");

    receiver.clear();
    let quiet_stdout = exporting_to(&receiver, Protocol::HttpProtobuf)
        .env("OTEL_BLRP_SCHEDULE_DELAY", "100")
        .env("RUST_LOG", format!("info,{http_module}=warn"));
    let stack = Stack::start(binaries, quiet_stdout).await;
    create_user(&stack, "John Backus", "john@example.com").await;
    receiver
        .wait_for_log_records(RECORD_TIMEOUT, |r| {
            !records_with_body(r, "user created").is_empty()
        })
        .await
        .unwrap_or_else(|err| {
            panic!("RUST_LOG={http_module}=warn: the INFO record is still exported: {err}")
        });
    assert_eq!(
        stack.user_service.count_lines("user created"),
        0,
        "RUST_LOG={http_module}=warn: stdout shows no INFO line of that module:\n{}",
        stack.user_service.output()
    );
    stack.stop().await;

    for (variable, value, said) in [
        ("LOG_FORMAT", "yaml", "LOG_FORMAT"),
        ("LOG_EXPORT_FILTER", "info,=[", "LOG_EXPORT_FILTER"),
    ] {
        let mut process = crate::ServiceProcess::spawn(
            crate::SpawnOptions::new("user-service", &binaries.user_service, "USER_SERVICE_ADDR")
                .env(variable, value)
                .ready_path(None),
        )
        .await;
        let exit = process.wait_exit(Duration::from_secs(10)).await;
        assert_eq!(exit.code(), Some(2), "{variable}={value}: exit code");
        assert!(
            process.output().contains(said),
            "{variable}={value}: the error names the variable:\n{}",
            process.output()
        );
    }
}

/// At `RUST_LOG=trace` and `LOG_EXPORT_FILTER=trace`, with the collector first slow
/// (answers 3 s late), then gone (accepts, never answers), then back, for 30 s under
/// traffic: the exporter's crates log plenty on stdout, yet no record of theirs is ever
/// exported (no loop), the service answers throughout, and its memory stays bounded.
async fn exporter_never_exports_its_own_logs(binaries: &StepBinaries, protocol: Protocol) {
    const PHASE: Duration = Duration::from_secs(10);
    let receiver = OtlpReceiver::start().await.expect("OTLP receiver");
    let upstream = match protocol {
        Protocol::HttpProtobuf => receiver.http_addr(),
        Protocol::Grpc => receiver.grpc_addr(),
    };
    let collector = TcpProxy::start(&upstream.to_string()).await;
    collector.set_mode(ProxyMode::Slow(Duration::from_secs(3)));
    let options = exporting_records_to(&receiver, protocol)
        .env(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://{}", collector.address()),
        )
        .env("RUST_LOG", "trace");
    let stack = Stack::start(binaries, options).await;
    let id = create_user(&stack, "Niklaus Wirth", "niklaus@example.com").await;

    let started = Instant::now();
    let mut resident = Vec::new();
    let mut requests = 0;
    for (mode, name) in [
        (ProxyMode::Slow(Duration::from_secs(3)), "slow"),
        (ProxyMode::BlackHole, "gone"),
        (ProxyMode::Up, "back"),
    ] {
        collector.set_mode(mode);
        let phase_end = Instant::now() + PHASE;
        while Instant::now() < phase_end {
            let (status, body) = stack.get(&format!("/users/{id}")).await;
            assert_eq!(status, StatusCode::OK, "collector {name}: {body}");
            requests += 1;
            if requests % 20 == 0 {
                resident.extend(stack.user_service.resident_kib());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let (user_exit, output) = stop_keeping_output(stack).await;
    assert!(user_exit.success());

    let records = receiver.log_records();
    let looped: Vec<&LogRecord> = records
        .iter()
        .filter(|r| {
            EXPORTER_STACK
                .iter()
                .any(|krate| r.scope_name.starts_with(krate))
        })
        .collect();
    assert!(
        looped.is_empty(),
        "{} of {} records come from the exporter's own crates (a loop): {:?}",
        looped.len(),
        records.len(),
        looped
            .iter()
            .take(5)
            .map(|r| (&r.scope_name, r.body_str()))
            .collect::<Vec<_>>()
    );
    let exporter_lines = output
        .lines()
        .filter(|line| {
            [" hyper", " h2", " tonic", " reqwest", " opentelemetry"]
                .iter()
                .any(|k| line.contains(k))
        })
        .count();
    assert!(
        exporter_lines > 0,
        "RUST_LOG=trace shows the exporter's crates on stdout (else this test proves nothing)"
    );
    assert!(
        records
            .iter()
            .any(|r| r.body_str() == Some("SIGTERM received, shutting down")),
        "the service's own records arrive once the collector is back: {} records",
        records.len()
    );

    let first = resident
        .iter()
        .take(resident.len() / 3)
        .max()
        .copied()
        .unwrap_or(0);
    let last = resident.iter().max().copied().unwrap_or(0);
    println!(
        "{requests} requests in {:?}; {} records exported; {exporter_lines} exporter lines on stdout; resident memory: max {first} KiB in the first phase, {last} KiB overall",
        started.elapsed(),
        records.len(),
    );
    assert!(
        last < first + 64 * 1024,
        "resident memory grew from {first} KiB to {last} KiB while the collector was slow or gone"
    );
}

pub async fn exporter_never_exports_its_own_logs_http(binaries: &StepBinaries) {
    exporter_never_exports_its_own_logs(binaries, Protocol::HttpProtobuf).await;
}

pub async fn exporter_never_exports_its_own_logs_grpc(binaries: &StepBinaries) {
    exporter_never_exports_its_own_logs(binaries, Protocol::Grpc).await;
}

/// Every record of a session that handles a person's data — including failures, at every
/// level (`LOG_EXPORT_FILTER=trace`) — carries no name, email or user id.
pub async fn nothing_personal_in_any_log_record(binaries: &StepBinaries) {
    let receiver = OtlpReceiver::start().await.expect("OTLP receiver");
    let stack = Stack::start(
        binaries,
        exporting_records_to(&receiver, Protocol::HttpProtobuf),
    )
    .await;
    let id = distinctive_user_id();
    stack.database.start_user_ids_at(id).await;
    let person = personal_session(&stack, id).await;
    let (user_exit, email_exit) = stack.stop().await;
    assert!(user_exit.success() && email_exit.success());
    let records = receiver.log_records();
    for body in [
        "user created",
        "cache miss",
        "welcome email sent",
        "email accepted",
    ] {
        assert!(
            !records_with_body(&records, body).is_empty(),
            "the session's {body:?} record was exported: {:?}",
            bodies(&records)
        );
    }
    let looked_at = assert_no_personal_records(&records, &person);
    assert!(looked_at >= 20, "only {looked_at} records");
}
