//! Step 6: one resource. Spans, metric points and log records of a process carry the same
//! resource: service name, version, namespace, environment, a per-process instance id, host,
//! OS, process and SDK attributes, with the semantic conventions' schema URL; the environment
//! (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`) overrides the defaults on all three;
//! `OTEL_SDK_DISABLED=true` sends nothing; two processes get two instance ids; and a SIGTERM
//! under load loses no span, record or metric point of an answered request.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::StatusCode;

use super::step2::{Protocol, create_user, exporting_to};
use crate::otlp::{OtlpReceiver, PointValue, Resource, SpanKind};
use crate::{Stack, StackOptions, StepBinaries};

const EMAIL_TIMEOUT: Duration = Duration::from_secs(30);

/// Exports records every 100 ms and metrics only at SIGTERM, so that every signal of a run
/// is there once the services stopped.
fn exporting_all_signals(receiver: &OtlpReceiver, protocol: Protocol) -> StackOptions {
    exporting_to(receiver, protocol)
        .env("OTEL_BLRP_SCHEDULE_DELAY", "100")
        .env("OTEL_METRIC_EXPORT_INTERVAL", "600000")
}

/// The distinct resources `service` sent, per signal: (spans, metric points, log records).
fn resources_of(
    receiver: &OtlpReceiver,
    service: &str,
) -> (Vec<Resource>, Vec<Resource>, Vec<Resource>) {
    fn distinct(resources: impl Iterator<Item = Resource>, service: &str) -> Vec<Resource> {
        let mut seen: Vec<Resource> = Vec::new();
        for resource in resources.filter(|r| r.service_name() == Some(service)) {
            if !seen.contains(&resource) {
                seen.push(resource);
            }
        }
        seen
    }
    (
        distinct(receiver.spans().into_iter().map(|s| s.resource), service),
        distinct(
            receiver.metric_points().into_iter().map(|p| p.resource),
            service,
        ),
        distinct(
            receiver.log_records().into_iter().map(|r| r.resource),
            service,
        ),
    )
}

/// `service` sent exactly one resource, the same on spans, metric points and log records.
#[track_caller]
fn one_resource(receiver: &OtlpReceiver, service: &str) -> Resource {
    let (spans, points, records) = resources_of(receiver, service);
    for (signal, resources) in [
        ("spans", &spans),
        ("metric points", &points),
        ("log records", &records),
    ] {
        assert_eq!(
            resources.len(),
            1,
            "{service}: one resource on its {signal}, got {}:\n{resources:#?}",
            resources.len()
        );
    }
    assert_eq!(spans[0], points[0], "{service}: spans and metric points");
    assert_eq!(spans[0], records[0], "{service}: spans and log records");
    spans[0].clone()
}

#[track_caller]
fn assert_attr(resource: &Resource, key: &str, expected: &str) {
    assert_eq!(
        resource.attributes.str(key),
        Some(expected),
        "{key} in {}",
        resource.attributes
    );
}

#[track_caller]
fn instance_id(resource: &Resource) -> String {
    let id = resource
        .attributes
        .str("service.instance.id")
        .unwrap_or_else(|| panic!("no service.instance.id in {}", resource.attributes));
    assert!(
        id.len() == 36 && id.chars().filter(|c| *c == '-').count() == 4,
        "service.instance.id is a UUID: {id:?}"
    );
    id.to_owned()
}

/// One sign-up through both services; both stopped, so every signal was flushed.
async fn sign_up_and_stop(stack: Stack) {
    create_user(&stack, "Frances Allen", "frances@example.com").await;
    let (status, _) = stack.get("/users/424242").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    stack.wait_for_emails(1, EMAIL_TIMEOUT).await;
    let (user_exit, email_exit) = stack.stop().await;
    assert!(user_exit.success() && email_exit.success());
}

/// Each service's spans, metric points and log records carry one and the same resource:
/// the defaults, the detected host, OS, process and SDK attributes, and the schema URL.
async fn one_resource_on_every_signal(binaries: &StepBinaries, protocol: Protocol) {
    let receiver = OtlpReceiver::start().await.expect("OTLP receiver");
    let stack = Stack::start(binaries, exporting_all_signals(&receiver, protocol)).await;
    let pids = (stack.user_service.pid(), stack.email_service.pid());
    sign_up_and_stop(stack).await;

    let mut instances = BTreeSet::new();
    for (service, pid) in [("user-service", pids.0), ("email-service", pids.1)] {
        let resource = one_resource(&receiver, service);
        let version = resource
            .attributes
            .str("service.version")
            .unwrap_or_default();
        assert!(
            version.split('.').count() == 3 && version.split('.').all(|n| n.parse::<u32>().is_ok()),
            "service.version is the crate's version: {version:?}"
        );
        assert_attr(&resource, "service.namespace", "workshop");
        assert_attr(&resource, "deployment.environment.name", "development");
        assert_attr(&resource, "os.type", "linux");
        assert_attr(&resource, "process.runtime.name", "rustc");
        assert_attr(&resource, "telemetry.sdk.language", "rust");
        assert_attr(&resource, "telemetry.sdk.name", "opentelemetry");
        for key in ["host.name", "host.arch"] {
            assert!(
                resource.attributes.str(key).is_some_and(|v| !v.is_empty()),
                "{key} in {}",
                resource.attributes
            );
        }
        assert_eq!(
            resource.attributes.int("process.pid"),
            pid.map(i64::from),
            "process.pid is the process's"
        );
        assert!(
            resource
                .schema_url
                .starts_with("https://opentelemetry.io/schemas/1."),
            "the schema URL of the semantic conventions: {:?}",
            resource.schema_url
        );
        instances.insert(instance_id(&resource));
    }
    assert_eq!(instances.len(), 2, "each process its own instance id");
}

pub async fn one_resource_on_every_signal_http(binaries: &StepBinaries) {
    one_resource_on_every_signal(binaries, Protocol::HttpProtobuf).await;
}

pub async fn one_resource_on_every_signal_grpc(binaries: &StepBinaries) {
    one_resource_on_every_signal(binaries, Protocol::Grpc).await;
}

/// `OTEL_RESOURCE_ATTRIBUTES` overrides the defaults and adds to them, and `OTEL_SERVICE_NAME`
/// wins over a `service.name` in it — on spans, metric points and log records alike.
pub async fn environment_overrides_the_resource(binaries: &StepBinaries) {
    let receiver = OtlpReceiver::start().await.expect("OTLP receiver");
    let mut options = exporting_all_signals(&receiver, Protocol::HttpProtobuf).env(
        "OTEL_RESOURCE_ATTRIBUTES",
        "service.namespace=shop,deployment.environment.name=staging,service.version=9.9.9,team=payments",
    );
    options
        .user_service_env
        .push(("OTEL_SERVICE_NAME".into(), "accounts".into()));
    options.email_service_env.push((
        "OTEL_RESOURCE_ATTRIBUTES".into(),
        "service.name=mailer,service.namespace=shop,deployment.environment.name=staging".into(),
    ));
    let stack = Stack::start(binaries, options).await;
    sign_up_and_stop(stack).await;

    let accounts = one_resource(&receiver, "accounts");
    assert_attr(&accounts, "service.namespace", "shop");
    assert_attr(&accounts, "deployment.environment.name", "staging");
    assert_attr(&accounts, "service.version", "9.9.9");
    assert_attr(&accounts, "team", "payments");
    instance_id(&accounts);
    let mailer = one_resource(&receiver, "mailer");
    assert_attr(&mailer, "service.namespace", "shop");
    for default in ["user-service", "email-service"] {
        let (spans, points, records) = resources_of(&receiver, default);
        assert!(
            spans.is_empty() && points.is_empty() && records.is_empty(),
            "nothing is exported under the default name {default:?} once the environment set another"
        );
    }
}

/// `OTEL_SDK_DISABLED=true` (the specification's switch, which the Rust SDK does not read):
/// nothing reaches the collector, the service works, and it says so once.
pub async fn sdk_disabled_sends_nothing(binaries: &StepBinaries) {
    let receiver = OtlpReceiver::start().await.expect("OTLP receiver");
    let options = exporting_all_signals(&receiver, Protocol::HttpProtobuf)
        .env("OTEL_METRIC_EXPORT_INTERVAL", "200")
        .env("OTEL_SDK_DISABLED", "true");
    let stack = Stack::start(binaries, options).await;
    let said = stack.user_service.count_lines("OTEL_SDK_DISABLED=true");
    sign_up_and_stop(stack).await;
    assert_eq!(said, 1, "the service says once that it exports nothing");
    let received = receiver.export_requests();
    assert_eq!(received.total(), 0, "OTEL_SDK_DISABLED=true: {received:?}");
}

/// A restarted user-service is another instance: a new `service.instance.id`, and within
/// each process the same id on every signal.
pub async fn instances_get_their_own_id(binaries: &StepBinaries) {
    let receiver = OtlpReceiver::start().await.expect("OTLP receiver");
    let options = exporting_all_signals(&receiver, Protocol::HttpProtobuf);
    let mut stack = Stack::start(binaries, options.clone()).await;
    create_user(&stack, "Donald Knuth", "donald@example.com").await;
    stack.user_service.stop(Duration::from_secs(10)).await;
    stack.restart_user_service(&options).await;
    create_user(&stack, "Leslie Lamport", "leslie@example.com").await;
    stack.wait_for_emails(2, EMAIL_TIMEOUT).await;
    stack.stop().await;

    let (spans, points, records) = resources_of(&receiver, "user-service");
    let ids = |resources: &[Resource]| -> BTreeSet<String> {
        resources.iter().map(instance_id).collect()
    };
    assert_eq!(ids(&spans).len(), 2, "two processes, two instance ids");
    assert_eq!(
        ids(&spans),
        ids(&points),
        "metric points carry the same ids"
    );
    assert_eq!(ids(&spans), ids(&records), "log records carry the same ids");
}

/// Sign-ups keep coming while SIGTERM arrives: every request that was answered 201 has its
/// server span, its "user created" record and its count in the request histogram — nothing
/// recorded before the signal is lost in the shutdown.
pub async fn sigterm_under_load_loses_nothing(binaries: &StepBinaries) {
    const WORKERS: usize = 4;
    let receiver = OtlpReceiver::start().await.expect("OTLP receiver");
    let mut stack = Stack::start(
        binaries,
        exporting_all_signals(&receiver, Protocol::HttpProtobuf),
    )
    .await;
    let url = stack.user_url("/users");
    let created = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..WORKERS)
        .map(|worker| {
            let (url, created, stop) = (url.clone(), created.clone(), stop.clone());
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                for n in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let body = serde_json::json!({ "name": "Load Test", "email": format!("load{worker}-{n}@example.com") });
                    match http.post(&url).json(&body).send().await {
                        Ok(response) if response.status() == StatusCode::CREATED => {
                            created.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(_) => {}
                        Err(_) => break, // the listener is gone: the service is stopping
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let exit = stack.user_service.stop(Duration::from_secs(10)).await;
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        let _ = worker.await;
    }
    assert!(exit.success(), "{exit}");
    stack.stop_email_service().await;

    let created = created.load(Ordering::Relaxed);
    assert!(
        created >= 10,
        "the load created {created} users before SIGTERM"
    );
    let spans = receiver
        .spans()
        .into_iter()
        .filter(|s| {
            s.name == "POST /users"
                && s.kind == SpanKind::Server
                && s.attributes.int("http.response.status_code") == Some(201)
        })
        .count();
    let records = receiver
        .log_records()
        .iter()
        .filter(|r| r.body_str() == Some("user created"))
        .count();
    let counted: u64 = receiver
        .metric_points()
        .iter()
        .filter(|p| {
            p.name == "http.server.request.duration"
                && p.attributes.str("http.route") == Some("/users")
                && p.attributes.str("http.request.method") == Some("POST")
                && p.attributes.int("http.response.status_code") == Some(201)
        })
        .filter_map(|p| match &p.value {
            PointValue::Histogram { count, .. } => Some(*count),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    println!(
        "{created} users created under load before SIGTERM: {spans} spans, {records} records, {counted} counted"
    );
    assert_eq!(spans, created, "a server span for every 201");
    assert_eq!(records, created, "a \"user created\" record for every 201");
    assert_eq!(counted, created as u64, "the histogram counted every 201");
}
