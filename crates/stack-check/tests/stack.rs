//! The static checks, run on the real files under `docker/`. These stand in for running the
//! stack where there is no Docker engine; `make e2e` checks the running stack where there is.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_yaml_ng::Value;
use stack_check::{
    alloy, backends, collector, compose, docker_dir, endpoints, envfile, grafana, logql, read_json,
    read_text, read_yaml, report, resources, service_graph, tempo, yaml_get, yaml_strings,
};

fn assert_none(what: &str, problems: Vec<String>) {
    assert!(problems.is_empty(), "{what}:\n{}", report(&problems));
}

fn path(rel: &str) -> PathBuf {
    docker_dir().join(rel)
}

fn env() -> BTreeMap<String, String> {
    envfile::parse(&read_text(&path(".env")).unwrap()).unwrap()
}

fn compose_doc() -> Value {
    read_yaml(&path("compose.yaml")).unwrap()
}

fn listeners() -> BTreeMap<String, BTreeSet<u16>> {
    compose::listeners(&compose_doc())
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[test]
fn every_yaml_json_alloy_and_env_file_parses() {
    let mut files = Vec::new();
    files_under(&docker_dir(), &mut files);
    let mut problems = Vec::new();
    let mut counts = BTreeMap::new();
    for f in &files {
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let kind = match f.extension().and_then(|e| e.to_str()) {
            Some("yaml" | "yml") => read_yaml(f).map(|_| "yaml"),
            Some("json") => read_json(f).map(|_| "json"),
            Some("alloy") => read_text(f)
                .and_then(|t| alloy::parse(&t).map_err(|e| format!("{}: {e}", f.display())))
                .map(|_| "alloy"),
            _ if name == ".env" => read_text(f)
                .and_then(|t| envfile::parse(&t).map_err(|e| format!("{}: {e}", f.display())))
                .map(|_| "env"),
            _ => continue,
        };
        match kind {
            Ok(k) => *counts.entry(k).or_insert(0) += 1,
            Err(e) => problems.push(e),
        }
    }
    assert_none("files that do not parse", problems);
    for (kind, at_least) in [("yaml", 7), ("json", 3), ("alloy", 1), ("env", 1)] {
        assert!(
            counts.get(kind).copied().unwrap_or(0) >= at_least,
            "expected ≥ {at_least} {kind} files, found {counts:?}"
        );
    }
}

#[test]
fn compose_variables_are_set_in_the_env_file() {
    assert_none(
        "compose variables",
        compose::check_variables(&compose_doc(), &env()),
    );
}

#[test]
fn compose_images_are_pinned() {
    assert_none("image tags", compose::check_images(&compose_doc(), &env()));
}

#[test]
fn compose_depends_on_resolves() {
    assert_none("depends_on", compose::check_depends_on(&compose_doc()));
}

#[test]
fn compose_volumes_resolve() {
    let doc = compose_doc();
    assert_none("volumes", compose::check_volumes(&doc));
    assert_none(
        "bind mounts",
        compose::check_bind_sources(&doc, &docker_dir()),
    );
}

#[test]
fn compose_ports_bind_loopback_and_do_not_collide() {
    let doc = compose_doc();
    assert_none("ports", compose::check_ports(&doc));
    assert_none("port conflicts", compose::check_port_conflicts(&doc));
}

#[test]
fn compose_services_have_memory_limits() {
    assert_none(
        "memory limits",
        compose::check_memory_limits(&compose_doc()),
    );
}

#[test]
fn compose_has_what_the_scripts_expect() {
    // scripts/services.sh starts exactly these, and the docs and scripts name the profiles.
    let doc = compose_doc();
    let services = compose::services(&doc);
    for name in [
        "postgres",
        "valkey",
        "kafka",
        "tempo",
        "loki",
        "mimir",
        "grafana",
        "otel-collector",
        "alloy",
        "pyroscope",
    ] {
        assert!(
            services.contains_key(name),
            "compose.yaml has no service {name}"
        );
    }
    let profile = |s: &str| yaml_strings(services[s].get("profiles"));
    assert_eq!(profile("otel-collector"), ["otelcol"]);
    assert_eq!(profile("alloy"), ["alloy"]);
    assert_eq!(profile("pyroscope"), ["pyroscope"]);
    // The service's defaults (README): postgres://postgres:postgres@127.0.0.1:5432, Kafka on 127.0.0.1:9092.
    let pg = compose::environment(services["postgres"]);
    assert_eq!(
        (
            pg["POSTGRES_USER"].as_str(),
            pg["POSTGRES_PASSWORD"].as_str()
        ),
        ("postgres", "postgres")
    );
    let kafka = compose::environment(services["kafka"]);
    assert!(
        kafka["KAFKA_ADVERTISED_LISTENERS"].contains("PLAINTEXT_HOST://127.0.0.1:9092"),
        "{kafka:?}"
    );
}

#[test]
fn collector_pipelines_resolve_and_receivers_bind_all_interfaces() {
    let doc = read_yaml(&path("otel-collector.yaml")).unwrap();
    assert_none("collector pipelines", collector::check_pipelines(&doc));
    assert_none(
        "collector component types",
        collector::check_component_types(&doc),
    );
    assert_none(
        "collector receivers",
        collector::check_receivers_bind_all(
            "otel-collector.yaml receivers.otlp",
            yaml_get(&doc, &["receivers", "otlp"]),
        ),
    );
}

#[test]
fn collector_exporters_point_at_compose_services() {
    let doc = read_yaml(&path("otel-collector.yaml")).unwrap();
    let listeners = listeners();
    let eps = collector::exporter_endpoints(&doc);
    assert!(
        eps.len() >= 3,
        "expected exporters to Tempo, Mimir and Loki: {eps:?}"
    );
    let problems = eps
        .iter()
        .filter_map(|(id, ep)| {
            endpoints::check(
                &format!("otel-collector.yaml exporters.{id}"),
                ep,
                &listeners,
            )
        })
        .collect();
    assert_none("collector exporter endpoints", problems);
    let hosts: BTreeSet<String> = eps
        .iter()
        .filter_map(|(_, ep)| endpoints::host_port(ep).map(|(h, _)| h))
        .collect();
    assert_eq!(
        hosts,
        BTreeSet::from(["tempo".into(), "mimir".into(), "loki".into()])
    );
}

#[test]
fn alloy_config_references_and_endpoints_resolve() {
    let stmts = alloy::parse(&read_text(&path("config.alloy")).unwrap()).unwrap();
    assert_none("Alloy references", alloy::check_references(&stmts));
    let (problems, hosts) = alloy::check_endpoints(&stmts, &listeners());
    assert_none("Alloy endpoints", problems);
    assert_eq!(
        hosts,
        BTreeSet::from(["tempo".into(), "mimir".into(), "loki".into()])
    );
}

#[test]
fn collector_and_alloy_publish_the_same_otlp_ports() {
    let doc = compose_doc();
    let services = compose::services(&doc);
    let ports = |s: &str| -> BTreeSet<(Option<u16>, Option<u16>)> {
        compose::published(services[s])
            .into_iter()
            .filter(|p| matches!(p.container_port, Some(4317 | 4318)))
            .map(|p| (p.host_port, p.container_port))
            .collect()
    };
    let otlp = BTreeSet::from([(Some(4317), Some(4317)), (Some(4318), Some(4318))]);
    assert_eq!(ports("otel-collector"), otlp);
    assert_eq!(ports("alloy"), otlp);
}

#[test]
fn tempo_config_matches_compose_and_enables_the_generator() {
    let doc = read_yaml(&path("tempo.yaml")).unwrap();
    assert_none("Tempo", backends::check_tempo(&doc, &listeners()));
}

#[test]
fn loki_and_mimir_listen_where_compose_says() {
    let listeners = listeners();
    assert_none(
        "Loki",
        backends::check_loki(&read_yaml(&path("loki.yaml")).unwrap(), &listeners),
    );
    assert_none(
        "Mimir",
        backends::check_mimir(&read_yaml(&path("mimir.yaml")).unwrap(), &listeners),
    );
}

fn datasources_doc() -> Value {
    read_yaml(&path("grafana/provisioning/datasources/datasources.yaml")).unwrap()
}

#[test]
fn grafana_datasources_resolve() {
    let doc = datasources_doc();
    assert_none("datasources", grafana::check_datasources(&doc));
    let types = grafana::datasource_types(&doc);
    for (uid, kind) in [
        ("mimir", "prometheus"),
        ("loki", "loki"),
        ("tempo", "tempo"),
        ("pyroscope", "grafana-pyroscope-datasource"),
    ] {
        assert_eq!(
            types.get(uid).map(String::as_str),
            Some(kind),
            "datasource uid {uid}"
        );
    }
    let listeners = listeners();
    let problems = grafana::datasource_urls(&doc)
        .iter()
        .filter_map(|(name, url)| endpoints::check(&format!("datasource {name}"), url, &listeners))
        .collect();
    assert_none("datasource URLs", problems);
}

#[test]
fn grafana_correlations_are_configured() {
    let tempo = read_yaml(&path("tempo.yaml")).unwrap();
    let label = yaml_get(
        &tempo,
        &[
            "overrides",
            "defaults",
            "metrics_generator",
            "trace_id_label_name",
        ],
    )
    .and_then(Value::as_str)
    .unwrap_or("traceID"); // Tempo's default
    assert_none(
        "correlations",
        grafana::check_correlations(&datasources_doc(), label),
    );
}

#[test]
fn grafana_provisioning_escapes_dollars() {
    let mut files = Vec::new();
    files_under(&path("grafana/provisioning"), &mut files);
    let mut problems = Vec::new();
    for f in files {
        for p in grafana::check_dollar_escaping(&read_text(&f).unwrap()) {
            problems.push(format!("{}: {p}", f.display()));
        }
    }
    assert_none("$ escaping", problems);
}

#[test]
fn grafana_anonymous_access_is_at_most_editor() {
    let doc = compose_doc();
    let env = env();
    let grafana_env: BTreeMap<String, String> =
        compose::environment(compose::services(&doc)["grafana"])
            .into_iter()
            .map(|(k, v)| (k, compose::substitute(&v, &env)))
            .collect();
    assert_none(
        "anonymous access",
        grafana::check_anonymous_role(&grafana_env),
    );
    assert!(
        grafana_env
            .get("GF_SECURITY_ADMIN_PASSWORD")
            .is_some_and(|p| !p.is_empty()),
        "admin password from docker/.env"
    );
}

fn dashboards() -> Vec<(String, serde_json::Value)> {
    let dir = path("grafana/dashboards");
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                read_json(&p).unwrap(),
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn dashboards_use_provisioned_datasources() {
    let uids = grafana::datasource_types(&datasources_doc());
    let all = dashboards();
    assert!(
        all.len() >= 3,
        "expected the overview, service-graph and errors dashboards"
    );
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for (file, d) in &all {
        problems.extend(
            grafana::check_dashboard(d, &uids)
                .into_iter()
                .map(|p| format!("{file}: {p}")),
        );
        let uid = d
            .get("uid")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("")
            .to_owned();
        if !seen.insert(uid.clone()) {
            problems.push(format!("{file}: dashboard uid {uid:?} is used twice"));
        }
    }
    assert_none("dashboards", problems);
}

#[test]
fn dashboards_query_only_known_metrics() {
    let uids = grafana::datasource_types(&datasources_doc());
    let known = grafana::parse_known_metrics(&read_text(&path("known-metrics.txt")).unwrap());
    assert!(known.contains("traces_spanmetrics_calls_total"));
    let mut problems = Vec::new();
    let mut promql = 0;
    for (file, d) in dashboards() {
        promql += grafana::queries(&d)
            .iter()
            .filter(|q| q.expr.is_some() && q.uid.as_deref() == Some("mimir"))
            .count();
        problems.extend(
            grafana::check_metric_names(&d, &uids, &known)
                .into_iter()
                .map(|p| format!("{file}: {p}")),
        );
    }
    assert_none("dashboard metric names", problems);
    assert!(
        promql >= 10,
        "expected the dashboards to have PromQL queries, found {promql}"
    );
}

fn known_metrics_text() -> String {
    read_text(&path("known-metrics.txt")).unwrap()
}

fn mimir_doc() -> Value {
    read_yaml(&path("mimir.yaml")).unwrap()
}

/// The labels of every known metric: known-metrics.txt's own, plus those each source adds to
/// every series (Mimir's job, instance and promoted resource attributes; target_info's job,
/// instance and identifying attributes; Tempo's external labels and dimensions), with these
/// configs.
fn known_labels_with(mimir: &Value, tempo: &Value) -> grafana::KnownLabels {
    let mut known = grafana::parse_known_labels(&known_metrics_text());
    resources::add_source_labels(&mut known, mimir, tempo).unwrap();
    known
}

fn known_labels() -> grafana::KnownLabels {
    known_labels_with(&mimir_doc(), &tempo_doc())
}

#[test]
fn known_metrics_list_the_app_metrics_with_their_labels() {
    let known = known_labels();
    // The step-4 contract's names as Mimir gives them, a few of each kind.
    for name in [
        "http_server_request_duration_seconds_bucket",
        "http_server_request_duration_seconds_count",
        "db_client_operation_duration_seconds_bucket",
        "messaging_client_sent_messages_total",
        "users_created_total",
        "process_memory_usage_bytes",
        "tokio_runtime_alive_tasks",
        "target_info",
    ] {
        assert!(
            known.contains_key(name),
            "{name} is not in known-metrics.txt"
        );
    }
    let labels = known["http_server_request_duration_seconds_bucket"]
        .as_ref()
        .unwrap();
    for label in ["le", "http_route", "service_name", "job"] {
        assert!(labels.contains(label), "{label}: {labels:?}");
    }
    // The span metrics say `service`, the app metrics `service_name`.
    let span = known["traces_spanmetrics_calls_total"].as_ref().unwrap();
    assert!(span.contains("service") && !span.contains("service_name"));
    assert!(!labels.contains("service"));
    // Step 6's resource: the same two labels on the app metrics (promoted by Mimir) and on
    // the span metrics (Tempo's dimensions).
    for label in ["service_namespace", "deployment_environment_name"] {
        assert!(labels.contains(label) && span.contains(label), "{label}");
    }
    let info = known["target_info"]
        .as_ref()
        .expect("target_info's labels are listed");
    for label in [
        "job",
        "instance",
        "service_name",
        "service_namespace",
        "host_name",
    ] {
        assert!(info.contains(label), "target_info: {label}: {info:?}");
    }
}

#[test]
fn target_info_labels_follow_mimir_yaml() {
    // known-metrics.txt lists target_info's own labels (not `*`), without those mimir.yaml
    // decides.
    let raw = grafana::parse_known_labels(&known_metrics_text());
    assert_none("target_info line", resources::check_target_info_line(&raw));
    let mimir = mimir_doc();
    assert!(
        resources::keeps_identifying_attributes(&mimir),
        "mimir.yaml: otel_keep_identifying_resource_attributes: true (the dashboards' $namespace and e2e.sh read target_info's service_namespace)"
    );
    // Not vacuous: without keep-identifying, target_info has no service_namespace, and the
    // e2e check and the application dashboard's resource table fail on it.
    let mut plain = mimir.clone();
    plain["limits"]
        .as_mapping_mut()
        .unwrap()
        .remove("otel_keep_identifying_resource_attributes")
        .expect("mimir.yaml sets otel_keep_identifying_resource_attributes");
    let without = known_labels_with(&plain, &tempo_doc());
    assert!(
        !without["target_info"]
            .as_ref()
            .unwrap()
            .contains("service_namespace")
    );
    let e2e = read_text(&path("scripts/e2e.sh")).unwrap();
    let target_info_queries: Vec<String> = mimir_queries_in(&e2e)
        .into_iter()
        .filter(|q| q.starts_with("target_info{"))
        .collect();
    assert!(
        !target_info_queries.is_empty(),
        "expected e2e.sh to query target_info"
    );
    let problems = script_label_problems("e2e.sh", &target_info_queries, &without);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("\"target_info\" has no label \"service_namespace\"")),
        "{problems:#?}"
    );
    let uids = grafana::datasource_types(&datasources_doc());
    let (_, app) = dashboards()
        .into_iter()
        .find(|(f, _)| f == "application.json")
        .unwrap();
    assert!(
        grafana::check_label_names(&app, &uids, &without)
            .iter()
            .any(|p| p.contains("target_info has no label \"service_namespace\"")),
        "the application dashboard's target_info queries should need service_namespace"
    );
}

#[test]
fn resource_attributes_reach_loki_under_the_same_names() {
    // One Resource goes to Mimir (target_info's labels) and to Loki (labels or structured
    // metadata): known-metrics.txt and known-log-fields.txt must name its attributes alike.
    let raw = grafana::parse_known_labels(&known_metrics_text());
    let logs = known_log_fields();
    assert_none(
        "resource attributes in Loki",
        resources::check_resource_in_logs(&raw, &logs),
    );
    // Step 6's attributes are structured metadata, its namespace and environment labels.
    for m in [
        "service_instance_id",
        "service_version",
        "host_name",
        "process_pid",
    ] {
        assert!(
            logs.metadata.contains(m),
            "{m} is not structured metadata in known-log-fields.txt"
        );
    }
    for l in ["service_namespace", "deployment_environment_name"] {
        assert!(
            logs.labels.contains(l),
            "{l} is not a label in known-log-fields.txt"
        );
    }
    // Not vacuous: a typo in known-log-fields.txt fails.
    let typo = logql::parse_known_log_fields(
        &read_text(&path("known-log-fields.txt"))
            .unwrap()
            .replace("host_name ", "host_nme "),
    )
    .unwrap();
    let problems = resources::check_resource_in_logs(&raw, &typo);
    assert!(
        problems.len() == 1 && problems[0].contains("\"host_name\""),
        "{problems:#?}"
    );
}

/// The resource variables every dashboard has.
const RESOURCE_VARIABLES: &[&str] = &["namespace", "environment"];

fn optional_labels() -> BTreeSet<String> {
    resources::optional_labels(&mimir_doc(), &loki_doc(), &tempo_doc()).unwrap()
}

#[test]
fn dashboards_have_namespace_and_environment_variables_that_keep_all_series() {
    let uids = grafana::datasource_types(&datasources_doc());
    let optional = optional_labels();
    for l in [
        "service_namespace",
        "deployment_environment_name",
        "instance",
    ] {
        assert!(optional.contains(l), "{l}: {optional:?}");
    }
    assert!(!optional.contains("service_name"));
    let mut problems = Vec::new();
    for (file, d) in dashboards() {
        let vars = d["templating"]["list"].as_array().unwrap();
        for name in RESOURCE_VARIABLES {
            match vars.iter().find(|v| v["name"] == *name) {
                None => problems.push(format!("{file}: no ${name} variable")),
                Some(v) => {
                    if v["type"] != "query" || v["includeAll"] != true || v["allValue"] != ".*" {
                        problems.push(format!(
                            "{file}: ${name} must be a query variable with includeAll and allValue \".*\""
                        ));
                    }
                    // Its values come from Mimir, from a label the stack makes.
                    let q = v["query"]["query"].as_str().unwrap_or("");
                    if !q.starts_with("label_values(") {
                        problems.push(format!("{file}: ${name}: {q:?} is not label_values(…)"));
                    }
                }
            }
        }
        let used = grafana::queries(&d)
            .iter()
            .filter(|q| !q.templating)
            .filter_map(|q| q.expr.as_deref())
            .filter(|e| {
                RESOURCE_VARIABLES
                    .iter()
                    .all(|v| e.contains(&format!("${v}")))
            })
            .count();
        if used == 0 {
            problems.push(format!(
                "{file}: no panel query filters on $namespace and $environment"
            ));
        }
        problems.extend(
            grafana::check_variable_references(&d)
                .into_iter()
                .chain(grafana::check_optional_label_filters(&d, &uids, &optional))
                .map(|p| format!("{file}: {p}")),
        );
    }
    assert_none("resource variables", problems);
}

#[test]
fn a_typo_in_a_variable_or_its_all_value_fails_the_checks() {
    let uids = grafana::datasource_types(&datasources_doc());
    let optional = optional_labels();
    for (file, d) in dashboards() {
        let text = serde_json::to_string(&d).unwrap();
        // A panel query that says $namspace.
        let typo: serde_json::Value =
            serde_json::from_str(&text.replacen("=~\\\"$namespace\\\"", "=~\\\"$namspace\\\"", 1))
                .unwrap();
        let problems = grafana::check_variable_references(&typo);
        assert!(
            problems
                .iter()
                .any(|p| p.contains("$namspace is not a variable")),
            "{file}: {problems:#?}"
        );
        // $environment's All as .+: every filter on deployment_environment_name would hide
        // the series of steps 2-5.
        let mut plus = d.clone();
        for v in plus["templating"]["list"].as_array_mut().unwrap() {
            if v["name"] == "environment" {
                v["allValue"] = serde_json::json!(".+");
            }
        }
        let problems = grafana::check_optional_label_filters(&plus, &uids, &optional);
        assert!(
            !problems.is_empty()
                && problems
                    .iter()
                    .all(|p| p.contains("deployment_environment_name=~\"$environment\"")),
            "{file}: {problems:#?}"
        );
    }
}

#[test]
fn span_metrics_dimensions_give_the_labels_the_dashboards_filter_on() {
    // The span-metrics dashboards filter on service_namespace and deployment_environment_name,
    // which only tempo.yaml's dimensions make.
    let uids = grafana::datasource_types(&datasources_doc());
    let span = tempo::dimension_labels(&tempo_doc(), tempo::Processor::SpanMetrics).unwrap();
    let graph = tempo::dimension_labels(&tempo_doc(), tempo::Processor::ServiceGraphs).unwrap();
    for l in ["service_namespace", "deployment_environment_name"] {
        assert!(
            span.contains(l) && graph.contains(l),
            "{l}: {span:?} {graph:?}"
        );
    }
    let mut bare = tempo_doc();
    for key in ["span_metrics", "service_graphs"] {
        [
            "overrides",
            "defaults",
            "metrics_generator",
            "processor",
            key,
        ]
        .iter()
        .try_fold(&mut bare, |v, k| v.get_mut(*k))
        .and_then(Value::as_mapping_mut)
        .expect("tempo.yaml has the processor's overrides")
        .remove("dimensions")
        .expect("tempo.yaml sets dimensions");
    }
    let without = known_labels_with(&mimir_doc(), &bare);
    // One letter off in tempo.yaml: the label is then service_namspace.
    let typo: Value = serde_yaml_ng::from_str(&read_text(&path("tempo.yaml")).unwrap().replace(
        "dimensions: [service.namespace,",
        "dimensions: [service.namspace,",
    ))
    .unwrap();
    assert!(
        tempo::dimension_labels(&typo, tempo::Processor::SpanMetrics)
            .unwrap()
            .contains("service_namspace")
    );
    let with_typo = known_labels_with(&mimir_doc(), &typo);
    for file in ["service-overview.json", "errors.json", "service-graph.json"] {
        let (_, d) = dashboards().into_iter().find(|(f, _)| f == file).unwrap();
        for known in [&without, &with_typo] {
            let problems = grafana::check_label_names(&d, &uids, known);
            assert!(
                problems
                    .iter()
                    .any(|p| p.contains("has no label \"service_namespace\"")),
                "{file}: {problems:#?}"
            );
        }
    }
}

#[test]
fn dashboards_use_only_labels_their_metrics_have() {
    let uids = grafana::datasource_types(&datasources_doc());
    let known = known_labels();
    let mut problems = Vec::new();
    for (file, d) in dashboards() {
        problems.extend(
            grafana::check_label_names(&d, &uids, &known)
                .into_iter()
                .map(|p| format!("{file}: {p}")),
        );
    }
    assert_none("dashboard label names", problems);
    // Not vacuous: the app dashboard filtered on the span metrics' label fails.
    let (_, app) = dashboards()
        .into_iter()
        .find(|(f, _)| f == "application.json")
        .expect("docker/grafana/dashboards/application.json");
    let wrong: serde_json::Value = serde_json::from_str(
        &serde_json::to_string(&app)
            .unwrap()
            .replace("service_name=~", "service=~"),
    )
    .unwrap();
    let problems = grafana::check_label_names(&wrong, &uids, &known);
    assert!(
        problems.len() >= 20 && problems[0].contains("has no label \"service\""),
        "{problems:#?}"
    );
}

#[test]
fn a_typo_in_an_app_metric_name_fails_the_check() {
    // The real list and the real dashboard: one letter off, and the check names it.
    let uids = grafana::datasource_types(&datasources_doc());
    let known = grafana::parse_known_metrics(&known_metrics_text());
    let (_, app) = dashboards()
        .into_iter()
        .find(|(f, _)| f == "application.json")
        .expect("docker/grafana/dashboards/application.json");
    assert_none(
        "application.json",
        grafana::check_metric_names(&app, &uids, &known),
    );
    let text = serde_json::to_string(&app).unwrap();
    let typo = "http_server_request_duration_second_bucket";
    let bad: serde_json::Value = serde_json::from_str(&text.replacen(
        "http_server_request_duration_seconds_bucket",
        typo,
        1,
    ))
    .unwrap();
    let problems = grafana::check_metric_names(&bad, &uids, &known);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(
        problems[0].contains(&format!(
            "metric \"{typo}\" is not in docker/known-metrics.txt"
        )),
        "{problems:?}"
    );
}

/// The SDK's default metric export interval (OTEL_METRIC_EXPORT_INTERVAL = 60000 ms): the
/// longest the dashboards must work with.
const SDK_EXPORT_INTERVAL_MS: u64 = 60_000;

#[test]
fn rate_windows_hold_four_exports_of_the_app_metrics() {
    let ds = datasources_doc();
    let uids = grafana::datasource_types(&ds);
    let scrape = grafana::scrape_intervals(&ds);
    let mut problems = Vec::new();
    let mut app_rates = 0;
    for (file, d) in dashboards() {
        problems.extend(
            grafana::check_rate_windows(&d, &uids, &scrape, SDK_EXPORT_INTERVAL_MS)
                .into_iter()
                .map(|p| format!("{file}: {p}")),
        );
        // PromQL only: the Loki panels' rate() is LogQL.
        app_rates += grafana::queries(&d)
            .iter()
            .filter(|q| {
                q.uid
                    .as_deref()
                    .and_then(|u| uids.get(u))
                    .map(String::as_str)
                    == Some("prometheus")
            })
            .filter_map(|q| q.expr.as_deref())
            .filter(|e| {
                stack_check::promql::scan(e).is_ok_and(|s| {
                    !s.ranges.is_empty() && s.names.iter().any(|n| !tempo::is_generator_name(n))
                })
            })
            .count();
    }
    assert_none("rate windows", problems);
    assert!(
        app_rates >= 15,
        "expected the app dashboard's rates and quantiles, found {app_rates}"
    );
    // Not vacuous: with the variable's default at the workshop's 5 s, the same dashboard fails.
    let (_, app) = dashboards()
        .into_iter()
        .find(|(f, _)| f == "application.json")
        .unwrap();
    let mut short = app.clone();
    let var = short["templating"]["list"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|v| v["name"] == "export_interval")
        .expect("an export_interval variable");
    var["current"]["value"] = serde_json::json!("5s");
    assert!(
        grafana::check_rate_windows(&short, &uids, &scrape, SDK_EXPORT_INTERVAL_MS).len()
            >= app_rates
    );
}

/// The PromQL of every `mimir_query '…'` in a script.
fn mimir_queries_in(text: &str) -> Vec<String> {
    text.split("mimir_query '")
        .skip(1)
        .filter_map(|rest| rest.split_once('\'').map(|(q, _)| q.to_owned()))
        .collect()
}

/// The problems of a script's Mimir queries: unreadable, a metric not in known-metrics.txt,
/// a label its metric does not have (`labels`).
fn script_label_problems(
    file: &str,
    queries: &[String],
    labels: &grafana::KnownLabels,
) -> Vec<String> {
    let mut problems = Vec::new();
    for q in queries {
        let scan = match stack_check::promql::scan(q) {
            Ok(s) => s,
            Err(e) => {
                problems.push(format!("{file}: cannot read {q:?}: {e}"));
                continue;
            }
        };
        for n in scan.names.iter().filter(|n| !labels.contains_key(*n)) {
            problems.push(format!(
                "{file}: {q}: metric {n:?} is not in known-metrics.txt"
            ));
        }
        for (metric, used) in &scan.selectors {
            let Some(metric) = metric else { continue };
            let Some(Some(have)) = labels.get(metric) else {
                continue;
            };
            for l in used.iter().filter(|l| !have.contains(*l)) {
                problems.push(format!("{file}: {q}: {metric:?} has no label {l:?}"));
            }
        }
    }
    problems
}

#[test]
fn scripts_query_only_known_metrics_and_labels() {
    let labels = known_labels();
    let mut problems = Vec::new();
    let mut app = 0;
    let mut resource = 0;
    let mut scripts = Vec::new();
    files_under(&path("scripts"), &mut scripts);
    for f in scripts {
        let file = f.file_name().unwrap().to_string_lossy().into_owned();
        let queries = mimir_queries_in(&read_text(&f).unwrap());
        problems.extend(script_label_problems(&file, &queries, &labels));
        for q in &queries {
            let Ok(scan) = stack_check::promql::scan(q) else {
                continue;
            };
            app += scan
                .names
                .iter()
                .filter(|n| !tempo::is_generator_name(n))
                .count();
            resource += usize::from(scan.matchers.iter().any(|m| m.name == "service_namespace"));
        }
    }
    assert_none("metrics the scripts query", problems);
    assert!(app >= 1, "expected e2e.sh to query an app metric in Mimir");
    assert!(
        resource >= 3,
        "expected e2e.sh's step-6 checks on service_namespace (target_info, an app metric, the span metrics)"
    );
    // Not vacuous: one letter off in a label of the step-6 checks fails.
    let typo =
        ["target_info{service_name=\"user-service\", service_namspace=\"workshop\"}".to_owned()];
    let problems = script_label_problems("e2e.sh", &typo, &labels);
    assert!(
        problems.len() == 1 && problems[0].contains("has no label \"service_namspace\""),
        "{problems:#?}"
    );
}

#[test]
fn dashboard_provider_and_home_dashboard_match_the_mounts() {
    let provider = read_yaml(&path("grafana/provisioning/dashboards/dashboards.yaml")).unwrap();
    let doc = compose_doc();
    let grafana = compose::services(&doc)["grafana"];
    assert_none(
        "dashboard mounts",
        grafana::check_dashboard_mounts(&provider, grafana, &path("grafana/dashboards")),
    );
}

fn tempo_doc() -> Value {
    read_yaml(&path("tempo.yaml")).unwrap()
}

#[test]
fn known_metrics_of_tempo_are_ones_tempo_produces() {
    // known-metrics.txt is the list the dashboards are checked against; its Tempo names must
    // be names Tempo's metrics-generator really writes with this tempo.yaml (not every name
    // Tempo's docs list: traces_service_graph_unpaired_spans_total is never written).
    let produced = tempo::produced_names(&tempo_doc()).unwrap();
    let known = grafana::parse_known_metrics(&read_text(&path("known-metrics.txt")).unwrap());
    assert_none(
        "known-metrics.txt",
        tempo::check_generator_names(
            "known-metrics.txt",
            known.iter().map(String::as_str),
            &produced,
        ),
    );
    let from_tempo = known.iter().filter(|n| tempo::is_generator_name(n)).count();
    assert!(
        from_tempo >= 10,
        "expected Tempo's span-metrics and service-graph names in known-metrics.txt, found {from_tempo}"
    );
}

#[test]
fn dashboards_and_scripts_use_only_metrics_tempo_produces() {
    let produced = tempo::produced_names(&tempo_doc()).unwrap();
    let uids = grafana::datasource_types(&datasources_doc());
    let mut problems = Vec::new();
    for (file, d) in dashboards() {
        let names = grafana::metric_names(&d, &uids);
        problems.extend(tempo::check_generator_names(
            &file,
            names.iter().map(String::as_str),
            &produced,
        ));
    }
    let mut scripts = Vec::new();
    files_under(&path("scripts"), &mut scripts);
    let mut found = 0;
    for f in scripts {
        let names = tempo::generator_names_in_text(&read_text(&f).unwrap());
        found += names.len();
        problems.extend(tempo::check_generator_names(
            &format!("scripts/{}", f.file_name().unwrap().to_string_lossy()),
            names.iter().map(String::as_str),
            &produced,
        ));
    }
    assert_none("metrics Tempo does not produce", problems);
    assert!(
        found >= 3,
        "expected the scripts to query Tempo's metrics, found {found} names"
    );
}

fn known_log_fields() -> logql::KnownLogFields {
    logql::parse_known_log_fields(&read_text(&path("known-log-fields.txt")).unwrap()).unwrap()
}

fn loki_doc() -> Value {
    read_yaml(&path("loki.yaml")).unwrap()
}

#[test]
fn known_log_fields_are_what_loki_makes_of_the_records() {
    let known = known_log_fields();
    let loki = loki_doc();
    // The index labels: exactly those loki.yaml's otlp_config makes.
    assert_eq!(
        known.labels,
        backends::loki_otlp_index_labels(&loki).unwrap(),
        "the labels of known-log-fields.txt and loki.yaml's limits_config.otlp_config differ"
    );
    // What Loki itself writes for every OTLP record, and the scope name (the tracing target).
    for field in [
        "trace_id",
        "span_id",
        "severity_text",
        "severity_number",
        "scope_name",
    ] {
        assert!(
            known.metadata.contains(field),
            "{field} is not in known-log-fields.txt"
        );
    }
    assert!(
        !known.metadata.contains("detected_level") || backends::loki_detects_levels(&loki),
        "known-log-fields.txt lists detected_level, but loki.yaml turns discover_log_levels off"
    );
    let both: Vec<_> = known.labels.intersection(&known.metadata).collect();
    assert!(both.is_empty(), "both label and metadata: {both:?}");
    // No OTLP name with a dot: Loki stores service.name as service_name.
    for name in known.labels.iter().chain(&known.metadata) {
        assert_eq!(
            &backends::loki_attribute_name(name),
            name,
            "{name} is not a name Loki stores"
        );
    }
}

#[test]
fn dashboards_query_only_what_loki_stores_for_otlp_logs() {
    let uids = grafana::datasource_types(&datasources_doc());
    let known = known_log_fields();
    let mut problems = Vec::new();
    let mut logql = 0;
    let mut metric = 0;
    for (file, d) in dashboards() {
        for (_, expr) in grafana::logql_queries(&d, &uids) {
            logql += 1;
            metric += usize::from(logql::scan(&expr).is_ok_and(|s| s.metric));
        }
        problems.extend(
            grafana::check_log_queries(&d, &uids, &known)
                .into_iter()
                .map(|p| format!("{file}: {p}")),
        );
    }
    assert_none("dashboard LogQL", problems);
    assert!(
        logql >= 4 && metric >= 1,
        "expected the overview's logs row and the errors dashboard's logs, found {logql} LogQL queries ({metric} metric)"
    );
    // Not vacuous: the overview with the span metrics' label as a stream label, or with
    // severity for severity_text, fails on every Loki query.
    let (_, overview) = dashboards()
        .into_iter()
        .find(|(f, _)| f == "service-overview.json")
        .expect("docker/grafana/dashboards/service-overview.json");
    let text = serde_json::to_string(&overview).unwrap();
    for (from, to, want) in [
        (
            r#"{service_name=~\"$service\""#,
            r#"{service=~\"$service\""#,
            "stream label \"service\" is not one Loki indexes",
        ),
        // One letter off in step 6's namespace label.
        (
            r#"service_namespace=~\"$namespace\", deployment_environment_name=~\"$environment\"} |"#,
            r#"service_namspace=~\"$namespace\", deployment_environment_name=~\"$environment\"} |"#,
            "stream label \"service_namspace\" is not one Loki indexes",
        ),
        // A resource attribute that is structured metadata, not a label, in the selector.
        (
            r#"deployment_environment_name=~\"$environment\"} |"#,
            r#"deployment_environment_name=~\"$environment\", service_instance_id!=\"\"} |"#,
            "\"service_instance_id\" is structured metadata, not an index label",
        ),
        (
            r#"| severity_text=~"#,
            r#"| severity=~"#,
            "field \"severity\" is neither an index label nor structured metadata",
        ),
        (
            "sum by (severity_text)",
            "sum by (level)",
            "groups by \"level\"",
        ),
    ] {
        assert!(text.contains(from), "{from} not in the overview");
        let bad: serde_json::Value = serde_json::from_str(&text.replace(from, to)).unwrap();
        let problems = grafana::check_log_queries(&bad, &uids, &known);
        assert!(
            !problems.is_empty() && problems.iter().any(|p| p.contains(want)),
            "{to}: {problems:#?}"
        );
    }
}

#[test]
fn loki_links_use_what_loki_stores_for_otlp_logs() {
    let doc = datasources_doc();
    let known = known_log_fields();
    assert_none("Loki links", grafana::check_loki_links(&doc, &known));
    // Not vacuous: Tempo's link with the span metrics' label, Loki's with Tempo's field name.
    let text = read_text(&path("grafana/provisioning/datasources/datasources.yaml")).unwrap();
    for (from, to, want) in [
        (
            "value: service_name",
            "value: service",
            "maps to \"service\"",
        ),
        (
            "| trace_id=\"$${__trace.traceId}\"",
            "| traceID=\"$${__trace.traceId}\"",
            "field \"traceID\"",
        ),
        (
            "matcherRegex: trace_id",
            "matcherRegex: traceID",
            "matches \"traceID\"",
        ),
    ] {
        assert!(text.contains(from), "{from} not in datasources.yaml");
        let bad: Value = serde_yaml_ng::from_str(&text.replace(from, to)).unwrap();
        let problems = grafana::check_loki_links(&bad, &known);
        assert!(
            problems.len() == 1 && problems[0].contains(want),
            "{to}: {problems:#?}"
        );
    }
}

/// The LogQL of every `loki_query '…'` (e2e.sh) and `loki_has "…"` (otlp-smoke.sh) in a
/// script, with the shell's `\"` read as `"`.
fn loki_queries_in(text: &str) -> Vec<String> {
    let single = text
        .split("loki_query '")
        .skip(1)
        .filter_map(|rest| rest.split_once('\'').map(|(q, _)| q.to_owned()));
    let double = text.split("loki_has \"").skip(1).filter_map(|rest| {
        let b = rest.as_bytes();
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'\\' => i += 2,
                b'"' => return Some(rest[..i].replace("\\\"", "\"")),
                _ => i += 1,
            }
        }
        None
    });
    single.chain(double).collect()
}

#[test]
fn scripts_query_only_what_loki_stores_for_otlp_logs() {
    let known = known_log_fields();
    let mut problems = Vec::new();
    let mut found = Vec::new();
    let mut scripts = Vec::new();
    files_under(&path("scripts"), &mut scripts);
    for f in scripts {
        let file = f.file_name().unwrap().to_string_lossy().into_owned();
        for q in loki_queries_in(&read_text(&f).unwrap()) {
            problems.extend(
                logql::check(&q, &known, None)
                    .into_iter()
                    .map(|p| format!("{file}: {p}")),
            );
            found.push(q);
        }
    }
    assert_none("LogQL of the scripts", problems);
    assert!(
        found.iter().any(|q| q.contains("| trace_id")) && found.len() >= 3,
        "expected e2e.sh's and otlp-smoke.sh's Loki queries, found {found:?}"
    );
    // Not vacuous: the span metrics' label, or Tempo's spelling of the trace id, fails.
    for bad in [
        r#"{service="user-service"}"#,
        r#"{service_name="user-service"} | traceID != """#,
    ] {
        assert_eq!(logql::check(bad, &known, None).len(), 1, "{bad}");
    }
    assert_eq!(
        loki_queries_in("loki_query '{a=\"b\"}' 5\nloki_has \"{a=\\\"$x\\\"} | b=\\\"c\\\"\""),
        ["{a=\"b\"}", "{a=\"$x\"} | b=\"c\""]
    );
}

#[test]
fn latency_panels_over_tempo_histograms_have_fine_buckets() {
    let tempo = tempo_doc();
    let uids = grafana::datasource_types(&datasources_doc());
    let mut problems = Vec::new();
    for (file, d) in dashboards() {
        problems.extend(
            grafana::check_latency_buckets(&d, &uids, &tempo)
                .into_iter()
                .map(|p| format!("{file}: {p}")),
        );
    }
    assert_none("latency panels", problems);
    // Not vacuous: with Tempo's default service-graph buckets, the same dashboards fail.
    let mut default = tempo.clone();
    let service_graphs = [
        "overrides",
        "defaults",
        "metrics_generator",
        "processor",
        "service_graphs",
    ]
    .iter()
    .try_fold(&mut default, |v, k| v.get_mut(*k))
    .and_then(Value::as_mapping_mut)
    .expect("tempo.yaml has overrides.defaults.metrics_generator.processor.service_graphs");
    assert!(service_graphs.remove("histogram_buckets").is_some());
    let with_defaults: usize = dashboards()
        .iter()
        .map(|(_, d)| grafana::check_latency_buckets(d, &uids, &default).len())
        .sum();
    assert!(
        with_defaults >= 2,
        "expected the service-graph p95 panels to fail with Tempo's default buckets"
    );
}

#[test]
fn collector_and_alloy_name_the_service_graph_peers_alike() {
    let collector_doc = read_yaml(&path("otel-collector.yaml")).unwrap();
    assert_none("collector", service_graph::check_collector(&collector_doc));
    let stmts = alloy::parse(&read_text(&path("config.alloy")).unwrap()).unwrap();
    assert_none("Alloy", service_graph::check_alloy(&stmts));
    assert_eq!(
        service_graph::collector_statements(&collector_doc),
        service_graph::alloy_statements(&stmts),
        "otel-collector.yaml and config.alloy must name the peers with the same OTTL statements"
    );
    assert_none("Tempo", service_graph::check_peer_attributes(&tempo_doc()));
}
