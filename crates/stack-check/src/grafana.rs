//! Checks of Grafana's provisioning: datasources, their cross-references and `$` escaping;
//! dashboards, the datasources they use, and the metric names, label names and rate windows
//! of their PromQL queries; their LogQL queries and the Loki links against the names Loki
//! gives OTLP log records.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value as Json;
use serde_yaml_ng::Value;

use crate::logql::{self, KnownLogFields};
use crate::promql;

/// The datasources of a provisioning file.
pub fn datasources(doc: &Value) -> Vec<&Value> {
    doc.get("datasources")
        .and_then(Value::as_sequence)
        .map(|s| s.iter().collect())
        .unwrap_or_default()
}

/// UID → type of every datasource.
pub fn datasource_types(doc: &Value) -> BTreeMap<String, String> {
    datasources(doc)
        .into_iter()
        .filter_map(|d| {
            let uid = d.get("uid")?.as_str()?.to_owned();
            let kind = d
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            Some((uid, kind))
        })
        .collect()
}

fn uid_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Mapping(m) => {
            for (k, x) in m {
                if k.as_str() == Some("datasourceUid")
                    && let Some(s) = x.as_str()
                {
                    out.push(s.to_owned());
                }
                uid_refs(x, out);
            }
        }
        Value::Sequence(s) => s.iter().for_each(|x| uid_refs(x, out)),
        _ => {}
    }
}

/// Every datasource has a unique UID and a URL, is not editable, and every `datasourceUid`
/// it refers to (correlations, exemplars, derived fields, service map) exists.
pub fn check_datasources(doc: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let list = datasources(doc);
    if list.is_empty() {
        return vec!["no datasources".to_owned()];
    }
    let mut uids = BTreeSet::new();
    for d in &list {
        let name = d.get("name").and_then(Value::as_str).unwrap_or("?");
        match d.get("uid").and_then(Value::as_str) {
            None => problems.push(format!(
                "datasource {name}: no fixed uid (links and dashboards need one)"
            )),
            Some(uid) if !uids.insert(uid.to_owned()) => {
                problems.push(format!("datasource {name}: uid {uid:?} is used twice"))
            }
            Some(_) => {}
        }
        if d.get("editable").and_then(Value::as_bool) != Some(false) {
            problems.push(format!("datasource {name}: set editable: false (provisioned, changes in the UI would be lost)"));
        }
        if d.get("url").and_then(Value::as_str).is_none() {
            problems.push(format!("datasource {name}: no url"));
        }
    }
    for d in &list {
        let name = d.get("name").and_then(Value::as_str).unwrap_or("?");
        let mut refs = Vec::new();
        uid_refs(d, &mut refs);
        for r in refs {
            if !uids.contains(&r) {
                problems.push(format!(
                    "datasource {name}: refers to datasourceUid {r:?}, which no datasource has"
                ));
            }
        }
    }
    problems
}

/// The datasource URLs, as (name, url).
pub fn datasource_urls(doc: &Value) -> Vec<(String, String)> {
    datasources(doc)
        .into_iter()
        .filter_map(|d| {
            let name = d
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_owned();
            Some((name, d.get("url")?.as_str()?.to_owned()))
        })
        .collect()
}

/// Grafana expands `$VAR` and `${VAR}` from its environment in provisioning files: Grafana's
/// own variables (`${__value.raw}`, `$__tags`) must be written `$$…`, or they silently become
/// empty strings. Every `$` that starts a name or `{` must be doubled.
pub fn check_dollar_escaping(text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim_start().starts_with('#') {
            continue;
        }
        let b = line.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'$' {
                if b.get(i + 1) == Some(&b'$') {
                    i += 2;
                    continue;
                }
                if b.get(i + 1)
                    .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_' || *c == b'{')
                {
                    problems.push(format!(
                        "line {}: {:?}: a single $ is expanded from the environment by Grafana; write $$",
                        n + 1,
                        line.trim()
                    ));
                    break;
                }
            }
            i += 1;
        }
    }
    problems
}

/// Anonymous access, if enabled, is Viewer or Editor — never Admin.
pub fn check_anonymous_role(grafana_env: &BTreeMap<String, String>) -> Vec<String> {
    let enabled = grafana_env
        .get("GF_AUTH_ANONYMOUS_ENABLED")
        .is_some_and(|v| v == "true");
    if !enabled {
        return Vec::new();
    }
    match grafana_env.get("GF_AUTH_ANONYMOUS_ORG_ROLE").map(String::as_str) {
        Some("Viewer" | "Editor") => Vec::new(),
        Some(other) => vec![format!("anonymous role {other:?}: use Viewer or Editor")],
        None => vec!["anonymous access is on but GF_AUTH_ANONYMOUS_ORG_ROLE is not set (Grafana's default is Viewer; say so)".to_owned()],
    }
}

/// The correlations the talk demonstrates are configured: Tempo → Loki on the `trace_id`
/// structured metadata, Tempo → Mimir (span metrics, service map), Loki → Tempo (derived
/// field on `trace_id`), and Mimir exemplars → Tempo with `exemplar_label` (Tempo's
/// `trace_id_label_name`).
pub fn check_correlations(doc: &Value, exemplar_label: &str) -> Vec<String> {
    let find = |uid: &str| {
        datasources(doc)
            .into_iter()
            .find(|d| d.get("uid").and_then(Value::as_str) == Some(uid))
    };
    let s = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_owned();
    let mut problems = Vec::new();
    match find("tempo") {
        None => problems.push("no datasource with uid tempo".to_owned()),
        Some(tempo) => {
            let logs = crate::yaml_get(tempo, &["jsonData", "tracesToLogsV2"]);
            if s(logs.and_then(|l| l.get("datasourceUid"))) != "loki" {
                problems.push("Tempo: tracesToLogsV2.datasourceUid is not loki".to_owned());
            }
            let custom = logs
                .and_then(|l| l.get("customQuery"))
                .and_then(Value::as_bool)
                == Some(true);
            if !custom
                || !s(logs.and_then(|l| l.get("query")))
                    .contains("trace_id=\"$${__trace.traceId}\"")
            {
                problems.push(
                    "Tempo: tracesToLogsV2 needs customQuery: true and a query with | trace_id=\"$${__trace.traceId}\" (OTLP logs keep trace_id as structured metadata, which filterByTraceID's line filter does not see)".to_owned(),
                );
            }
            for key in ["tracesToMetrics", "serviceMap"] {
                if s(crate::yaml_get(tempo, &["jsonData", key, "datasourceUid"])) != "mimir" {
                    problems.push(format!("Tempo: {key}.datasourceUid is not mimir"));
                }
            }
        }
    }
    let derived = find("loki")
        .and_then(|l| crate::yaml_get(l, &["jsonData", "derivedFields"]))
        .and_then(Value::as_sequence)
        .cloned()
        .unwrap_or_default();
    if !derived.iter().any(|f| {
        s(f.get("matcherType")) == "label"
            && s(f.get("matcherRegex")) == "trace_id"
            && s(f.get("datasourceUid")) == "tempo"
    }) {
        problems.push("Loki: no derived field {matcherType: label, matcherRegex: trace_id, datasourceUid: tempo}".to_owned());
    }
    let exemplars = find("mimir")
        .and_then(|m| crate::yaml_get(m, &["jsonData", "exemplarTraceIdDestinations"]))
        .and_then(Value::as_sequence)
        .cloned()
        .unwrap_or_default();
    if !exemplars
        .iter()
        .any(|e| s(e.get("name")) == exemplar_label && s(e.get("datasourceUid")) == "tempo")
    {
        problems.push(format!("Mimir: no exemplarTraceIdDestinations entry for Tempo's exemplar label {exemplar_label:?}"));
    }
    problems
}

/// The dashboard provider reads the directory compose mounts from `./grafana/dashboards`,
/// and the home dashboard (`GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH`), if set, is one of
/// the files in `dashboards_dir`.
pub fn check_dashboard_mounts(
    provider: &Value,
    grafana: &Value,
    dashboards_dir: &std::path::Path,
) -> Vec<String> {
    let mut problems = Vec::new();
    let paths: Vec<String> = provider
        .get("providers")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .filter_map(|p| {
            crate::yaml_get(p, &["options", "path"])?
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    if paths.is_empty() {
        return vec!["dashboards provider: no providers[].options.path".to_owned()];
    }
    let mounts = crate::yaml_strings(grafana.get("volumes"));
    let mounted: Vec<&str> = mounts
        .iter()
        .filter(|m| m.starts_with("./grafana/dashboards:"))
        .filter_map(|m| m.split(':').nth(1))
        .collect();
    for path in &paths {
        if !mounted.contains(&path.as_str()) {
            problems.push(format!("dashboards provider reads {path}, but compose mounts ./grafana/dashboards at {mounted:?}"));
        }
    }
    let env = crate::compose::environment(grafana);
    if let Some(home) = env.get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH") {
        let file = paths
            .iter()
            .find_map(|p| home.strip_prefix(&format!("{p}/")));
        match file {
            Some(f) if dashboards_dir.join(f).is_file() => {}
            _ => problems.push(format!(
                "home dashboard {home} is not a file of {}",
                dashboards_dir.display()
            )),
        }
    }
    problems
}

/// Built-in datasource UIDs that need no provisioning.
const BUILTIN: &[&str] = &["-- Grafana --", "-- Mixed --", "-- Dashboard --", "grafana"];

fn panels(dash: &Json) -> Vec<&Json> {
    fn walk<'a>(list: Option<&'a Json>, out: &mut Vec<&'a Json>) {
        for p in list.and_then(Json::as_array).into_iter().flatten() {
            out.push(p);
            walk(p.get("panels"), out);
        }
    }
    let mut out = Vec::new();
    walk(dash.get("panels"), &mut out);
    out
}

fn ds_uid(v: Option<&Json>) -> Option<String> {
    match v? {
        Json::String(s) => Some(s.clone()),
        Json::Object(o) => o.get("uid")?.as_str().map(str::to_owned),
        _ => None,
    }
}

/// One query of a dashboard: where it is, the datasource UID, and the expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub place: String,
    pub uid: Option<String>,
    pub expr: Option<String>,
    pub templating: bool,
    /// The query's "Min step" (`interval`): a duration, or a `$variable`.
    pub interval: Option<String>,
    /// The legend (`legendFormat`), whose `{{label}}`s name labels of the result.
    pub legend: Option<String>,
}

/// Every query of a dashboard (panel targets and templating variables).
pub fn queries(dash: &Json) -> Vec<Query> {
    let mut out = Vec::new();
    for p in panels(dash) {
        let title = p.get("title").and_then(Json::as_str).unwrap_or("?");
        let panel_uid = ds_uid(p.get("datasource"));
        if p.get("type").and_then(Json::as_str) != Some("row") && p.get("datasource").is_some() {
            out.push(Query {
                place: format!("panel {title:?}"),
                uid: panel_uid.clone(),
                expr: None,
                templating: false,
                interval: None,
                legend: None,
            });
        }
        for t in p
            .get("targets")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
        {
            let ref_id = t.get("refId").and_then(Json::as_str).unwrap_or("?");
            let text = |key: &str| {
                t.get(key)
                    .and_then(Json::as_str)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
            };
            out.push(Query {
                place: format!("panel {title:?} query {ref_id}"),
                uid: ds_uid(t.get("datasource")).or_else(|| panel_uid.clone()),
                expr: t.get("expr").and_then(Json::as_str).map(str::to_owned),
                templating: false,
                interval: text("interval"),
                legend: text("legendFormat"),
            });
        }
    }
    for v in dash
        .pointer("/templating/list")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
    {
        if v.get("type").and_then(Json::as_str) != Some("query") {
            continue;
        }
        let name = v.get("name").and_then(Json::as_str).unwrap_or("?");
        let q = v.get("query");
        let expr = q
            .and_then(|q| q.as_str().or_else(|| q.get("query")?.as_str()))
            .map(str::to_owned);
        out.push(Query {
            place: format!("variable ${name}"),
            uid: ds_uid(v.get("datasource")),
            expr,
            templating: true,
            interval: None,
            legend: None,
        });
    }
    out
}

/// A dashboard has a uid and a title, and every datasource it uses is provisioned (or is a
/// built-in one, or a `${var}` of a datasource variable).
pub fn check_dashboard(dash: &Json, uids: &BTreeMap<String, String>) -> Vec<String> {
    let mut problems = Vec::new();
    for key in ["uid", "title"] {
        if dash
            .get(key)
            .and_then(Json::as_str)
            .is_none_or(str::is_empty)
        {
            problems.push(format!("no {key}"));
        }
    }
    if dash.get("__inputs").is_some() {
        problems.push("has __inputs (\"export for sharing externally\"): file provisioning does not resolve them".to_owned());
    }
    let ds_vars: BTreeSet<String> = dash
        .pointer("/templating/list")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .filter(|v| v.get("type").and_then(Json::as_str) == Some("datasource"))
        .filter_map(|v| v.get("name")?.as_str().map(str::to_owned))
        .collect();
    for q in queries(dash) {
        match &q.uid {
            None if q.expr.is_some() => problems.push(format!("{}: no datasource", q.place)),
            None => {}
            Some(u) if uids.contains_key(u) || BUILTIN.contains(&u.as_str()) => {}
            Some(u)
                if u.starts_with('$')
                    && ds_vars.contains(u.trim_start_matches('$').trim_matches(['{', '}'])) => {}
            Some(u) => problems.push(format!(
                "{}: datasource uid {u:?} is not provisioned",
                q.place
            )),
        }
    }
    problems
}

/// Every metric name in the dashboard's PromQL queries (on a `prometheus` datasource) is in
/// `known`.
pub fn check_metric_names(
    dash: &Json,
    uids: &BTreeMap<String, String>,
    known: &BTreeSet<String>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for q in queries(dash) {
        let (Some(uid), Some(expr)) = (&q.uid, &q.expr) else {
            continue;
        };
        if uids.get(uid).map(String::as_str) != Some("prometheus") {
            continue;
        }
        let names = if q.templating {
            promql::templating_metric_names(expr)
        } else {
            promql::metric_names(expr)
        };
        match names {
            Err(e) => problems.push(format!("{}: cannot read {expr:?}: {e}", q.place)),
            Ok(names) => {
                for n in names.into_iter().filter(|n| !known.contains(n)) {
                    problems.push(format!(
                        "{}: metric {n:?} is not in docker/known-metrics.txt (the names the stack produces)",
                        q.place
                    ));
                }
            }
        }
    }
    problems
}

/// The PromQL queries of a dashboard (on a `prometheus` datasource): (place, expression).
fn promql_queries(dash: &Json, uids: &BTreeMap<String, String>) -> Vec<(Query, String)> {
    queries(dash)
        .into_iter()
        .filter_map(|q| {
            let expr = q.expr.clone()?;
            let kind = uids.get(q.uid.as_deref()?).map(String::as_str);
            (kind == Some("prometheus")).then_some((q, expr))
        })
        .collect()
}

/// The metric names of the dashboard's PromQL queries (unreadable expressions are left out:
/// [`check_metric_names`] reports them).
pub fn metric_names(dash: &Json, uids: &BTreeMap<String, String>) -> Vec<String> {
    promql_queries(dash, uids)
        .into_iter()
        .flat_map(|(q, expr)| {
            if q.templating {
                promql::templating_metric_names(&expr)
            } else {
                promql::metric_names(&expr)
            }
            .unwrap_or_default()
        })
        .collect()
}

/// Every `histogram_quantile` over one of Tempo's histograms has buckets that start at or
/// below 5 ms in `tempo` (see [`crate::tempo::check_quantile_buckets`]): with Tempo's default
/// service-graph buckets (0.1 s …) a p95 panel reads ~95 ms whatever the latency.
pub fn check_latency_buckets(
    dash: &Json,
    uids: &BTreeMap<String, String>,
    tempo: &Value,
) -> Vec<String> {
    promql_queries(dash, uids)
        .into_iter()
        .flat_map(|(q, expr)| crate::tempo::check_quantile_buckets(&q.place, &expr, tempo))
        .collect()
}

/// The LogQL queries of a dashboard (panel targets on a `loki` datasource): (query, expression).
pub fn logql_queries(dash: &Json, uids: &BTreeMap<String, String>) -> Vec<(Query, String)> {
    queries(dash)
        .into_iter()
        .filter_map(|q| {
            let expr = q.expr.clone()?;
            let kind = uids.get(q.uid.as_deref()?).map(String::as_str);
            (kind == Some("loki") && !q.templating).then_some((q, expr))
        })
        .collect()
}

/// Every LogQL query of the dashboard reads as LogQL, selects streams by index labels Loki
/// really makes of OTLP logs, filters and groups on labels or structured metadata these
/// records have, and (metric queries) uses a range that follows the panel's step: see
/// [`logql::check`]. A name the records do not have matches nothing: `{service="…"}` or
/// `| severity="INFO"` give an empty panel, not an error.
pub fn check_log_queries(
    dash: &Json,
    uids: &BTreeMap<String, String>,
    known: &KnownLogFields,
) -> Vec<String> {
    logql_queries(dash, uids)
        .into_iter()
        .flat_map(|(q, expr)| {
            logql::check(&expr, known, q.legend.as_deref())
                .into_iter()
                .map(move |p| format!("{}: {p}", q.place))
        })
        .collect()
}

/// The links into Loki name what Loki stores: Tempo's tracesToLogsV2 tags map to index
/// labels and its custom query passes [`logql::check`] (the file's `$$` read as `$`); a
/// Loki derived field matched by label (`matcherType: label`) names a label or structured
/// metadata of the records.
pub fn check_loki_links(doc: &Value, known: &KnownLogFields) -> Vec<String> {
    let mut problems = Vec::new();
    let s = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    for d in datasources(doc) {
        let name = s(d.get("name")).unwrap_or_else(|| "?".to_owned());
        if let Some(logs) = crate::yaml_get(d, &["jsonData", "tracesToLogsV2"]) {
            for tag in logs
                .get("tags")
                .and_then(Value::as_sequence)
                .into_iter()
                .flatten()
            {
                // Without a value, Grafana uses the key as the label name.
                let label = s(tag.get("value"))
                    .filter(|v| !v.is_empty())
                    .or_else(|| s(tag.get("key")))
                    .unwrap_or_default();
                if !known.labels.contains(&label) {
                    problems.push(format!(
                        "{name}: tracesToLogsV2 tag {:?} maps to {label:?}, which is not an index label Loki makes of OTLP logs (docker/known-log-fields.txt)",
                        s(tag.get("key")).unwrap_or_default()
                    ));
                }
            }
            if let Some(query) = s(logs.get("query")) {
                let query = query.replace("$$", "$");
                problems.extend(
                    logql::check(&query, known, None)
                        .into_iter()
                        .map(|p| format!("{name}: tracesToLogsV2 query: {p}")),
                );
            }
        }
        for f in crate::yaml_get(d, &["jsonData", "derivedFields"])
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
        {
            if s(f.get("matcherType")).as_deref() != Some("label") {
                continue;
            }
            let field = s(f.get("matcherRegex")).unwrap_or_default();
            if !known.labels.contains(&field) && !known.metadata.contains(&field) {
                problems.push(format!(
                    "{name}: derived field {:?} matches {field:?}, which is neither an index label nor structured metadata of the records (docker/known-log-fields.txt)",
                    s(f.get("name")).unwrap_or_default()
                ));
            }
        }
    }
    problems
}

/// The lines of `known-metrics.txt` without comments: a name, then its labels.
fn known_lines(text: &str) -> impl Iterator<Item = Vec<&str>> {
    text.lines()
        .map(|l| {
            l.split('#')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .collect::<Vec<_>>()
        })
        .filter(|words| !words.is_empty())
}

/// Parses `known-metrics.txt`: one name per line, `#` comments (the labels after a name are
/// [`parse_known_labels`]'s).
pub fn parse_known_metrics(text: &str) -> BTreeSet<String> {
    known_lines(text).map(|w| w[0].to_owned()).collect()
}

/// The label names of each metric: `None` means any label (`*` in the file).
pub type KnownLabels = BTreeMap<String, Option<BTreeSet<String>>>;

/// Parses the labels of `known-metrics.txt`: `name label label …` (no label: the metric has
/// none of its own), or `name *` (any label: `target_info` has every resource attribute).
/// The labels every series of a source gets (Mimir's `job` and promoted resource attributes,
/// Tempo's external labels) are not listed there: add them with [`add_labels`].
pub fn parse_known_labels(text: &str) -> KnownLabels {
    known_lines(text)
        .map(|w| {
            let labels =
                (w.get(1) != Some(&"*")).then(|| w[1..].iter().map(|l| (*l).to_owned()).collect());
            (w[0].to_owned(), labels)
        })
        .collect()
}

/// Adds `extra` to the labels of every metric for which `applies` is true.
pub fn add_labels(
    known: &mut KnownLabels,
    extra: &BTreeSet<String>,
    applies: impl Fn(&str) -> bool,
) {
    for (name, labels) in known.iter_mut() {
        if let (true, Some(labels)) = (applies(name), labels.as_mut()) {
            labels.extend(extra.iter().cloned());
        }
    }
}

/// The `{{label}}` names of a legend.
fn legend_labels(legend: &str) -> Vec<String> {
    legend
        .split("{{")
        .skip(1)
        .filter_map(|part| part.split_once("}}"))
        .map(|(label, _)| label.trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

/// Every label name a dashboard's PromQL uses is one its metrics have (`known`, see
/// [`parse_known_labels`]): the matchers of each selector against that selector's metric;
/// the `by (…)`/`on (…)` lists and the legend's `{{label}}`s against all the metrics of the
/// expression (`le` only with a `_bucket`); a `label_values(metric, label)` variable's label
/// against its metric. A label the series do not have matches nothing — `service` where the
/// app metrics say `service_name` gives an empty panel, not an error.
pub fn check_label_names(
    dash: &Json,
    uids: &BTreeMap<String, String>,
    known: &KnownLabels,
) -> Vec<String> {
    let mut problems = Vec::new();
    let has = |metric: &str, label: &str| -> Option<bool> {
        let labels = known.get(metric)?;
        Some(labels.as_ref().is_none_or(|l| l.contains(label)))
    };
    for (q, expr) in promql_queries(dash, uids) {
        if q.templating {
            if let Some((Some(selector), label)) = promql::label_values_args(&expr)
                && let Ok(scan) = promql::scan(selector)
            {
                for n in &scan.names {
                    if has(n, label) == Some(false) {
                        problems.push(format!(
                            "{}: {n} has no label {label:?} (docker/known-metrics.txt)",
                            q.place
                        ));
                    }
                }
                // The selector's own matchers: label_values(metric{a=~"$x"}, b).
                for (metric, labels) in &scan.selectors {
                    let Some(metric) = metric else { continue };
                    for l in labels {
                        if has(metric, l) == Some(false) {
                            problems.push(format!(
                                "{}: {metric} has no label {l:?} (docker/known-metrics.txt lists its labels)",
                                q.place
                            ));
                        }
                    }
                }
            }
            continue;
        }
        let Ok(scan) = promql::scan(&expr) else {
            continue; // check_metric_names reports it
        };
        for (metric, labels) in &scan.selectors {
            let Some(metric) = metric else { continue };
            for l in labels {
                if has(metric, l) == Some(false) {
                    problems.push(format!(
                        "{}: {metric} has no label {l:?} (docker/known-metrics.txt lists its labels)",
                        q.place
                    ));
                }
            }
        }
        // Grouping and legend labels: checked only when every metric of the expression has
        // a known label list and no label_replace/label_join makes new ones.
        if scan.makes_labels || scan.names.is_empty() {
            continue;
        }
        let mut union = BTreeSet::new();
        let mut all_listed = true;
        for n in &scan.names {
            match known.get(n) {
                Some(Some(labels)) => union.extend(labels.iter().map(String::as_str)),
                // any label (target_info), or an unknown metric (check_metric_names's)
                Some(None) | None => all_listed = false,
            }
        }
        if !all_listed {
            continue;
        }
        let metrics = scan
            .names
            .iter()
            .map(String::as_str)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
            .join(", ");
        let legend = q.legend.as_deref().map(legend_labels).unwrap_or_default();
        for (what, l) in scan
            .grouping
            .iter()
            .map(|l| ("groups by", l))
            .chain(legend.iter().map(|l| ("legend shows", l)))
        {
            if !union.contains(l.as_str()) {
                problems.push(format!(
                    "{}: {what} {l:?}, a label none of its metrics ({metrics}) has",
                    q.place
                ));
            }
        }
    }
    problems
}

/// The dashboard's templating variables.
fn variables(dash: &Json) -> Vec<&Json> {
    dash.pointer("/templating/list")
        .and_then(Json::as_array)
        .map(|l| l.iter().collect())
        .unwrap_or_default()
}

/// The Grafana variables a text refers to: `$name`, `${name}`, `${name:format}`,
/// `${name.field}`, `[[name]]`, `[[name:format]]`, in order. Grafana's own (`$__rate_interval`,
/// `${__from}`, …: names starting with `__`) and `$1`-style regex references (a leading
/// digit, as in `label_replace`) are left out.
pub fn variable_refs(text: &str) -> Vec<String> {
    let b = text.as_bytes();
    let word = |start: usize| {
        let end = b[start..]
            .iter()
            .position(|c| !(c.is_ascii_alphanumeric() || *c == b'_'))
            .map_or(b.len(), |p| start + p);
        (&text[start..end], end)
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let (name, next) = match (b[i], b.get(i + 1)) {
            (b'$', Some(b'{')) => word(i + 2),
            (b'$', Some(_)) => word(i + 1),
            (b'[', Some(b'[')) => word(i + 2),
            _ => {
                i += 1;
                continue;
            }
        };
        if !name.is_empty()
            && !name.starts_with("__")
            && !name.starts_with(|c: char| c.is_ascii_digit())
        {
            out.push(name.to_owned());
        }
        i = next.max(i + 1);
    }
    out
}

/// Every string inside a JSON value.
fn strings_in<'a>(v: &'a Json, out: &mut Vec<&'a str>) {
    match v {
        Json::String(s) => out.push(s),
        Json::Array(a) => a.iter().for_each(|x| strings_in(x, out)),
        Json::Object(o) => o.values().for_each(|x| strings_in(x, out)),
        _ => {}
    }
}

/// The variables of a dashboard are consistent with its queries: every `$variable` a panel
/// query (any string of a target: the expression, the Min step, the legend, a TraceQL
/// query), a panel's datasource or a variable's query refers to is a variable of the
/// dashboard (a typo otherwise stays in the query as literal text and matches nothing), no
/// variable refers to itself, and every variable is used (by a query, a datasource, another
/// variable or a panel's `repeat`; ad hoc filters apply by themselves).
pub fn check_variable_references(dash: &Json) -> Vec<String> {
    let mut problems = Vec::new();
    let defined: BTreeSet<&str> = variables(dash)
        .iter()
        .filter_map(|v| v.get("name").and_then(Json::as_str))
        .collect();
    let list = defined
        .iter()
        .map(|d| format!("${d}"))
        .collect::<Vec<_>>()
        .join(", ");
    // (where, the values to search, the variable's own name)
    let mut places: Vec<(String, Vec<&Json>, Option<&str>)> = Vec::new();
    let mut used = BTreeSet::new();
    for p in panels(dash) {
        let title = p.get("title").and_then(Json::as_str).unwrap_or("?");
        let mut values: Vec<&Json> = p.get("targets").into_iter().collect();
        values.extend(p.get("datasource"));
        places.push((format!("panel {title:?}"), values, None));
        if let Some(r) = p.get("repeat").and_then(Json::as_str) {
            used.insert(r.to_owned());
            if !defined.contains(r) {
                problems.push(format!(
                    "panel {title:?}: repeats over {r:?}, which is not a variable of this dashboard"
                ));
            }
        }
    }
    for v in variables(dash) {
        let name = v.get("name").and_then(Json::as_str);
        let values = ["query", "definition", "datasource"]
            .iter()
            .filter_map(|k| v.get(*k))
            .collect();
        places.push((format!("variable ${}", name.unwrap_or("?")), values, name));
    }
    for (place, values, own) in places {
        let mut texts = Vec::new();
        for v in values {
            strings_in(v, &mut texts);
        }
        let mut seen = BTreeSet::new();
        for r in texts.into_iter().flat_map(variable_refs) {
            if !seen.insert(r.clone()) {
                continue;
            }
            if Some(r.as_str()) == own {
                problems.push(format!("{place}: refers to itself (${r})"));
            } else if !defined.contains(r.as_str()) {
                problems.push(format!(
                    "{place}: ${r} is not a variable of this dashboard ({list}): Grafana leaves it in the query as text"
                ));
            } else {
                used.insert(r);
            }
        }
    }
    for v in variables(dash) {
        let name = v.get("name").and_then(Json::as_str).unwrap_or("?");
        if v.get("type").and_then(Json::as_str) != Some("adhoc") && !used.contains(name) {
            problems.push(format!(
                "variable ${name} is used by no query, datasource or other variable: a selector that filters nothing"
            ));
        }
    }
    problems
}

/// Where a query is, and its `(label, operator, value)` matchers (or why it cannot be read).
type QueryMatchers = (String, Result<Vec<(String, String, String)>, String>);

/// The matchers of every PromQL (panels, and the selectors of `label_values` variables) and
/// LogQL query of a dashboard.
fn matchers_of_queries(dash: &Json, uids: &BTreeMap<String, String>) -> Vec<QueryMatchers> {
    let mut out = Vec::new();
    for (q, expr) in promql_queries(dash, uids) {
        let selector = if q.templating {
            match promql::label_values_args(&expr) {
                Some((Some(s), _)) => s.to_owned(),
                Some((None, _)) => continue,
                None => expr.clone(),
            }
        } else {
            expr.clone()
        };
        let found = promql::scan(&selector).map(|s| {
            s.matchers
                .into_iter()
                .map(|m| (m.name, m.op, m.value))
                .collect()
        });
        out.push((q.place, found));
    }
    for (q, expr) in logql_queries(dash, uids) {
        let found = logql::scan(&expr).map(|s| {
            s.selectors
                .into_iter()
                .flatten()
                .map(|m| (m.name, m.op, m.value))
                .collect()
        });
        out.push((q.place, found));
    }
    out
}

/// Filters on labels a series may lack keep it when their variable is "All": a matcher on
/// one of `optional` (labels made of resource attributes other than `service.name`: see
/// [`crate::resources::optional_labels`]) whose value is a variable is a regex match (`=~`),
/// and that variable's "All" is `.*` (`includeAll`, `allValue: ".*"`), which also matches a
/// missing label. With Grafana's default All (every value it found, `(a|b)`) or `.+`, the
/// series of steps 2–5 — no `service.namespace` — would disappear as soon as the dashboard
/// filters on it; `=` would compare with the text `.*`.
pub fn check_optional_label_filters(
    dash: &Json,
    uids: &BTreeMap<String, String>,
    optional: &BTreeSet<String>,
) -> Vec<String> {
    let vars: BTreeMap<&str, &Json> = variables(dash)
        .into_iter()
        .filter_map(|v| Some((v.get("name")?.as_str()?, v)))
        .collect();
    let mut problems = Vec::new();
    for (place, found) in matchers_of_queries(dash, uids) {
        let Ok(found) = found else {
            continue; // the metric- and log-query checks report it
        };
        for (label, op, value) in found {
            if !optional.contains(&label) {
                continue;
            }
            for r in variable_refs(&value) {
                let Some(v) = vars.get(r.as_str()) else {
                    continue; // check_variable_references reports it
                };
                let all = v.get("includeAll").and_then(Json::as_bool) == Some(true);
                let all_value = v.get("allValue").and_then(Json::as_str);
                if op != "=~" || !all || all_value != Some(".*") {
                    problems.push(format!(
                        "{place}: {label}{op}\"{value}\": {label} is missing on series without that resource attribute (steps 2-5): filter with =~ and give ${r} includeAll with allValue \".*\" (now {op}, includeAll {all}, allValue {all_value:?}), or All hides them"
                    ));
                }
            }
        }
    }
    problems
}

/// A Prometheus duration (`15s`, `1m30s`, `500ms`) in milliseconds.
pub fn duration_ms(text: &str) -> Option<u64> {
    let mut total = 0u64;
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let ms = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            "y" => 31_536_000_000,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(ms)?)?;
        rest = &rest[unit_len..];
    }
    Some(total)
}

/// The scrape interval (`jsonData.timeInterval`) of each datasource, in milliseconds.
/// Grafana's default is 15 s.
pub fn scrape_intervals(doc: &Value) -> BTreeMap<String, u64> {
    datasources(doc)
        .into_iter()
        .filter_map(|d| {
            let uid = d.get("uid")?.as_str()?.to_owned();
            let interval = crate::yaml_get(d, &["jsonData", "timeInterval"])
                .and_then(Value::as_str)
                .map_or(Some(15_000), duration_ms)?;
            Some((uid, interval))
        })
        .collect()
}

/// The default value of a dashboard variable (`current.value`).
fn variable_default<'a>(dash: &'a Json, name: &str) -> Option<&'a str> {
    dash.pointer("/templating/list")?
        .as_array()?
        .iter()
        .find(|v| v.get("name").and_then(Json::as_str) == Some(name))?
        .pointer("/current/value")?
        .as_str()
}

/// Rate windows that work whatever the export interval, up to `export_ms`:
///
/// - every range of a dashboard's PromQL is `$__rate_interval` (or `$__range`), never a fixed
///   window: a fixed `[1m]` holds at most one point of a metric exported every 60 s, and
///   `rate()` needs two;
/// - a query with a range over an app metric (pushed over OTLP, every 60 s by default:
///   anything that is not Tempo's) has a scrape interval of at least `export_ms`: its
///   "Min step" (`interval`, a duration or a variable's default) or else its datasource's
///   `timeInterval` (`scrape_ms`). Grafana makes `$__rate_interval` at least 4× that, and a
///   Min step replaces the datasource's scrape interval in that formula.
pub fn check_rate_windows(
    dash: &Json,
    uids: &BTreeMap<String, String>,
    scrape_ms: &BTreeMap<String, u64>,
    export_ms: u64,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (q, expr) in promql_queries(dash, uids) {
        let Ok(scan) = promql::scan(&expr) else {
            continue; // check_metric_names reports it
        };
        for r in &scan.ranges {
            let window = r.split(':').next().unwrap_or("").trim();
            if !matches!(
                window,
                "$__rate_interval" | "${__rate_interval}" | "$__range" | "${__range}"
            ) {
                problems.push(format!(
                    "{}: fixed range [{r}]: use [$__rate_interval], which follows the scrape interval (a fixed window holds too few points when metrics arrive every 60 s)",
                    q.place
                ));
            }
        }
        let app = scan
            .names
            .iter()
            .find(|n| !crate::tempo::is_generator_name(n));
        let (Some(app), false) = (app, scan.ranges.is_empty()) else {
            continue;
        };
        let (source, ms) = match &q.interval {
            Some(i) if i.starts_with('$') => {
                let name = i.trim_start_matches('$').trim_matches(['{', '}']);
                let default = variable_default(dash, name);
                (
                    format!("Min step {i} (default {default:?})"),
                    default.and_then(duration_ms),
                )
            }
            Some(i) => (format!("Min step {i:?}"), duration_ms(i)),
            None => (
                "the datasource's scrape interval (timeInterval)".to_owned(),
                q.uid.as_ref().and_then(|u| scrape_ms.get(u)).copied(),
            ),
        };
        if ms.is_none_or(|ms| ms < export_ms) {
            problems.push(format!(
                "{}: a rate over {app}, an app metric exported every {} s by default, but $__rate_interval follows {source}: set the query's Min step (interval) to at least {} s, so that the window holds 4 exports",
                q.place,
                export_ms / 1000,
                export_ms / 1000
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const DS: &str = r#"
apiVersion: 1
datasources:
  - {name: Mimir, type: prometheus, uid: mimir, url: "http://mimir:9009/prometheus", editable: false,
     jsonData: {exemplarTraceIdDestinations: [{name: trace_id, datasourceUid: tempo}]}}
  - {name: Tempo, type: tempo, uid: tempo, url: "http://tempo:3200", editable: false,
     jsonData: {tracesToLogsV2: {datasourceUid: loki}, serviceMap: {datasourceUid: mimir}}}
  - {name: Loki, type: loki, uid: loki, url: "http://loki:3100", editable: false}
"#;

    fn ds() -> Value {
        serde_yaml_ng::from_str(DS).unwrap()
    }

    #[test]
    fn good_datasources_pass() {
        assert!(check_datasources(&ds()).is_empty());
        assert_eq!(datasource_types(&ds())["mimir"], "prometheus");
    }

    #[test]
    fn dangling_uid_duplicate_or_editable_fail() {
        let bad: Value = serde_yaml_ng::from_str(
            &DS.replace("datasourceUid: loki", "datasourceUid: logs")
                .replace("uid: loki, url", "uid: tempo, url")
                .replace("editable: false}\n", "}\n"),
        )
        .unwrap();
        let problems = check_datasources(&bad);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("\"logs\"")));
        assert!(problems.iter().any(|p| p.contains("used twice")));
        assert!(problems.iter().any(|p| p.contains("editable")));
    }

    #[test]
    fn single_dollar_fails() {
        assert!(
            check_dollar_escaping(
                "url: \"$${__value.raw}\"\nquery: '{$$__tags}'\n# ${IGNORED}\nprice: 5$\n"
            )
            .is_empty()
        );
        assert_eq!(
            check_dollar_escaping("url: \"${__value.raw}\"\nq: '$__tags'\np: $$ok $BAD\n").len(),
            3
        );
    }

    #[test]
    fn anonymous_admin_fails() {
        let env = |role: &str| {
            BTreeMap::from([
                ("GF_AUTH_ANONYMOUS_ENABLED".to_owned(), "true".to_owned()),
                ("GF_AUTH_ANONYMOUS_ORG_ROLE".to_owned(), role.to_owned()),
            ])
        };
        assert!(check_anonymous_role(&env("Viewer")).is_empty());
        assert!(check_anonymous_role(&env("Editor")).is_empty());
        assert_eq!(check_anonymous_role(&env("Admin")).len(), 1);
    }

    const CORRELATED: &str = r#"
datasources:
  - {uid: mimir, jsonData: {exemplarTraceIdDestinations: [{name: trace_id, datasourceUid: tempo}]}}
  - {uid: loki, jsonData: {derivedFields: [{name: trace_id, matcherType: label, matcherRegex: trace_id, datasourceUid: tempo}]}}
  - uid: tempo
    jsonData:
      tracesToLogsV2: {datasourceUid: loki, customQuery: true, query: '{$${__tags}} | trace_id="$${__trace.traceId}"'}
      tracesToMetrics: {datasourceUid: mimir}
      serviceMap: {datasourceUid: mimir}
"#;

    #[test]
    fn missing_correlations_fail() {
        let good: Value = serde_yaml_ng::from_str(CORRELATED).unwrap();
        assert_eq!(check_correlations(&good, "trace_id"), Vec::<String>::new());
        assert_eq!(check_correlations(&good, "traceID").len(), 1);
        let bad: Value = serde_yaml_ng::from_str(
            &CORRELATED
                .replace("customQuery: true", "filterByTraceID: true")
                .replace("matcherType: label", "matcherType: regex")
                .replace(
                    "serviceMap: {datasourceUid: mimir}",
                    "serviceMap: {datasourceUid: prometheus}",
                ),
        )
        .unwrap();
        assert_eq!(
            check_correlations(&bad, "trace_id").len(),
            3,
            "{:?}",
            check_correlations(&bad, "trace_id")
        );
    }

    #[test]
    fn unmounted_dashboards_fail() {
        let provider: Value =
            serde_yaml_ng::from_str("providers: [{options: {path: /var/lib/grafana/dashboards}}]")
                .unwrap();
        let grafana = |mount: &str, home: &str| -> Value {
            serde_yaml_ng::from_str(&format!(
                "volumes: ['./grafana/dashboards:{mount}:ro']\nenvironment: {{GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH: {home}}}"
            ))
            .unwrap()
        };
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let ok = grafana(
            "/var/lib/grafana/dashboards",
            "/var/lib/grafana/dashboards/Cargo.toml",
        );
        assert!(check_dashboard_mounts(&provider, &ok, dir).is_empty());
        let bad = grafana("/dashboards", "/var/lib/grafana/dashboards/missing.json");
        assert_eq!(check_dashboard_mounts(&provider, &bad, dir).len(), 2);
    }

    fn dash(expr: &str, uid: &str) -> Json {
        json!({
            "uid": "d", "title": "D",
            "templating": {"list": [{"name": "service", "type": "query", "datasource": {"type": "prometheus", "uid": "mimir"},
                                     "query": {"query": "label_values(traces_spanmetrics_calls_total, service)"}}]},
            "panels": [
                {"type": "row", "title": "r", "panels": []},
                {"type": "timeseries", "title": "p", "datasource": {"uid": uid},
                 "targets": [{"refId": "A", "expr": expr}]},
                {"type": "table", "title": "t", "datasource": {"type": "tempo", "uid": "tempo"},
                 "targets": [{"refId": "A", "query": "{ status = error }"}]}
            ]
        })
    }

    #[test]
    fn unknown_datasource_in_dashboard_fails() {
        let uids = datasource_types(&ds());
        assert!(check_dashboard(&dash("up", "mimir"), &uids).is_empty());
        let problems = check_dashboard(&dash("up", "prometheus"), &uids);
        assert_eq!(problems.len(), 2, "{problems:?}"); // the panel and its target
        let mut no_uid = dash("up", "mimir");
        no_uid["uid"] = json!("");
        assert_eq!(check_dashboard(&no_uid, &uids), ["no uid"]);
    }

    #[test]
    fn unknown_metric_in_dashboard_fails() {
        let uids = datasource_types(&ds());
        let known = parse_known_metrics(
            "# c\ntraces_spanmetrics_calls_total\ntraces_spanmetrics_latency_bucket # h\n",
        );
        let good = dash("sum(rate(traces_spanmetrics_calls_total[5m]))", "mimir");
        assert!(check_metric_names(&good, &uids, &known).is_empty());
        let bad = dash("sum(rate(http_requests_total[5m]))", "mimir");
        let problems = check_metric_names(&bad, &uids, &known);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("http_requests_total"));
        let regex = dash("{__name__=~\"traces_.*\"}", "mimir");
        assert!(check_metric_names(&regex, &uids, &known)[0].contains("cannot read"));
        assert_eq!(
            metric_names(&good, &uids),
            [
                "traces_spanmetrics_calls_total", // the panel's query
                "traces_spanmetrics_calls_total"  // the $service variable
            ]
        );
    }

    /// known-metrics.txt's format, with an app histogram.
    const KNOWN: &str = "# c
traces_spanmetrics_calls_total   service span_name span_kind status_code
http_server_request_duration_seconds_bucket  le http_route http_response_status_code  # h
http_server_request_duration_seconds_count   http_route http_response_status_code
users_created_total
target_info  *
";

    #[test]
    fn unknown_app_metric_in_dashboard_fails() {
        let uids = datasource_types(&ds());
        let known = parse_known_metrics(KNOWN);
        assert_eq!(known.len(), 5, "{known:?}");
        let p95 = |m: &str| {
            format!(
                "histogram_quantile(0.95, sum by (le, service_name) (rate({m}{{service_name=~\"$service\"}}[$__rate_interval])))"
            )
        };
        let good = dash(&p95("http_server_request_duration_seconds_bucket"), "mimir");
        assert!(check_metric_names(&good, &uids, &known).is_empty());
        // One letter off: seconds -> second.
        let typo = dash(&p95("http_server_request_duration_second_bucket"), "mimir");
        let problems = check_metric_names(&typo, &uids, &known);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains(
                "\"http_server_request_duration_second_bucket\" is not in docker/known-metrics.txt"
            ),
            "{problems:?}"
        );
        // The OTel name, or the base name of a classic histogram, is not a series either.
        for wrong in [
            "http.server.request.duration",
            "http_server_request_duration_seconds",
        ] {
            let d = dash(&format!("sum(rate({{__name__=\"{wrong}\"}}[5m]))"), "mimir");
            assert_eq!(check_metric_names(&d, &uids, &known).len(), 1, "{wrong}");
        }
    }

    fn with_legend(expr: &str, legend: &str) -> Json {
        let mut d = dash(expr, "mimir");
        d["panels"][1]["targets"][0]["legendFormat"] = json!(legend);
        d
    }

    #[test]
    fn labels_a_metric_does_not_have_fail() {
        let uids = datasource_types(&ds());
        let mut known = parse_known_labels(KNOWN);
        assert_eq!(known["users_created_total"], Some(BTreeSet::new()));
        assert_eq!(known["target_info"], None);
        let resource = BTreeSet::from(["service_name".to_owned(), "job".to_owned()]);
        add_labels(&mut known, &resource, |n| !n.starts_with("traces_"));
        let count = "http_server_request_duration_seconds_count";
        let good = with_legend(
            &format!(
                "sum by (service_name, http_route) (rate({count}{{service_name=~\"$service\", http_response_status_code=~\"5..\"}}[$__rate_interval]))"
            ),
            "{{service_name}} {{http_route}}",
        );
        assert_eq!(
            check_label_names(&good, &uids, &known),
            Vec::<String>::new()
        );
        // The span metrics' label on an app metric, in a matcher, a by list and a legend.
        let bad = with_legend(
            &format!(
                "sum by (service, http_route) (rate({count}{{service=~\"$service\"}}[$__rate_interval]))"
            ),
            "{{service}} {{route}}",
        );
        let problems = check_label_names(&bad, &uids, &known);
        assert_eq!(problems.len(), 4, "{problems:#?}");
        assert!(problems[0].contains("has no label \"service\""));
        assert!(problems[1].contains("groups by \"service\""));
        assert!(problems[3].contains("legend shows \"route\""));
        // le only with the buckets; the variable's label too.
        let le = dash(
            &format!("sum by (le) (rate({count}[$__rate_interval]))"),
            "mimir",
        );
        assert_eq!(check_label_names(&le, &uids, &known).len(), 1);
        let mut var = dash("users_created_total", "mimir");
        var["templating"]["list"][0]["query"]["query"] =
            json!("label_values(users_created_total, service)");
        let problems = check_label_names(&var, &uids, &known);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("variable $service"));
        // target_info has any label; label_replace makes its own; an unknown metric is
        // check_metric_names's business.
        for ok in [
            "sum by (telemetry_sdk_language) (target_info{host_name=\"x\"})",
            "sum by (x) (label_replace(users_created_total, \"x\", \"$1\", \"job\", \"(.*)\"))",
            "sum by (whatever) (rate(nope_total{any=\"1\"}[$__rate_interval]))",
        ] {
            assert!(
                check_label_names(&dash(ok, "mimir"), &uids, &known).is_empty(),
                "{ok}"
            );
        }
    }

    fn with_interval(expr: &str, interval: Option<&str>, default: &str) -> Json {
        let mut d = dash(expr, "mimir");
        if let Some(i) = interval {
            d["panels"][1]["targets"][0]["interval"] = json!(i);
        }
        d["templating"]["list"].as_array_mut().unwrap().push(
            json!({"name": "export_interval", "type": "custom", "query": "60s,5s",
                         "current": {"text": default, "value": default}}),
        );
        d
    }

    #[test]
    fn rate_windows_too_short_for_60_s_exports_fail() {
        let uids = datasource_types(&ds());
        let scrape = scrape_intervals(&ds());
        assert_eq!(scrape["mimir"], 15_000); // Grafana's default: DS sets no timeInterval
        let check = |d: &Json| check_rate_windows(d, &uids, &scrape, 60_000);
        let app = "sum(rate(users_created_total[$__rate_interval]))";
        for (interval, default, ok) in [
            (Some("$export_interval"), "60s", true),
            (Some("${export_interval}"), "1m", true),
            (Some("$export_interval"), "5s", false),
            (Some("2m"), "5s", true),
            (Some("30s"), "60s", false),
            (None, "60s", false), // the datasource's 15 s: a 60 s window
        ] {
            let problems = check(&with_interval(app, interval, default));
            assert_eq!(
                problems.is_empty(),
                ok,
                "{interval:?} {default}: {problems:?}"
            );
        }
        // A fixed window fails on any metric; Tempo's metrics need no Min step.
        let fixed = with_interval(
            "sum(rate(users_created_total[1m]))",
            Some("$export_interval"),
            "60s",
        );
        assert!(check(&fixed)[0].contains("fixed range [1m]"));
        let tempo = "sum(rate(traces_spanmetrics_calls_total[$__rate_interval]))";
        assert!(check(&with_interval(tempo, None, "60s")).is_empty());
        let total = "sum(increase(users_created_total[$__range]))";
        assert!(check(&with_interval(total, Some("$export_interval"), "60s")).is_empty());
        // A datasource scrape interval of 60 s would do too.
        let slow = BTreeMap::from([("mimir".to_owned(), 60_000)]);
        assert!(
            check_rate_windows(&with_interval(app, None, "5s"), &uids, &slow, 60_000).is_empty()
        );
        assert_eq!(duration_ms("1m30s"), Some(90_000));
        assert_eq!(duration_ms("500ms"), Some(500));
        assert_eq!(duration_ms("5"), None);
        assert_eq!(duration_ms("$x"), None);
    }

    #[test]
    fn latency_panel_over_default_buckets_fails() {
        let uids = datasource_types(&ds());
        let p95 = "histogram_quantile(0.95, sum by (le, client, server) (rate(traces_service_graph_request_server_seconds_bucket[$__rate_interval])))";
        let tempo = |buckets: &str| -> Value {
            serde_yaml_ng::from_str(&format!(
                "overrides: {{defaults: {{metrics_generator: {{processor: {{service_graphs: {{{buckets}}}}}}}}}}}"
            ))
            .unwrap()
        };
        let fine = tempo("histogram_buckets: [0.001, 0.01, 0.1, 1]");
        let default = tempo("peer_attributes: [peer.service]");
        assert!(check_latency_buckets(&dash(p95, "mimir"), &uids, &fine).is_empty());
        let problems = check_latency_buckets(&dash(p95, "mimir"), &uids, &default);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with("panel \"p\" query A:"),
            "{problems:?}"
        );
        // Not PromQL on a provisioned Prometheus: not checked here.
        assert!(check_latency_buckets(&dash(p95, "prometheus"), &uids, &default).is_empty());
    }

    fn known_logs() -> KnownLogFields {
        logql::parse_known_log_fields(
            "service_name label\ntrace_id metadata\nseverity_text metadata\n",
        )
        .unwrap()
    }

    fn log_dash(expr: &str, legend: &str) -> Json {
        let mut d = dash("up", "mimir");
        d["panels"].as_array_mut().unwrap().push(json!(
            {"type": "logs", "title": "l", "datasource": {"type": "loki", "uid": "loki"},
             "targets": [{"refId": "A", "expr": expr, "legendFormat": legend}]}));
        d
    }

    #[test]
    fn unknown_log_label_or_field_in_dashboard_fails() {
        let uids = datasource_types(&ds());
        let known = known_logs();
        let good = log_dash(
            r#"sum by (severity_text) (rate({service_name=~"$service"} | severity_text=~"$severity" [$__auto]))"#,
            "{{severity_text}}",
        );
        assert_eq!(logql_queries(&good, &uids).len(), 1); // not the PromQL ones
        assert_eq!(
            check_log_queries(&good, &uids, &known),
            Vec::<String>::new()
        );
        // The span metrics' label as a stream label; severity for severity_text.
        for (expr, want) in [
            (r#"{service=~"$service"}"#, "stream label \"service\""),
            (
                r#"{service_name=~"$service"} | severity="INFO""#,
                "field \"severity\"",
            ),
            (r#"{service_name=~"$service"} | trace_id="#, "cannot read"),
        ] {
            let problems = check_log_queries(&log_dash(expr, ""), &uids, &known);
            assert_eq!(problems.len(), 1, "{expr}: {problems:?}");
            assert!(
                problems[0].starts_with("panel \"l\" query A: ") && problems[0].contains(want),
                "{expr}: {problems:?}"
            );
        }
    }

    #[test]
    fn loki_links_to_unknown_names_fail() {
        let known = known_logs();
        let good: Value = serde_yaml_ng::from_str(CORRELATED).unwrap();
        assert_eq!(check_loki_links(&good, &known), Vec::<String>::new());
        let with_tags = CORRELATED.replace(
            "tracesToLogsV2: {",
            "tracesToLogsV2: {tags: [{key: service.name, value: service_name}], ",
        );
        let good: Value = serde_yaml_ng::from_str(&with_tags).unwrap();
        assert_eq!(check_loki_links(&good, &known), Vec::<String>::new());
        let bad: Value = serde_yaml_ng::from_str(
            &with_tags
                .replace("value: service_name", "value: service")
                .replace(
                    "trace_id=\"$${__trace.traceId}\"",
                    "traceId=\"$${__trace.traceId}\"",
                )
                .replace("matcherRegex: trace_id", "matcherRegex: traceID"),
        )
        .unwrap();
        let problems = check_loki_links(&bad, &known);
        assert_eq!(problems.len(), 3, "{problems:#?}");
        for want in [
            "derived field \"trace_id\" matches \"traceID\"",
            "tag \"service.name\" maps to \"service\"",
            "tracesToLogsV2 query: {${__tags}} | traceId=\"${__trace.traceId}\": field \"traceId\"",
        ] {
            assert!(
                problems.iter().any(|p| p.contains(want)),
                "{want:?} not in {problems:#?}"
            );
        }
    }

    /// A dashboard with `$namespace` (All: `all`) and `$service` variables, a PromQL panel and
    /// a Loki panel.
    fn resource_dash(promql: &str, logql: &str, all: Option<&str>) -> Json {
        let mut namespace = json!({"name": "namespace", "type": "query",
            "datasource": {"type": "prometheus", "uid": "mimir"},
            "query": {"query": "label_values(target_info, service_namespace)"},
            "includeAll": true, "multi": true});
        if let Some(a) = all {
            namespace["allValue"] = json!(a);
        }
        json!({
            "uid": "d", "title": "D",
            "templating": {"list": [
                namespace,
                {"name": "service", "type": "query", "datasource": {"type": "prometheus", "uid": "mimir"},
                 "query": {"query": "label_values(users_created_total{service_namespace=~\"$namespace\"}, service_name)"},
                 "includeAll": true, "allValue": ".+"}
            ]},
            "panels": [
                {"type": "timeseries", "title": "p", "datasource": {"uid": "mimir"},
                 "targets": [{"refId": "A", "expr": promql, "interval": "$namespace"}]},
                {"type": "logs", "title": "l", "datasource": {"uid": "loki"},
                 "targets": [{"refId": "A", "expr": logql}]}
            ]
        })
    }

    #[test]
    fn finds_variable_references() {
        assert_eq!(
            variable_refs(
                r#"a{b=~"$service", c="${namespace}", d="${env:regex}", e="[[old]]", f="$__rate_interval"} $1 ${__from} $"#
            ),
            ["service", "namespace", "env", "old"]
        );
        assert!(
            variable_refs("label_replace(x, \"y\", \"$1\", \"z\", \"(.*)\") =~ \"^a$\"").is_empty()
        );
    }

    #[test]
    fn unknown_self_or_unused_variable_fails() {
        let promql = r#"sum(users_created_total{service_name=~"$service", service_namespace=~"$namespace"})"#;
        let logql = r#"{service_name=~"$service", service_namespace=~"$namespace"}"#;
        let good = resource_dash(promql, logql, Some(".*"));
        assert_eq!(check_variable_references(&good), Vec::<String>::new());
        // One letter off in a panel's query, and in a variable's query.
        let typo = resource_dash(
            &promql.replace("$namespace", "$namspace"),
            logql,
            Some(".*"),
        );
        let problems = check_variable_references(&typo);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with("panel \"p\": $namspace is not a variable of this dashboard"),
            "{problems:?}"
        );
        let mut var = good.clone();
        var["templating"]["list"][1]["query"]["query"] = json!(
            "label_values(users_created_total{service_namespace=~\"$environment\"}, service_name)"
        );
        let problems = check_variable_references(&var);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with("variable $service: $environment is not"),
            "{problems:?}"
        );
        // A variable nothing uses, and one that uses itself.
        let unused = resource_dash(
            "sum(users_created_total)",
            "{service_name=\"a\"}",
            Some(".*"),
        );
        let problems = check_variable_references(&unused);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with("variable $service is used by no query"),
            "{problems:?}"
        );
        let mut itself = good.clone();
        itself["templating"]["list"][0]["query"]["query"] = json!(
            "label_values(target_info{service_namespace=~\"$namespace\"}, service_namespace)"
        );
        assert!(check_variable_references(&itself)[0].contains("refers to itself"));
    }

    #[test]
    fn unknown_label_in_a_variable_selector_fails() {
        let uids = datasource_types(&ds());
        let mut known = parse_known_labels(KNOWN);
        let resource = BTreeSet::from(["service_name".to_owned(), "service_namespace".to_owned()]);
        add_labels(&mut known, &resource, |n| !n.starts_with("traces_"));
        let d = resource_dash(
            "sum(users_created_total)",
            "{service_name=\"a\"}",
            Some(".*"),
        );
        assert_eq!(check_label_names(&d, &uids, &known), Vec::<String>::new());
        let mut typo = d.clone();
        typo["templating"]["list"][1]["query"]["query"] = json!(
            "label_values(users_created_total{service_namspace=~\"$namespace\"}, service_name)"
        );
        let problems = check_label_names(&typo, &uids, &known);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with(
                "variable $service: users_created_total has no label \"service_namspace\""
            ),
            "{problems:?}"
        );
    }

    #[test]
    fn optional_label_filter_whose_all_drops_series_fails() {
        let uids = datasource_types(&ds());
        let optional = BTreeSet::from(["service_namespace".to_owned()]);
        let promql = r#"sum(users_created_total{service_name=~"$service", service_namespace=~"$namespace"})"#;
        let logql = r#"{service_name=~"$service", service_namespace=~"$namespace"}"#;
        let good = resource_dash(promql, logql, Some(".*"));
        assert_eq!(
            check_optional_label_filters(&good, &uids, &optional),
            Vec::<String>::new()
        );
        // $service's All is .+, but service_name is on every series: fine. $namespace's All
        // .+ (or Grafana's default) drops the series without service_namespace: the panel,
        // the Loki panel and the $service variable's selector each fail.
        for all in [Some(".+"), None] {
            let problems =
                check_optional_label_filters(&resource_dash(promql, logql, all), &uids, &optional);
            assert_eq!(problems.len(), 3, "{all:?}: {problems:#?}");
            assert!(
                problems
                    .iter()
                    .any(|p| p.starts_with("panel \"l\" query A: service_namespace=~"))
            );
            assert!(
                problems
                    .iter()
                    .any(|p| p.starts_with("variable $service: "))
            );
        }
        // `=` with a variable compares with the text ".*".
        let eq = resource_dash(
            &promql.replace("service_namespace=~", "service_namespace="),
            logql,
            Some(".*"),
        );
        let problems = check_optional_label_filters(&eq, &uids, &optional);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("service_namespace=\"$namespace\""),
            "{problems:?}"
        );
    }
}
