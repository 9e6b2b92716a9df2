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
}
