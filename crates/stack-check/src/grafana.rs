//! Checks of Grafana's provisioning: datasources, their cross-references and `$` escaping;
//! dashboards, the datasources they use and the metric names of their PromQL queries.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value as Json;
use serde_yaml_ng::Value;

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
            });
        }
        for t in p
            .get("targets")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
        {
            let ref_id = t.get("refId").and_then(Json::as_str).unwrap_or("?");
            out.push(Query {
                place: format!("panel {title:?} query {ref_id}"),
                uid: ds_uid(t.get("datasource")).or_else(|| panel_uid.clone()),
                expr: t.get("expr").and_then(Json::as_str).map(str::to_owned),
                templating: false,
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

/// Parses `known-metrics.txt`: one name per line, `#` comments.
pub fn parse_known_metrics(text: &str) -> BTreeSet<String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
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
}
