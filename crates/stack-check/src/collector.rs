//! Checks of the OpenTelemetry Collector's configuration (`otel-collector.yaml`).

use serde_yaml_ng::Value;

use crate::{yaml_get, yaml_keys, yaml_strings};

/// Every component a pipeline names is defined in its section, every pipeline has a receiver
/// and an exporter, and every extension in `service.extensions` is defined (the collector
/// refuses to start otherwise).
pub fn check_pipelines(doc: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let pipelines = yaml_get(doc, &["service", "pipelines"]).and_then(Value::as_mapping);
    let Some(pipelines) = pipelines.filter(|p| !p.is_empty()) else {
        return vec!["service.pipelines is missing or empty".to_owned()];
    };
    for (name, pipeline) in pipelines {
        let name = name.as_str().unwrap_or("?");
        for (list, section) in [
            ("receivers", "receivers"),
            ("processors", "processors"),
            ("exporters", "exporters"),
        ] {
            let ids = yaml_strings(pipeline.get(list));
            if ids.is_empty() && list != "processors" {
                problems.push(format!("pipeline {name}: no {list}"));
            }
            let defined = yaml_keys(doc.get(section));
            for id in ids {
                if !defined.contains(&id) {
                    problems.push(format!(
                        "pipeline {name}: {list} names {id:?}, which is not defined under {section}"
                    ));
                }
            }
        }
    }
    let defined = yaml_keys(doc.get("extensions"));
    for ext in yaml_strings(yaml_get(doc, &["service", "extensions"])) {
        if !defined.contains(&ext) {
            problems.push(format!(
                "service.extensions names {ext:?}, which is not defined under extensions"
            ));
        }
    }
    problems
}

/// Exporter types that current otelcol-contrib no longer accepts, or renamed.
const REMOVED: &[(&str, &str)] = &[
    (
        "loki",
        "removed in 0.131: use otlp_http to Loki's /otlp endpoint",
    ),
    (
        "otlphttp",
        "renamed to otlp_http in 0.144 (the old name is a deprecated alias)",
    ),
    (
        "otlp",
        "renamed to otlp_grpc in 0.144 (the old name is a deprecated alias)",
    ),
];

/// No exporter uses a removed or renamed component type.
pub fn check_component_types(doc: &Value) -> Vec<String> {
    yaml_keys(doc.get("exporters"))
        .into_iter()
        .filter_map(|id| {
            let kind = id.split('/').next().unwrap_or("").to_owned();
            REMOVED
                .iter()
                .find(|(k, _)| *k == kind)
                .map(|(_, why)| format!("exporter {id}: type {kind:?} {why}"))
        })
        .collect()
}

/// The endpoints of an OTLP receiver (`protocols.grpc/http.endpoint`), as (protocol, endpoint);
/// a protocol without an endpoint gives an empty string. Works for the collector's
/// `receivers.otlp` and for Tempo's `distributor.receivers.otlp`.
pub fn otlp_receiver_endpoints(receiver: Option<&Value>) -> Vec<(String, String)> {
    yaml_keys(receiver.and_then(|r| r.get("protocols")))
        .into_iter()
        .map(|proto| {
            let ep = receiver
                .and_then(|r| yaml_get(r, &["protocols", &proto, "endpoint"]))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            (proto, ep)
        })
        .collect()
}

/// Receivers bind all interfaces: since collector 0.104 (and Tempo 2.7) the default is
/// localhost, which other containers and published ports cannot reach.
pub fn check_receivers_bind_all(what: &str, receiver: Option<&Value>) -> Vec<String> {
    let endpoints = otlp_receiver_endpoints(receiver);
    if endpoints.is_empty() {
        return vec![format!("{what}: no OTLP receiver protocols")];
    }
    endpoints
        .into_iter()
        .filter(|(_, ep)| !ep.starts_with("0.0.0.0:"))
        .map(|(proto, ep)| {
            format!("{what}: {proto} endpoint {ep:?} must be 0.0.0.0:PORT (the default is localhost, unreachable from other containers)")
        })
        .collect()
}

/// The `endpoint` of every exporter, as (exporter id, endpoint).
pub fn exporter_endpoints(doc: &Value) -> Vec<(String, String)> {
    yaml_keys(doc.get("exporters"))
        .into_iter()
        .filter_map(|id| {
            let ep = yaml_get(doc, &["exporters", &id, "endpoint"])?
                .as_str()?
                .to_owned();
            Some((id, ep))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(s: &str) -> Value {
        serde_yaml_ng::from_str(s).unwrap()
    }

    const GOOD: &str = "
extensions: {health_check: {}}
receivers: {otlp: {protocols: {grpc: {endpoint: 0.0.0.0:4317}}}}
processors: {batch: {}}
exporters: {otlp_grpc/tempo: {endpoint: tempo:4317}, debug: {}}
service:
  extensions: [health_check]
  pipelines:
    traces: {receivers: [otlp], processors: [batch], exporters: [otlp_grpc/tempo]}
";

    #[test]
    fn good_config_passes() {
        let d = doc(GOOD);
        assert!(check_pipelines(&d).is_empty());
        assert!(check_component_types(&d).is_empty());
        assert!(check_receivers_bind_all("c", yaml_get(&d, &["receivers", "otlp"])).is_empty());
        assert_eq!(
            exporter_endpoints(&d),
            [("otlp_grpc/tempo".to_owned(), "tempo:4317".to_owned())]
        );
    }

    #[test]
    fn undefined_pipeline_components_fail() {
        let d = doc(&GOOD
            .replace(
                "exporters: [otlp_grpc/tempo]",
                "exporters: [otlp_http/loki]",
            )
            .replace(
                "extensions: [health_check]",
                "extensions: [health_check, pprof]",
            ));
        let problems = check_pipelines(&d);
        assert_eq!(problems.len(), 2, "{problems:?}");
        let d = doc(&GOOD.replace("receivers: [otlp], ", "receivers: [], "));
        assert_eq!(check_pipelines(&d), ["pipeline traces: no receivers"]);
    }

    #[test]
    fn removed_exporters_fail() {
        let d = doc("exporters: {loki: {endpoint: x}, otlphttp/m: {}, otlp: {}, otlp_http/ok: {}}");
        assert_eq!(check_component_types(&d).len(), 3);
    }

    #[test]
    fn localhost_or_default_receivers_fail() {
        let d = doc("otlp: {protocols: {grpc: {endpoint: localhost:4317}, http: {}}}");
        assert_eq!(check_receivers_bind_all("c", d.get("otlp")).len(), 2);
        assert_eq!(check_receivers_bind_all("c", None).len(), 1);
    }
}
