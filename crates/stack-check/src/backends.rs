//! Checks of the backends' own configs against compose and against the config-format breaks
//! of Tempo 3, Loki 3 and Mimir: where they listen, the metrics-generator, the schema.

use std::collections::{BTreeMap, BTreeSet};

use serde_yaml_ng::Value;

use crate::{collector, endpoints, yaml_get, yaml_keys, yaml_strings};

type Listeners = BTreeMap<String, BTreeSet<u16>>;

fn http_port_listed(
    file: &str,
    service: &str,
    doc: &Value,
    listeners: &Listeners,
) -> Option<String> {
    let port = yaml_get(doc, &["server", "http_listen_port"]).and_then(Value::as_u64);
    let listed = listeners.get(service);
    match (port, listed) {
        (Some(p), Some(ports)) if u16::try_from(p).is_ok_and(|p| ports.contains(&p)) => None,
        _ => Some(format!(
            "{file}: server.http_listen_port {port:?} is not among the ports compose lists for {service} ({listed:?})"
        )),
    }
}

/// Tempo 3: receivers on 0.0.0.0 and on ports compose lists; the HTTP port; remote write to
/// a compose service's `/api/v1/push` with exemplars; the span-metrics and service-graphs
/// processors enabled in `overrides.defaults`; none of the blocks Tempo 3 removed.
pub fn check_tempo(doc: &Value, listeners: &Listeners) -> Vec<String> {
    let receiver = yaml_get(doc, &["distributor", "receivers", "otlp"]);
    let mut problems =
        collector::check_receivers_bind_all("tempo.yaml distributor.receivers.otlp", receiver);
    let tempo_ports = listeners.get("tempo").cloned().unwrap_or_default();
    for (proto, ep) in collector::otlp_receiver_endpoints(receiver) {
        if let Some((_, port)) = endpoints::host_port(&ep)
            && !tempo_ports.contains(&port)
        {
            problems.push(format!(
                "tempo.yaml: the {proto} receiver's port {port} is not among the ports compose lists for tempo"
            ));
        }
    }
    problems.extend(http_port_listed("tempo.yaml", "tempo", doc, listeners));

    let remote_writes = yaml_get(doc, &["metrics_generator", "storage", "remote_write"])
        .and_then(Value::as_sequence)
        .cloned()
        .unwrap_or_default();
    if remote_writes.is_empty() {
        problems.push(
            "tempo.yaml: metrics_generator.storage.remote_write is empty: span metrics go nowhere"
                .into(),
        );
    }
    for rw in &remote_writes {
        let url = rw.get("url").and_then(Value::as_str).unwrap_or("");
        problems.extend(endpoints::check(
            "tempo.yaml metrics_generator remote_write",
            url,
            listeners,
        ));
        if !url.ends_with("/api/v1/push") {
            problems.push(format!(
                "tempo.yaml: remote_write url {url:?} is not Mimir's /api/v1/push"
            ));
        }
        if rw.get("send_exemplars").and_then(Value::as_bool) != Some(true) {
            problems.push(
                "tempo.yaml: remote_write without send_exemplars: true (no metric → trace links)"
                    .into(),
            );
        }
    }

    for key in yaml_keys(doc.get("overrides")) {
        let known = [
            "defaults",
            "per_tenant_override_config",
            "per_tenant_override_period",
            "user_configurable_overrides",
        ];
        if !known.contains(&key.as_str()) {
            problems.push(format!(
                "tempo.yaml: overrides.{key} is the legacy flat format, refused by Tempo 3"
            ));
        }
    }
    let processors = yaml_strings(yaml_get(
        doc,
        &["overrides", "defaults", "metrics_generator", "processors"],
    ));
    for p in ["service-graphs", "span-metrics"] {
        if !processors.iter().any(|x| x == p) {
            problems.push(format!("tempo.yaml: processor {p} is not enabled (overrides.defaults.metrics_generator.processors)"));
        }
    }
    if processors.iter().any(|x| x == "local-blocks") {
        problems.push("tempo.yaml: the local-blocks processor was removed in Tempo 3".into());
    }
    for removed in [
        "ingester",
        "compactor",
        "ingester_client",
        "metrics_generator_client",
    ] {
        if doc.get(removed).is_some() {
            problems.push(format!(
                "tempo.yaml: the {removed} block was removed in Tempo 3"
            ));
        }
    }
    problems
}

/// Loki: the HTTP port compose lists, and a tsdb/v13 schema (structured metadata, hence
/// OTLP ingestion, needs it).
pub fn check_loki(doc: &Value, listeners: &Listeners) -> Vec<String> {
    let mut problems: Vec<String> = http_port_listed("loki.yaml", "loki", doc, listeners)
        .into_iter()
        .collect();
    let schemas = yaml_get(doc, &["schema_config", "configs"]).and_then(Value::as_sequence);
    let last = schemas.and_then(|s| s.last());
    let field = |k: &str| last.and_then(|s| s.get(k)).and_then(Value::as_str);
    if field("store") != Some("tsdb") || field("schema") != Some("v13") {
        problems.push("loki.yaml: OTLP logs (structured metadata) need the newest schema to be store tsdb, schema v13".into());
    }
    if yaml_get(doc, &["limits_config", "allow_structured_metadata"]).and_then(Value::as_bool)
        == Some(false)
    {
        problems
            .push("loki.yaml: allow_structured_metadata: false makes Loki refuse OTLP logs".into());
    }
    problems
}

/// Mimir: the HTTP port compose lists, and exemplars enabled (they are off by default).
pub fn check_mimir(doc: &Value, listeners: &Listeners) -> Vec<String> {
    let mut problems: Vec<String> = http_port_listed("mimir.yaml", "mimir", doc, listeners)
        .into_iter()
        .collect();
    let exemplars =
        yaml_get(doc, &["limits", "max_global_exemplars_per_user"]).and_then(Value::as_u64);
    if exemplars.is_none_or(|n| n == 0) {
        problems.push("mimir.yaml: limits.max_global_exemplars_per_user must be > 0 (exemplars are off by default)".into());
    }
    problems
}

/// The labels Mimir's OTLP endpoint gives every series of an app metric, besides the
/// metric's own attributes: `job` (`service.namespace/service.name`, or `service.name`),
/// `instance` (`service.instance.id`) and each resource attribute of
/// `limits.promote_otel_resource_attributes` (a CSV string), dots turned into underscores
/// (`service.name` -> `service_name`). Mimir's translation: `createAttributes` in
/// mimir-prometheus `storage/remote/otlptranslator/prometheusremotewrite/helper.go`.
pub fn otlp_series_labels(mimir: &Value) -> BTreeSet<String> {
    let promoted = yaml_get(mimir, &["limits", "promote_otel_resource_attributes"])
        .and_then(Value::as_str)
        .unwrap_or("");
    ["job", "instance"]
        .into_iter()
        .map(str::to_owned)
        .chain(
            promoted
                .split(',')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(|a| {
                    a.chars()
                        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                        .collect()
                }),
        )
        .collect()
}

/// Loki 3.7's default index labels for OTLP logs: the resource attributes in
/// `distributor.otlp_config.default_resource_attributes_as_index_labels`
/// (`pkg/loghttp/push/otlp_config.go`, `GlobalOTLPConfig.RegisterFlags`, at v3.7.6).
pub const LOKI_DEFAULT_OTLP_INDEX_LABELS: &[&str] = &[
    "service.name",
    "service.namespace",
    "service.instance.id",
    "deployment.environment",
    "deployment.environment.name",
    "cloud.region",
    "cloud.availability_zone",
    "k8s.cluster.name",
    "k8s.namespace.name",
    "k8s.pod.name",
    "k8s.container.name",
    "container.name",
    "k8s.replicaset.name",
    "k8s.deployment.name",
    "k8s.statefulset.name",
    "k8s.daemonset.name",
    "k8s.cronjob.name",
    "k8s.job.name",
];

/// An OTLP attribute name as Loki stores it (`otlptranslator.LabelNamer`): every character
/// that is not a letter, a digit or `_` becomes `_`, runs of `_` become one, and a leading
/// digit gets `key_`. `service.name` → `service_name`.
pub fn loki_attribute_name(attr: &str) -> String {
    let mut out = String::with_capacity(attr.len());
    for c in attr.chars() {
        let c = if c.is_ascii_alphanumeric() { c } else { '_' };
        if !(c == '_' && out.ends_with('_')) {
            out.push(c);
        }
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "key_");
    }
    out
}

fn index_label_attributes(list: Option<&Value>, out: &mut Vec<String>) -> Result<(), String> {
    for rule in list.and_then(Value::as_sequence).into_iter().flatten() {
        // An action left out is structured_metadata (AttributesConfig.UnmarshalYAML).
        if rule.get("action").and_then(Value::as_str) != Some("index_label") {
            continue;
        }
        if rule.get("regex").is_some() {
            return Err(
                "loki.yaml: an index_label rule with a regex: list the attributes, so that the labels can be checked"
                    .to_owned(),
            );
        }
        out.extend(yaml_strings(rule.get("attributes")));
    }
    Ok(())
}

/// The index (stream) labels Loki makes of OTLP logs with this `loki.yaml`
/// (`limits_config.otlp_config`, read as `pkg/loghttp/push/otlp.go` does at v3.7.6): the
/// default resource attributes unless `resource_attributes.ignore_defaults`, the resource
/// and log attributes with `action: index_label`, `severity_text` with
/// `severity_text_as_label`; named as [`loki_attribute_name`] says. `service_name` is always
/// one: Loki sets it to `unknown_service` when a stream has none (`discover_service_name`).
/// The first rule naming an attribute wins, as in Loki, but an attribute named by any
/// `index_label` rule is counted.
pub fn loki_otlp_index_labels(loki: &Value) -> Result<BTreeSet<String>, String> {
    let otlp = yaml_get(loki, &["limits_config", "otlp_config"]);
    let get = |path: &[&str]| otlp.and_then(|o| yaml_get(o, path));
    let mut attrs = Vec::new();
    if get(&["resource_attributes", "ignore_defaults"]).and_then(Value::as_bool) != Some(true) {
        attrs.extend(
            LOKI_DEFAULT_OTLP_INDEX_LABELS
                .iter()
                .map(|a| (*a).to_owned()),
        );
    }
    index_label_attributes(
        get(&["resource_attributes", "attributes_config"]),
        &mut attrs,
    )?;
    index_label_attributes(get(&["log_attributes"]), &mut attrs)?;
    let mut labels: BTreeSet<String> = attrs.iter().map(|a| loki_attribute_name(a)).collect();
    labels.insert("service_name".to_owned());
    if get(&["severity_text_as_label"]).and_then(Value::as_bool) == Some(true) {
        labels.insert("severity_text".to_owned());
    }
    Ok(labels)
}

/// Whether Loki adds `detected_level` to each record's structured metadata
/// (`limits_config.discover_log_levels`, on by default since 3.0; for OTLP records it comes
/// from `severity_text`, else `severity_number`: `pkg/distributor/field_detection.go`).
pub fn loki_detects_levels(loki: &Value) -> bool {
    yaml_get(loki, &["limits_config", "discover_log_levels"]).and_then(Value::as_bool)
        != Some(false)
        && yaml_get(loki, &["limits_config", "allow_structured_metadata"]).and_then(Value::as_bool)
            != Some(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(s: &str) -> Value {
        serde_yaml_ng::from_str(s).unwrap()
    }

    fn listeners() -> Listeners {
        BTreeMap::from([
            ("tempo".to_owned(), BTreeSet::from([3200, 4317, 4318])),
            ("mimir".to_owned(), BTreeSet::from([9009])),
            ("loki".to_owned(), BTreeSet::from([3100])),
        ])
    }

    const TEMPO: &str = "
server: {http_listen_port: 3200}
distributor: {receivers: {otlp: {protocols: {grpc: {endpoint: '0.0.0.0:4317'}, http: {endpoint: '0.0.0.0:4318'}}}}}
metrics_generator:
  storage: {remote_write: [{url: 'http://mimir:9009/api/v1/push', send_exemplars: true}]}
overrides: {defaults: {metrics_generator: {processors: [service-graphs, span-metrics]}}}
";

    #[test]
    fn good_tempo_passes() {
        assert_eq!(check_tempo(&doc(TEMPO), &listeners()), Vec::<String>::new());
    }

    #[test]
    fn broken_tempo_fails() {
        let bad = TEMPO
            .replace("'0.0.0.0:4318'", "'localhost:4418'")
            .replace("http_listen_port: 3200", "http_listen_port: 80")
            .replace("mimir:9009/api/v1/push', send_exemplars: true", "prometheus:9090/api/v1/write'")
            .replace(
                "overrides: {defaults: {metrics_generator: {processors: [service-graphs, span-metrics]}}}",
                "overrides: {metrics_generator_processors: [local-blocks]}\ningester: {}",
            );
        let problems = check_tempo(&doc(&bad), &listeners());
        for want in [
            "must be 0.0.0.0",
            "port 4418",
            "http_listen_port Some(80)",
            "not a compose service",
            "not Mimir's /api/v1/push",
            "send_exemplars",
            "legacy flat format",
            "processor service-graphs is not enabled",
            "processor span-metrics is not enabled",
            "ingester block was removed",
        ] {
            assert!(
                problems.iter().any(|p| p.contains(want)),
                "{want:?} not in {problems:#?}"
            );
        }
    }

    #[test]
    fn broken_loki_fails() {
        let good = doc(
            "server: {http_listen_port: 3100}\nschema_config: {configs: [{store: boltdb-shipper, schema: v11}, {store: tsdb, schema: v13}]}\n",
        );
        assert!(check_loki(&good, &listeners()).is_empty());
        let bad = doc(
            "server: {http_listen_port: 3101}\nschema_config: {configs: [{store: boltdb-shipper, schema: v12}]}\nlimits_config: {allow_structured_metadata: false}\n",
        );
        assert_eq!(check_loki(&bad, &listeners()).len(), 3);
    }

    #[test]
    fn broken_mimir_fails() {
        let good = doc(
            "server: {http_listen_port: 9009}\nlimits: {max_global_exemplars_per_user: 100000}\n",
        );
        assert!(check_mimir(&good, &listeners()).is_empty());
        let bad =
            doc("server: {http_listen_port: 8080}\nlimits: {max_global_exemplars_per_user: 0}\n");
        assert_eq!(check_mimir(&bad, &listeners()).len(), 2);
    }

    #[test]
    fn promoted_resource_attributes_become_labels() {
        let mimir = doc(
            "limits: {promote_otel_resource_attributes: \"service.name, deployment.environment.name\"}",
        );
        let labels: Vec<String> = otlp_series_labels(&mimir).into_iter().collect();
        assert_eq!(
            labels,
            [
                "deployment_environment_name",
                "instance",
                "job",
                "service_name"
            ]
        );
        // Nothing promoted: service.name is only in job (and target_info).
        assert_eq!(otlp_series_labels(&doc("limits: {}")).len(), 2);
    }

    #[test]
    fn loki_otlp_index_labels_follow_otlp_config() {
        assert_eq!(
            loki_attribute_name("deployment.environment.name"),
            "deployment_environment_name"
        );
        assert_eq!(loki_attribute_name("http..route"), "http_route");
        assert_eq!(loki_attribute_name("1x"), "key_1x");
        // No otlp_config: Loki's 18 defaults.
        let defaults = loki_otlp_index_labels(&doc("limits_config: {}")).unwrap();
        assert_eq!(defaults.len(), 18);
        assert!(defaults.contains("k8s_pod_name") && defaults.contains("service_instance_id"));
        let only = doc(
            "limits_config:\n  otlp_config:\n    resource_attributes:\n      ignore_defaults: true\n      attributes_config:\n        - {action: index_label, attributes: [service.name, service.namespace]}\n        - {action: drop, attributes: [process.pid]}\n    severity_text_as_label: true\n",
        );
        let labels: Vec<String> = loki_otlp_index_labels(&only).unwrap().into_iter().collect();
        assert_eq!(
            labels,
            ["service_name", "service_namespace", "severity_text"]
        );
        let regex = doc(
            "limits_config: {otlp_config: {resource_attributes: {attributes_config: [{action: index_label, regex: 'service\\..*'}]}}}",
        );
        assert!(
            loki_otlp_index_labels(&regex)
                .unwrap_err()
                .contains("regex")
        );
        assert!(loki_detects_levels(&doc(
            "limits_config: {allow_structured_metadata: true}"
        )));
        assert!(!loki_detects_levels(&doc(
            "limits_config: {discover_log_levels: false}"
        )));
    }
}
