//! What Tempo's metrics-generator really produces, from its source, and the checks against
//! it: metric names (Tempo's docs list more than its code writes), and the histogram buckets
//! behind a latency panel.
//!
//! Everything here is read from grafana/tempo at tag **v3.0.3** (the version `docker/.env`
//! pins). Bump it together with that version.

use std::collections::BTreeSet;

use serde_yaml_ng::Value;

use crate::{promql, yaml_get, yaml_strings};

/// The two processors of the metrics-generator that the stack uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Processor {
    /// `service-graphs` (overrides key `service_graphs`).
    ServiceGraphs,
    /// `span-metrics` (overrides key `span_metrics`).
    SpanMetrics,
}

impl Processor {
    /// The name in `metrics_generator.processors`.
    pub fn name(self) -> &'static str {
        match self {
            Processor::ServiceGraphs => "service-graphs",
            Processor::SpanMetrics => "span-metrics",
        }
    }

    /// The key under `processor:` (in the overrides and in `metrics_generator`).
    pub fn key(self) -> &'static str {
        match self {
            Processor::ServiceGraphs => "service_graphs",
            Processor::SpanMetrics => "span_metrics",
        }
    }

    /// The first bucket of Tempo's default histogram buckets, in seconds.
    ///
    /// - service graphs: `prometheus.ExponentialBuckets(0.1, 2, 8)`, 0.1 s … 12.8 s
    ///   (`modules/generator/processor/servicegraphs/config.go:68`);
    /// - span metrics: `prometheus.ExponentialBuckets(0.002, 2, 14)`, 2 ms … 16.4 s
    ///   (`modules/generator/processor/spanmetrics/config.go:70`).
    pub fn default_buckets(self) -> Vec<f64> {
        let (start, count) = match self {
            Processor::ServiceGraphs => (0.1, 8),
            Processor::SpanMetrics => (0.002, 14),
        };
        (0..count).map(|i| start * f64::powi(2.0, i)).collect()
    }
}

/// When a metric is written, beyond its processor being enabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    Always,
    /// `service_graphs.enable_messaging_system_latency_histogram: true` (default false;
    /// `servicegraphs.go:393`).
    MessagingHistogram,
    /// `span_metrics.enable_target_info: true` (default false; `spanmetrics/config.go:46`).
    TargetInfo,
}

/// A counter or gauge is written under its name; a histogram as `_bucket`, `_sum` and `_count`
/// (`modules/generator/registry/histogram.go:85-87`, classic histograms, Tempo's default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// One metric of the metrics-generator.
#[derive(Debug, Clone, Copy)]
pub struct GeneratorMetric {
    pub name: &'static str,
    pub kind: Kind,
    pub processor: Processor,
    pub condition: Condition,
}

const fn metric(
    name: &'static str,
    kind: Kind,
    processor: Processor,
    condition: Condition,
) -> GeneratorMetric {
    GeneratorMetric {
        name,
        kind,
        processor,
        condition,
    }
}

/// Every metric the two processors write, as named in Tempo v3.0.3's source:
///
/// - `modules/generator/processor/spanmetrics/spanmetrics.go:24-27` (`metricCallsTotal`,
///   `metricDurationSeconds`, `metricSizeTotal`, `targetInfo`);
/// - `modules/generator/processor/servicegraphs/servicegraphs.go:60-64` (`metricRequestTotal`
///   … `metricRequestMessagingSystemSeconds`).
///
/// Not here, though Tempo's docs list them (`docs/sources/tempo/metrics-from-traces/
/// service_graphs/_index.md`): [`DOCUMENTED_ONLY`]. `git grep unpaired v3.0.3` finds them only
/// in docs and in an integration test that asserts they sum to 0.
pub const GENERATOR_METRICS: &[GeneratorMetric] = &[
    metric(
        "traces_spanmetrics_calls_total",
        Kind::Counter,
        Processor::SpanMetrics,
        Condition::Always,
    ),
    metric(
        "traces_spanmetrics_latency",
        Kind::Histogram,
        Processor::SpanMetrics,
        Condition::Always,
    ),
    metric(
        "traces_spanmetrics_size_total",
        Kind::Counter,
        Processor::SpanMetrics,
        Condition::Always,
    ),
    metric(
        "traces_target_info",
        Kind::Gauge,
        Processor::SpanMetrics,
        Condition::TargetInfo,
    ),
    metric(
        "traces_service_graph_request_total",
        Kind::Counter,
        Processor::ServiceGraphs,
        Condition::Always,
    ),
    metric(
        "traces_service_graph_request_failed_total",
        Kind::Counter,
        Processor::ServiceGraphs,
        Condition::Always,
    ),
    metric(
        "traces_service_graph_request_server_seconds",
        Kind::Histogram,
        Processor::ServiceGraphs,
        Condition::Always,
    ),
    metric(
        "traces_service_graph_request_client_seconds",
        Kind::Histogram,
        Processor::ServiceGraphs,
        Condition::Always,
    ),
    metric(
        "traces_service_graph_request_messaging_system_seconds",
        Kind::Histogram,
        Processor::ServiceGraphs,
        Condition::MessagingHistogram,
    ),
];

/// Names Tempo's docs list but no code of v3.0.3 writes. Unpaired spans are counted only in
/// Tempo's own `tempo_metrics_generator_processor_service_graphs_expired_edges` (not
/// remote-written); an unpaired client span with a peer attribute becomes an edge with
/// `connection_type="virtual_node"` (`servicegraphs.go:403-447`).
pub const DOCUMENTED_ONLY: &[&str] = &[
    "traces_service_graph_unpaired_spans_total",
    "traces_service_graph_dropped_spans_total",
];

/// Is `name` in the metrics-generator's namespace (so that it must be one Tempo produces)?
pub fn is_generator_name(name: &str) -> bool {
    name.starts_with("traces_spanmetrics_")
        || name.starts_with("traces_service_graph_")
        || name == "traces_target_info"
}

fn processor_setting<'a>(tempo: &'a Value, processor: Processor, key: &str) -> Option<&'a Value> {
    // The per-tenant override wins over metrics_generator.processor (modules/generator/
    // config.go, copyWithOverrides).
    yaml_get(
        tempo,
        &[
            "overrides",
            "defaults",
            "metrics_generator",
            "processor",
            processor.key(),
            key,
        ],
    )
    .or_else(|| {
        yaml_get(
            tempo,
            &["metrics_generator", "processor", processor.key(), key],
        )
    })
}

fn enabled(tempo: &Value, processor: Processor) -> bool {
    yaml_strings(yaml_get(
        tempo,
        &["overrides", "defaults", "metrics_generator", "processors"],
    ))
    .iter()
    .any(|p| p == processor.name())
}

fn flag(tempo: &Value, processor: Processor, key: &str) -> bool {
    processor_setting(tempo, processor, key).and_then(Value::as_bool) == Some(true)
}

/// The metric names Tempo writes to Mimir with this `tempo.yaml`: the enabled processors'
/// metrics, the optional ones only when switched on. Fails if the config asks for native
/// histograms, whose names this list does not model.
pub fn produced_names(tempo: &Value) -> Result<BTreeSet<String>, String> {
    let mode = yaml_get(
        tempo,
        &[
            "overrides",
            "defaults",
            "metrics_generator",
            "generate_native_histograms",
        ],
    )
    .and_then(Value::as_str);
    if mode.is_some_and(|m| m != "classic") {
        return Err(format!(
            "tempo.yaml: generate_native_histograms: {mode:?}: the produced-names list (crates/stack-check/src/tempo.rs) only models classic histograms"
        ));
    }
    let mut out = BTreeSet::new();
    for m in GENERATOR_METRICS {
        let on = enabled(tempo, m.processor)
            && match m.condition {
                Condition::Always => true,
                Condition::MessagingHistogram => flag(
                    tempo,
                    Processor::ServiceGraphs,
                    "enable_messaging_system_latency_histogram",
                ),
                Condition::TargetInfo => flag(tempo, Processor::SpanMetrics, "enable_target_info"),
            };
        if !on {
            continue;
        }
        match m.kind {
            Kind::Counter | Kind::Gauge => {
                out.insert(m.name.to_owned());
            }
            Kind::Histogram => {
                for suffix in ["_bucket", "_sum", "_count"] {
                    out.insert(format!("{}{suffix}", m.name));
                }
            }
        }
    }
    Ok(out)
}

/// Every name in the metrics-generator's namespace (see [`is_generator_name`]) is one Tempo
/// produces with this config. `what` says where the names come from.
pub fn check_generator_names<'a>(
    what: &str,
    names: impl IntoIterator<Item = &'a str>,
    produced: &BTreeSet<String>,
) -> Vec<String> {
    let mut seen = BTreeSet::new();
    names
        .into_iter()
        .filter(|n| is_generator_name(n) && !produced.contains(*n) && seen.insert(*n))
        .map(|n| {
            let why = if DOCUMENTED_ONLY.contains(&n) {
                "Tempo's docs list it, but no code of Tempo 3.0.3 writes it"
            } else {
                "not among the names Tempo 3.0.3's metrics-generator writes with this tempo.yaml (processors, enable_messaging_system_latency_histogram, enable_target_info)"
            };
            format!("{what}: metric {n:?}: {why} (list: crates/stack-check/src/tempo.rs)")
        })
        .collect()
}

/// The metrics-generator names that appear anywhere in `text` (a script, a config), in order.
pub fn generator_names_in_text(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|w| is_generator_name(w))
        .map(str::to_owned)
        .collect()
}

/// Prometheus' `strutil.SanitizeLabelName`, which Tempo applies to dimension names
/// (`modules/generator/validation/sanitize.go`): every character other than `[A-Za-z0-9_]`
/// becomes `_` (`service.namespace` → `service_namespace`).
pub fn sanitize_label_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The span-metrics intrinsic dimensions (`modules/generator/processor/dimension_names.go`):
/// a custom dimension that sanitizes to one of them gets a `__` prefix
/// (`SanitizeLabelNameWithCollisions`).
const INTRINSIC_DIMENSIONS: &[&str] = &[
    "service",
    "span_name",
    "span_kind",
    "status_code",
    "status_message",
];

/// The labels a processor's `dimensions` add to its series, as Tempo v3.0.3 names them:
///
/// - span metrics (`spanmetrics.go`, `aggregateMetricsForSpan`): each dimension, looked up in
///   the resource attributes then the span's, sanitized ([`sanitize_label_name`]), `__`-prefixed
///   if it collides with an intrinsic dimension; each `dimension_mappings` entry's `name` the
///   same way;
/// - service graphs (`servicegraphs.go`, `upsertDimensions`/`onComplete`): each dimension
///   sanitized, or `client_<d>` and `server_<d>` with `enable_client_server_prefix`; plus
///   `virtual_node` with `enable_virtual_node_label`.
///
/// A dimension whose attribute a span lacks adds no label (Prometheus' `labels.Builder.Set`
/// with an empty value deletes it).
pub fn dimension_labels(tempo: &Value, processor: Processor) -> Result<BTreeSet<String>, String> {
    let list = |key: &str| -> Result<Vec<String>, String> {
        match processor_setting(tempo, processor, key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(v @ Value::Sequence(_)) => Ok(yaml_strings(Some(v))),
            Some(other) => Err(format!(
                "tempo.yaml: {}.{key} is not a list: {other:?}",
                processor.key()
            )),
        }
    };
    let mut out = BTreeSet::new();
    match processor {
        Processor::SpanMetrics => {
            let mut names = list("dimensions")?;
            if let Some(mappings) = processor_setting(tempo, processor, "dimension_mappings") {
                for m in mappings.as_sequence().into_iter().flatten() {
                    match m.get("name").and_then(Value::as_str) {
                        Some(n) => names.push(n.to_owned()),
                        None => {
                            return Err(format!(
                                "tempo.yaml: span_metrics.dimension_mappings entry without a name: {m:?}"
                            ));
                        }
                    }
                }
            }
            for d in names {
                let label = sanitize_label_name(&d);
                if INTRINSIC_DIMENSIONS.contains(&label.as_str()) {
                    out.insert(format!("__{label}"));
                } else {
                    out.insert(label);
                }
            }
        }
        Processor::ServiceGraphs => {
            let prefix = flag(tempo, processor, "enable_client_server_prefix");
            for d in list("dimensions")? {
                let label = sanitize_label_name(&d);
                if prefix {
                    out.insert(format!("client_{label}"));
                    out.insert(format!("server_{label}"));
                } else {
                    out.insert(label);
                }
            }
            if flag(tempo, processor, "enable_virtual_node_label") {
                out.insert("virtual_node".to_owned());
            }
        }
    }
    Ok(out)
}

/// The processor whose metrics `name` is, if it is one of the metrics-generator's.
pub fn processor_of(name: &str) -> Option<Processor> {
    if name.starts_with("traces_spanmetrics_") {
        Some(Processor::SpanMetrics)
    } else if name.starts_with("traces_service_graph_") {
        Some(Processor::ServiceGraphs)
    } else {
        None
    }
}

/// The labels Tempo adds to every series it writes: `metrics_generator.registry.
/// external_labels` (this stack: `source`).
pub fn external_labels(tempo: &Value) -> BTreeSet<String> {
    yaml_get(tempo, &["metrics_generator", "registry", "external_labels"])
        .and_then(Value::as_mapping)
        .map(|m| {
            m.keys()
                .filter_map(|k| k.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// A latency panel needs buckets at least this fine at the low end: calls faster than the
/// first bucket all land in it, and `histogram_quantile` then interpolates inside it
/// (a p95 of 0.95 × the first bound, whatever the real latency).
pub const MAX_FIRST_BUCKET: f64 = 0.005;

/// The histogram buckets `processor` uses with this config, and where they come from.
pub fn histogram_buckets(tempo: &Value, processor: Processor) -> (Vec<f64>, String) {
    match processor_setting(tempo, processor, "histogram_buckets").and_then(Value::as_sequence) {
        Some(seq) => (
            seq.iter().filter_map(Value::as_f64).collect(),
            format!("tempo.yaml {}.histogram_buckets", processor.key()),
        ),
        None => (
            processor.default_buckets(),
            format!("Tempo's default for {}", processor.key()),
        ),
    }
}

/// A `histogram_quantile` over a Tempo histogram (`…_bucket`) needs that processor's buckets to
/// start at or below [`MAX_FIRST_BUCKET`] and to be increasing. `place` says where `expr` is.
pub fn check_quantile_buckets(place: &str, expr: &str, tempo: &Value) -> Vec<String> {
    if !expr.contains("histogram_quantile") {
        return Vec::new();
    }
    let Ok(names) = promql::metric_names(expr) else {
        return Vec::new(); // the metric-name check reports unreadable expressions
    };
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for name in names {
        let Some(base) = name.strip_suffix("_bucket") else {
            continue;
        };
        let Some(m) = GENERATOR_METRICS
            .iter()
            .find(|m| m.name == base && m.kind == Kind::Histogram)
        else {
            continue;
        };
        if !seen.insert(m.processor.key()) {
            continue;
        }
        let (buckets, source) = histogram_buckets(tempo, m.processor);
        let increasing = buckets.windows(2).all(|w| w[0] < w[1]);
        match buckets.first() {
            Some(&first) if increasing && first <= MAX_FIRST_BUCKET => {}
            Some(&first) if increasing => problems.push(format!(
                "{place}: histogram_quantile over {name}, but {source} starts at {first} s: every faster call lands in the first bucket and the quantile reads ~{:.3} s whatever the latency; set overrides.defaults.metrics_generator.processor.{}.histogram_buckets from ~0.001",
                first * 0.95,
                m.processor.key()
            )),
            _ => problems.push(format!(
                "{place}: histogram_quantile over {name}, but {source} is empty, not numbers, or not increasing: {buckets:?}"
            )),
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(s: &str) -> Value {
        serde_yaml_ng::from_str(s).unwrap()
    }

    const TEMPO: &str = "
overrides:
  defaults:
    metrics_generator:
      processors: [service-graphs, span-metrics]
      processor:
        service_graphs:
          histogram_buckets: [0.001, 0.005, 0.01, 0.1, 1]
          enable_messaging_system_latency_histogram: true
";

    /// `overrides.defaults.metrics_generator.processor.<key>: {settings}`.
    fn processor_doc(key: &str, settings: &str) -> Value {
        doc(&format!(
            "overrides: {{defaults: {{metrics_generator: {{processor: {{{key}: {{{settings}}}}}}}}}}}"
        ))
    }

    #[test]
    fn dimensions_become_sanitized_labels() {
        let span = |extra: &str| {
            dimension_labels(
                &processor_doc("span_metrics", extra),
                Processor::SpanMetrics,
            )
        };
        assert!(span("").unwrap().is_empty());
        assert_eq!(
            span("dimensions: [service.namespace, deployment.environment.name, service]").unwrap(),
            BTreeSet::from([
                "service_namespace".to_owned(),
                "deployment_environment_name".to_owned(),
                "__service".to_owned(), // collides with the intrinsic dimension
            ])
        );
        assert_eq!(
            span("dimension_mappings: [{name: env.short, source_labels: [a]}]").unwrap(),
            BTreeSet::from(["env_short".to_owned()])
        );
        assert!(span("dimensions: service.namespace").is_err());
        let graph = |extra: &str| {
            dimension_labels(
                &processor_doc("service_graphs", extra),
                Processor::ServiceGraphs,
            )
            .unwrap()
        };
        assert_eq!(
            graph("dimensions: [service.namespace]"),
            BTreeSet::from(["service_namespace".to_owned()])
        );
        assert_eq!(
            graph(
                "dimensions: [service.namespace], enable_client_server_prefix: true, enable_virtual_node_label: true"
            ),
            BTreeSet::from([
                "client_service_namespace".to_owned(),
                "server_service_namespace".to_owned(),
                "virtual_node".to_owned(),
            ])
        );
        assert_eq!(
            processor_of("traces_spanmetrics_latency_bucket"),
            Some(Processor::SpanMetrics)
        );
        assert_eq!(
            processor_of("traces_service_graph_request_total"),
            Some(Processor::ServiceGraphs)
        );
        assert_eq!(processor_of("target_info"), None);
    }

    #[test]
    fn produced_names_follow_the_config() {
        let all = produced_names(&doc(TEMPO)).unwrap();
        for n in [
            "traces_spanmetrics_calls_total",
            "traces_spanmetrics_latency_bucket",
            "traces_service_graph_request_total",
            "traces_service_graph_request_server_seconds_count",
            "traces_service_graph_request_messaging_system_seconds_bucket",
        ] {
            assert!(all.contains(n), "{n}");
        }
        assert!(!all.contains("traces_target_info"));
        assert!(!all.contains("traces_service_graph_unpaired_spans_total"));

        let plain = doc("overrides: {defaults: {metrics_generator: {processors: [span-metrics]}}}");
        let some = produced_names(&plain).unwrap();
        assert!(some.contains("traces_spanmetrics_size_total"));
        assert!(!some.iter().any(|n| n.starts_with("traces_service_graph_")));

        let native =
            doc("overrides: {defaults: {metrics_generator: {generate_native_histograms: both}}}");
        assert!(produced_names(&native).unwrap_err().contains("native"));
    }

    #[test]
    fn names_tempo_does_not_produce_fail() {
        let produced = produced_names(&doc(TEMPO)).unwrap();
        let names = [
            "traces_service_graph_request_total",
            "traces_service_graph_unpaired_spans_total",
            "traces_service_graph_dropped_spans_total",
            "traces_spanmetrics_latency", // the histogram's base name: classic histograms have none
            "traces_target_info",         // enable_target_info is off
            "http_server_request_duration_seconds_count", // not Tempo's: known-metrics.txt decides
            "traces_service_graph_unpaired_spans_total", // reported once
        ];
        let problems = check_generator_names("dashboard x", names, &produced);
        assert_eq!(problems.len(), 4, "{problems:#?}");
        assert!(problems[0].contains("unpaired") && problems[0].contains("docs list it"));
        assert!(problems[2].contains("traces_spanmetrics_latency\""));
        let no_messaging = produced_names(&doc(
            &TEMPO.replace("enable_messaging_system_latency_histogram: true", "")
        ))
        .unwrap();
        assert_eq!(
            check_generator_names(
                "x",
                ["traces_service_graph_request_messaging_system_seconds_bucket"],
                &no_messaging
            )
            .len(),
            1
        );
    }

    #[test]
    fn finds_generator_names_in_scripts() {
        let script = r#"mimir_query 'traces_service_graph_request_total{client="a"}'
  id=$(get "$MIMIR/api/v1/query_exemplars" --data-urlencode 'query=traces_spanmetrics_latency_bucket{service="u"}')
  echo "traces_service_graph_unpaired_spans_total" http_requests_total"#;
        assert_eq!(
            generator_names_in_text(script),
            [
                "traces_service_graph_request_total",
                "traces_spanmetrics_latency_bucket",
                "traces_service_graph_unpaired_spans_total"
            ]
        );
    }

    const P95: &str = "histogram_quantile(0.95, sum by (le, client, server) (rate(traces_service_graph_request_server_seconds_bucket[$__rate_interval])))";

    #[test]
    fn default_service_graph_buckets_behind_a_quantile_fail() {
        let fine = doc(TEMPO);
        assert!(check_quantile_buckets("p", P95, &fine).is_empty());
        let (buckets, source) = histogram_buckets(&fine, Processor::ServiceGraphs);
        assert_eq!((buckets[0], source.contains("tempo.yaml")), (0.001, true));

        // No histogram_buckets: Tempo's default, 0.1 s … 12.8 s.
        let default = doc(&TEMPO.replace("histogram_buckets: [0.001, 0.005, 0.01, 0.1, 1]", ""));
        let (buckets, _) = histogram_buckets(&default, Processor::ServiceGraphs);
        assert_eq!(buckets.len(), 8);
        assert!((buckets[7] - 12.8).abs() < 1e-9);
        let problems = check_quantile_buckets("panel \"p95\"", P95, &default);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("starts at 0.1 s"), "{}", problems[0]);
        // Only a quantile needs the buckets; a rate of the count does not.
        let rate = "sum(rate(traces_service_graph_request_server_seconds_count[5m]))";
        assert!(check_quantile_buckets("p", rate, &default).is_empty());

        // Buckets set, but too coarse, or not increasing.
        for bad in ["[0.05, 0.1, 1]", "[0.001, 0.01, 0.005]", "[]"] {
            let d = doc(&TEMPO.replace("[0.001, 0.005, 0.01, 0.1, 1]", bad));
            assert_eq!(check_quantile_buckets("p", P95, &d).len(), 1, "{bad}");
        }
        // The metrics_generator block counts too, when the overrides say nothing.
        let global = doc(
            "metrics_generator: {processor: {service_graphs: {histogram_buckets: [0.002, 0.02]}}}",
        );
        assert!(check_quantile_buckets("p", P95, &global).is_empty());
    }

    #[test]
    fn span_metrics_defaults_are_fine_enough() {
        let q =
            "histogram_quantile(0.95, sum by (le) (rate(traces_spanmetrics_latency_bucket[5m])))";
        assert!(check_quantile_buckets("p", q, &doc(TEMPO)).is_empty());
        let coarse = doc(
            "overrides: {defaults: {metrics_generator: {processor: {span_metrics: {histogram_buckets: [0.25, 1]}}}}}",
        );
        assert_eq!(check_quantile_buckets("p", q, &coarse).len(), 1);
    }
}
