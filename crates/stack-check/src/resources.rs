//! What each backend makes of the OTLP resource (step 6 sets `service.namespace`,
//! `deployment.environment.name`, `service.instance.id`, `host.*`, `process.*`, …), so that
//! the label names the dashboards and scripts use can be checked against the configs that
//! make them.
//!
//! Read in the backends' source at the versions `docker/.env` pins:
//!
//! - **Mimir 3.1**: `pkg/distributor/otel.go` hands OTLP to Prometheus' translator
//!   (`storage/remote/otlptranslator/prometheusremotewrite/helper.go`, the same rules in
//!   Prometheus v3.7.0, v3.9.0 and main). `createAttributes` gives every series `job` =
//!   `service.namespace/service.name` (or `service.name`), `instance` = `service.instance.id`
//!   and the attributes of `promote_otel_resource_attributes`
//!   ([`crate::backends::otlp_series_labels`]). `addResourceTargetInfo` writes one `target_info` series per
//!   resource: `job`, `instance` and every resource attribute *except* the three identifying
//!   ones, which it keeps only with `otel_keep_identifying_resource_attributes: true`
//!   (promotion is switched off for it: `settings.PromoteResourceAttributes = nil`).
//! - **Tempo v3.0.3**: the processors' `dimensions` ([`crate::tempo::dimension_labels`]).
//! - **Loki v3.7.6**: the resource attributes `loki.yaml` marks `index_label` are stream
//!   labels ([`crate::backends::loki_otlp_index_labels`]), every other one is structured
//!   metadata of each record (`pkg/loghttp/push/otlp.go`, `otlpToLokiPushRequest`;
//!   `otlp_config.go`, `actionForAttribute` defaults to structured metadata).

use std::collections::BTreeSet;

use serde_yaml_ng::Value;

use crate::grafana::KnownLabels;
use crate::logql::KnownLogFields;
use crate::tempo::{self, Processor};
use crate::{backends, yaml_get};

/// The identifying resource attributes and the labels they would have: they make `job` and
/// `instance`, and `target_info` leaves them out unless
/// `otel_keep_identifying_resource_attributes` is on.
pub const IDENTIFYING: &[(&str, &str)] = &[
    ("service.namespace", "service_namespace"),
    ("service.name", "service_name"),
    ("service.instance.id", "service_instance_id"),
];

/// Whether `mimir.yaml` keeps the identifying attributes in `target_info`
/// (`limits.otel_keep_identifying_resource_attributes`, default false).
pub fn keeps_identifying_attributes(mimir: &Value) -> bool {
    yaml_get(
        mimir,
        &["limits", "otel_keep_identifying_resource_attributes"],
    )
    .and_then(Value::as_bool)
        == Some(true)
}

/// The labels `target_info` gets from Mimir's config, besides the resource's other
/// attributes (its own line in `known-metrics.txt`): `job`, `instance`, and the identifying
/// attributes when [`keeps_identifying_attributes`].
pub fn target_info_labels(mimir: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::from(["job".to_owned(), "instance".to_owned()]);
    if keeps_identifying_attributes(mimir) {
        out.extend(IDENTIFYING.iter().map(|(_, l)| (*l).to_owned()));
    }
    out
}

/// Adds to `known` (parsed from `known-metrics.txt`) the labels each source puts on every
/// series of its metrics: app metrics get Mimir's `job`, `instance` and promoted attributes;
/// `target_info` gets [`target_info_labels`]; Tempo's metrics get its external labels and
/// their processor's [`tempo::dimension_labels`]. Metrics with any label (`*`) stay so.
pub fn add_source_labels(
    known: &mut KnownLabels,
    mimir: &Value,
    tempo: &Value,
) -> Result<(), String> {
    let series = backends::otlp_series_labels(mimir);
    let info = target_info_labels(mimir);
    let external = tempo::external_labels(tempo);
    let span = tempo::dimension_labels(tempo, Processor::SpanMetrics)?;
    let graph = tempo::dimension_labels(tempo, Processor::ServiceGraphs)?;
    for (name, labels) in known.iter_mut() {
        let Some(labels) = labels.as_mut() else {
            continue;
        };
        if name == "target_info" {
            labels.extend(info.iter().cloned());
        } else if tempo::is_generator_name(name) {
            labels.extend(external.iter().cloned());
            match tempo::processor_of(name) {
                Some(Processor::SpanMetrics) => labels.extend(span.iter().cloned()),
                Some(Processor::ServiceGraphs) => labels.extend(graph.iter().cloned()),
                None => {}
            }
        } else {
            labels.extend(series.iter().cloned());
        }
    }
    Ok(())
}

/// The labels made of resource attributes that a series or stream may lack: the promoted
/// attributes, Loki's index labels and Tempo's dimensions, and `instance`
/// (`service.instance.id`) — all but `service_name`, which every resource has (the SDK sets
/// `service.name`, Loki writes `unknown_service` without it). Steps 2–5 set none of them.
/// A dashboard variable filtering one of them needs an "All" of `.*`, which also matches a
/// missing label (see [`crate::grafana::check_optional_label_filters`]).
pub fn optional_labels(
    mimir: &Value,
    loki: &Value,
    tempo: &Value,
) -> Result<BTreeSet<String>, String> {
    let mut out: BTreeSet<String> = backends::otlp_series_labels(mimir)
        .into_iter()
        .filter(|l| l != "job")
        .collect();
    out.extend(backends::loki_otlp_index_labels(loki)?);
    out.extend(tempo::dimension_labels(tempo, Processor::SpanMetrics)?);
    out.extend(tempo::dimension_labels(tempo, Processor::ServiceGraphs)?);
    out.remove("service_name");
    Ok(out)
}

/// `known-metrics.txt` lists `target_info`'s own labels (the resource's non-identifying
/// attributes): not "any label", and none of the labels Mimir's config decides
/// ([`target_info_labels`] with every option on: `job`, `instance`, the identifying ones).
pub fn check_target_info_line(known: &KnownLabels) -> Vec<String> {
    let Some(entry) = known.get("target_info") else {
        return vec!["known-metrics.txt: no target_info line".to_owned()];
    };
    let Some(labels) = entry else {
        return vec!["known-metrics.txt: target_info lists `*` (any label): list the resource's attributes, so that a typo in a target_info matcher fails".to_owned()];
    };
    let from_config: BTreeSet<&str> = ["job", "instance"]
        .into_iter()
        .chain(IDENTIFYING.iter().map(|(_, l)| *l))
        .collect();
    labels
        .iter()
        .filter(|l| from_config.contains(l.as_str()))
        .map(|l| {
            format!("known-metrics.txt: target_info lists {l:?}, which mimir.yaml decides (job, instance; the identifying attributes only with otel_keep_identifying_resource_attributes): remove it from the line")
        })
        .collect()
}

/// The same resource reaches Mimir and Loki: every resource attribute `target_info` carries
/// (its own labels in `known-metrics.txt`, and the identifying ones) is, under the same name,
/// an index label or structured metadata of the log records (`known-log-fields.txt`), and
/// `service_name` is an index label.
pub fn check_resource_in_logs(known: &KnownLabels, logs: &KnownLogFields) -> Vec<String> {
    let mut problems = Vec::new();
    let own = known
        .get("target_info")
        .cloned()
        .flatten()
        .unwrap_or_default();
    let identifying = IDENTIFYING.iter().map(|(_, l)| (*l).to_owned());
    for name in own.into_iter().chain(identifying) {
        if !logs.labels.contains(&name) && !logs.metadata.contains(&name) {
            problems.push(format!(
                "resource attribute {name:?} (a label of target_info in known-metrics.txt) is neither an index label nor structured metadata in known-log-fields.txt: Loki stores every resource attribute of a record"
            ));
        }
    }
    if !logs.labels.contains("service_name") {
        problems.push("known-log-fields.txt: service_name is not an index label".to_owned());
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grafana::parse_known_labels;
    use crate::logql::parse_known_log_fields;

    fn doc(s: &str) -> Value {
        serde_yaml_ng::from_str(s).unwrap()
    }

    const MIMIR: &str = "limits: {promote_otel_resource_attributes: \"service.name,service.namespace,deployment.environment.name\", otel_keep_identifying_resource_attributes: true}";
    const TEMPO: &str = "
metrics_generator: {registry: {external_labels: {source: tempo}}}
overrides: {defaults: {metrics_generator: {processor: {
  span_metrics: {dimensions: [service.namespace]},
  service_graphs: {dimensions: [deployment.environment.name]}}}}}
";
    const KNOWN: &str = "
target_info  host_name service_version
http_server_request_duration_seconds_count  http_route
traces_spanmetrics_calls_total  service span_name
traces_service_graph_request_total  client server
anything  *
";

    #[test]
    fn target_info_has_the_identifying_labels_only_when_kept() {
        let kept = target_info_labels(&doc(MIMIR));
        assert!(
            kept.contains("service_namespace") && kept.contains("job"),
            "{kept:?}"
        );
        let default = target_info_labels(&doc(
            "limits: {promote_otel_resource_attributes: \"service.namespace\"}",
        ));
        assert_eq!(
            default,
            BTreeSet::from(["job".to_owned(), "instance".to_owned()]),
            "promotion does not reach target_info"
        );
    }

    #[test]
    fn source_labels_go_to_their_metrics() {
        let mut known = parse_known_labels(KNOWN);
        add_source_labels(&mut known, &doc(MIMIR), &doc(TEMPO)).unwrap();
        let labels = |n: &str| known[n].clone().unwrap();
        let app = labels("http_server_request_duration_seconds_count");
        for l in [
            "http_route",
            "job",
            "instance",
            "service_name",
            "service_namespace",
            "deployment_environment_name",
        ] {
            assert!(app.contains(l), "{l}: {app:?}");
        }
        let info = labels("target_info");
        assert!(info.contains("host_name") && info.contains("service_namespace"));
        assert!(
            !info.contains("deployment_environment_name"),
            "not promoted onto target_info"
        );
        let span = labels("traces_spanmetrics_calls_total");
        assert!(span.contains("service_namespace") && span.contains("source"));
        assert!(!span.contains("service_name") && !span.contains("deployment_environment_name"));
        let graph = labels("traces_service_graph_request_total");
        assert!(
            graph.contains("deployment_environment_name") && !graph.contains("service_namespace")
        );
        assert_eq!(known["anything"], None);
        // Without keep-identifying, a target_info matcher on service_namespace has no label.
        let mut plain = parse_known_labels(KNOWN);
        add_source_labels(&mut plain, &doc("limits: {}"), &doc(TEMPO)).unwrap();
        assert!(
            !plain["target_info"]
                .as_ref()
                .unwrap()
                .contains("service_namespace")
        );
    }

    #[test]
    fn optional_labels_are_the_resource_labels_but_service_name() {
        let loki = doc(
            "limits_config: {otlp_config: {resource_attributes: {ignore_defaults: true, attributes_config: [{action: index_label, attributes: [service.name, k8s.pod.name]}]}}}",
        );
        let optional = optional_labels(&doc(MIMIR), &loki, &doc(TEMPO)).unwrap();
        assert_eq!(
            optional,
            [
                "instance",
                "service_namespace",
                "deployment_environment_name",
                "k8s_pod_name"
            ]
            .into_iter()
            .map(str::to_owned)
            .collect::<BTreeSet<_>>()
        );
    }

    #[test]
    fn target_info_line_without_its_labels_or_with_config_labels_fails() {
        assert!(check_target_info_line(&parse_known_labels(KNOWN)).is_empty());
        let any = check_target_info_line(&parse_known_labels("target_info *\n"));
        assert!(any.len() == 1 && any[0].contains("`*`"), "{any:?}");
        let job = check_target_info_line(&parse_known_labels(
            "target_info host_name job service_namespace\n",
        ));
        assert_eq!(job.len(), 2, "{job:?}");
        assert!(job[0].contains("\"job\""));
        assert_eq!(check_target_info_line(&parse_known_labels("up\n")).len(), 1);
    }

    #[test]
    fn resource_attribute_missing_from_the_log_fields_fails() {
        let known = parse_known_labels(KNOWN);
        let logs = parse_known_log_fields(
            "service_name label\nservice_namespace label\nservice_instance_id metadata\nhost_name metadata\nservice_version metadata\n",
        )
        .unwrap();
        assert_eq!(check_resource_in_logs(&known, &logs), Vec::<String>::new());
        // One letter off in the log fields: the host name is no longer found.
        let typo = parse_known_log_fields(
            "service_name label\nservice_namespace label\nservice_instance_id metadata\nhost_nme metadata\nservice_version metadata\n",
        )
        .unwrap();
        let problems = check_resource_in_logs(&known, &typo);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("\"host_name\""));
    }
}
