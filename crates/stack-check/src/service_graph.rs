//! How the service graph names its nodes: the collector and Alloy add `peer.service` to the
//! CLIENT spans, and Tempo names nodes by it.
//!
//! Tempo v3.0.3 (`modules/generator/processor/servicegraphs/servicegraphs.go`):
//!
//! - a database call (a CLIENT span with `db.namespace`, `db.name` or `db.system`) goes to a
//!   node named by `peer.service`, else `server.address`, else `network.peer.address`, else the
//!   database name (`upsertDatabaseRequest`, l.301-351);
//! - a CLIENT span whose server never answers goes to a virtual node named by the first of
//!   `peer_attributes` the span has (`upsertPeerNode` l.283-290, `onExpire` l.403-447); the
//!   same list names the caller of a root SERVER span.
//!
//! The app's spans carry no `peer.service` (deprecated in the semantic conventions), and
//! Postgres and Valkey both have `server.address` 127.0.0.1: without a rule in the pipeline
//! they are one node "127.0.0.1", and so is the email-service while it is down. These checks
//! make sure that both pipelines have the rule, in their traces path, and that Tempo reads it.

use std::collections::{BTreeMap, BTreeSet};

use serde_yaml_ng::Value;

use crate::alloy::{Block, Expr, Stmt};
use crate::{yaml_get, yaml_keys, yaml_strings};

/// The attribute the rules set and Tempo 3.0.3 reads (`semconv.PeerServiceKey`, v1.25.0). Its
/// successor `service.peer.name` (semantic conventions v1.39) is not read by Tempo 3.0.3.
pub const PEER: &str = r#"span.attributes["peer.service"]"#;

fn normalize(statement: &str) -> String {
    statement.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Strings end and `(` `[` `{` are closed, in order: a typo in an OTTL statement inside a YAML
/// or Alloy string otherwise shows only when the container starts.
fn check_delimiters(statement: &str) -> Result<(), String> {
    let mut stack = Vec::new();
    let mut chars = statement.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => loop {
                match chars.next() {
                    None => return Err("unterminated string".to_owned()),
                    Some('\\') => {
                        chars.next();
                    }
                    Some('"') => break,
                    Some(_) => {}
                }
            },
            '(' | '[' | '{' => stack.push(c),
            ')' | ']' | '}' => {
                let open = match c {
                    ')' => '(',
                    ']' => '[',
                    _ => '{',
                };
                if stack.pop() != Some(open) {
                    return Err(format!("unbalanced {c:?}"));
                }
            }
            _ => {}
        }
    }
    match stack.last() {
        Some(c) => Err(format!("unclosed {c:?}")),
        None => Ok(()),
    }
}

/// One naming rule: a statement that sets `peer.service` on CLIENT spans that have none, from
/// `value` (an attribute the value must read), when `when` (an attribute the condition must
/// test) is there.
struct Rule {
    what: &'static str,
    value: &'static str,
    when: &'static str,
}

const RULES: &[Rule] = &[
    Rule {
        what: "database CLIENT spans (Postgres and Valkey would be one node \"127.0.0.1\")",
        value: r#"span.attributes["db.system.name"]"#,
        when: r#"span.attributes["db.system.name"] != nil"#,
    },
    Rule {
        what: "HTTP CLIENT spans (the email-service, while it does not answer, would be a node \"127.0.0.1\")",
        value: r#"span.attributes["server.address"]"#,
        when: r#"span.attributes["http.request.method"] != nil"#,
    },
];

fn satisfies(statement: &str, rule: &Rule) -> bool {
    let s = normalize(statement);
    let Some((action, condition)) = s.split_once(" where ") else {
        return false;
    };
    action.starts_with(&format!("set({PEER},"))
        && action.contains(rule.value)
        && condition.contains("span.kind == SPAN_KIND_CLIENT")
        && condition.contains(&format!("{PEER} == nil"))
        && condition.contains(rule.when)
}

/// The OTTL statements of one pipeline give database and HTTP CLIENT spans a `peer.service`
/// (from `db.system.name`, and from `server.address`), only on CLIENT spans and only when the
/// span has none; and each statement's strings and brackets are closed.
pub fn check_peer_statements(what: &str, statements: &[String]) -> Vec<String> {
    let mut problems: Vec<String> = statements
        .iter()
        .filter_map(|s| {
            check_delimiters(s)
                .err()
                .map(|e| format!("{what}: OTTL statement {s:?}: {e}"))
        })
        .collect();
    for rule in RULES {
        if !statements.iter().any(|s| satisfies(s, rule)) {
            problems.push(format!(
                "{what}: no statement names the service-graph peer of {}: want set({PEER}, …{}…) where span.kind == SPAN_KIND_CLIENT and {PEER} == nil and {}",
                rule.what, rule.value, rule.when
            ));
        }
    }
    problems
}

fn collector_transform_statements(doc: &Value, id: &str) -> Vec<String> {
    let mut out = Vec::new();
    for item in yaml_get(doc, &["processors", id, "trace_statements"])
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
    {
        match item {
            Value::String(s) => out.push(normalize(s)),
            other => out.extend(
                yaml_strings(other.get("statements"))
                    .iter()
                    .map(|s| normalize(s)),
            ),
        }
    }
    out
}

/// The collector's OTTL trace statements, of the `transform` processors in its traces
/// pipelines (`traces`, `traces/…`), whitespace-normalized.
pub fn collector_statements(doc: &Value) -> Vec<String> {
    let pipelines = yaml_keys(yaml_get(doc, &["service", "pipelines"]));
    let mut out = Vec::new();
    for p in pipelines
        .iter()
        .filter(|p| *p == "traces" || p.starts_with("traces/"))
    {
        for id in yaml_strings(yaml_get(doc, &["service", "pipelines", p, "processors"])) {
            if id == "transform" || id.starts_with("transform/") {
                out.extend(collector_transform_statements(doc, &id));
            }
        }
    }
    out
}

/// Every traces pipeline of the collector has a `transform` processor that names the
/// service-graph peers ([`check_peer_statements`]).
pub fn check_collector(doc: &Value) -> Vec<String> {
    let pipelines: Vec<String> = yaml_keys(yaml_get(doc, &["service", "pipelines"]))
        .into_iter()
        .filter(|p| p == "traces" || p.starts_with("traces/"))
        .collect();
    if pipelines.is_empty() {
        return vec!["otel-collector.yaml: no traces pipeline".to_owned()];
    }
    let mut problems = Vec::new();
    for p in pipelines {
        let statements: Vec<String> =
            yaml_strings(yaml_get(doc, &["service", "pipelines", &p, "processors"]))
                .into_iter()
                .filter(|id| id == "transform" || id.starts_with("transform/"))
                .flat_map(|id| collector_transform_statements(doc, &id))
                .collect();
        problems.extend(check_peer_statements(
            &format!("otel-collector.yaml pipeline {p}"),
            &statements,
        ));
    }
    problems
}

type Component = (String, String);

fn components(stmts: &[Stmt]) -> BTreeMap<Component, &Block> {
    stmts
        .iter()
        .filter_map(|s| match s {
            Stmt::Block(b) => Some(((b.name.clone(), b.label.clone()?), b)),
            Stmt::Attr { .. } => None,
        })
        .collect()
}

fn attr<'a>(body: &'a [Stmt], name: &str) -> Option<&'a Expr> {
    body.iter().find_map(|s| match s {
        Stmt::Attr { name: n, value, .. } if n == name => Some(value),
        _ => None,
    })
}

fn block<'a>(body: &'a [Stmt], name: &str) -> impl Iterator<Item = &'a Block> {
    body.iter().filter_map(move |s| match s {
        Stmt::Block(b) if b.name == name => Some(b),
        _ => None,
    })
}

/// The components a component's `output { traces = [...] }` sends to.
fn traces_targets(b: &Block) -> Vec<Component> {
    let mut out = Vec::new();
    for output in block(&b.body, "output") {
        if let Some(Expr::Array(items)) = attr(&output.body, "traces") {
            for item in items {
                if let Expr::Path(p) = item
                    && p.len() >= 4
                {
                    out.push((p[..p.len() - 2].join("."), p[p.len() - 2].clone()));
                }
            }
        }
    }
    out
}

fn strings(e: Option<&Expr>) -> Vec<String> {
    match e {
        Some(Expr::Array(items)) => items
            .iter()
            .filter_map(|i| match i {
                Expr::Str(s) => Some(normalize(s)),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The components on the traces path from Alloy's receivers (`otelcol.receiver.*`), in order
/// of discovery.
pub fn alloy_traces_path(stmts: &[Stmt]) -> Vec<Component> {
    let all = components(stmts);
    let mut seen = BTreeSet::new();
    let mut order = Vec::new();
    let mut todo: Vec<Component> = all
        .keys()
        .filter(|(name, _)| name.starts_with("otelcol.receiver."))
        .cloned()
        .collect();
    while let Some(c) = todo.pop() {
        if !seen.insert(c.clone()) {
            continue;
        }
        if let Some(b) = all.get(&c) {
            todo.extend(traces_targets(b));
        }
        order.push(c);
    }
    order
}

/// Alloy's OTTL trace statements, of the `otelcol.processor.transform` components on the
/// traces path (`statements { trace = [...] }`), whitespace-normalized.
pub fn alloy_statements(stmts: &[Stmt]) -> Vec<String> {
    let all = components(stmts);
    let mut out = Vec::new();
    for c in alloy_traces_path(stmts) {
        if c.0 != "otelcol.processor.transform" {
            continue;
        }
        if let Some(b) = all.get(&c) {
            for s in block(&b.body, "statements") {
                out.extend(strings(attr(&s.body, "trace")));
            }
        }
    }
    out
}

/// Alloy's traces path reaches an exporter and passes through an `otelcol.processor.transform`
/// that names the service-graph peers ([`check_peer_statements`]; written in a
/// `statements { trace = [...] }` block, like the collector's).
pub fn check_alloy(stmts: &[Stmt]) -> Vec<String> {
    let path = alloy_traces_path(stmts);
    let mut problems = Vec::new();
    if !path.iter().any(|(n, _)| n.starts_with("otelcol.exporter.")) {
        problems.push(format!(
            "config.alloy: the traces from the receivers reach no exporter (path: {path:?})"
        ));
    }
    problems.extend(check_peer_statements(
        "config.alloy traces path",
        &alloy_statements(stmts),
    ));
    problems
}

/// Tempo names the virtual nodes by `peer_attributes` (default `peer.service`, `db.name`,
/// `db.system`; `servicegraphs.go:69-71`): `peer.service` must be in it, or a server that
/// never answers gets no name; and not `server.address`, which on a root SERVER span (curl,
/// `make load`) is the server's own host, so the caller would be named after the server.
pub fn check_peer_attributes(tempo: &Value) -> Vec<String> {
    let path = [
        "overrides",
        "defaults",
        "metrics_generator",
        "processor",
        "service_graphs",
        "peer_attributes",
    ];
    let attrs = match yaml_get(tempo, &path) {
        Some(v) => yaml_strings(Some(v)),
        None => vec!["peer.service".into(), "db.name".into(), "db.system".into()],
    };
    let mut problems = Vec::new();
    if !attrs.iter().any(|a| a == "peer.service") {
        problems.push(format!(
            "tempo.yaml: service_graphs.peer_attributes {attrs:?} lacks peer.service, the name the collector and Alloy set"
        ));
    }
    if attrs.iter().any(|a| a == "server.address") {
        problems.push(format!(
            "tempo.yaml: service_graphs.peer_attributes {attrs:?} has server.address: a root SERVER span's server.address is the server itself, so callers without tracing would be named after it"
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alloy;

    const DB: &str = r#"set(span.attributes["peer.service"], span.attributes["db.system.name"]) where span.kind == SPAN_KIND_CLIENT and span.attributes["peer.service"] == nil and span.attributes["db.system.name"] != nil"#;
    const HTTP: &str = r#"set(span.attributes["peer.service"], Concat([span.attributes["server.address"], span.attributes["server.port"]], ":")) where span.kind == SPAN_KIND_CLIENT and span.attributes["peer.service"] == nil and span.attributes["http.request.method"] != nil"#;

    fn both() -> Vec<String> {
        vec![DB.to_owned(), HTTP.to_owned()]
    }

    #[test]
    fn good_statements_pass() {
        assert!(check_peer_statements("x", &both()).is_empty());
        // Line breaks (a YAML folded string) do not matter.
        let folded = vec![DB.replace(" where ", "\n  where "), HTTP.to_owned()];
        assert!(check_peer_statements("x", &folded).is_empty());
    }

    #[test]
    fn missing_or_wrong_statements_fail() {
        let problems = check_peer_statements("x", &[]);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("database") && problems[1].contains("HTTP"));
        for broken in [
            // on every span kind: a SERVER span would get the peer name too
            DB.replace("span.kind == SPAN_KIND_CLIENT and ", ""),
            // overwrites a peer.service the span has
            DB.replace(r#" and span.attributes["peer.service"] == nil"#, ""),
            // another attribute
            DB.replace(
                r#"span.attributes["peer.service"], span"#,
                r#"span.attributes["service.peer.name"], span"#,
            ),
            // no condition at all
            DB.split(" where ").next().unwrap().to_owned(),
        ] {
            let problems = check_peer_statements("x", &[broken.clone(), HTTP.to_owned()]);
            assert_eq!(problems.len(), 1, "{broken}: {problems:?}");
            assert!(problems[0].contains("database"), "{problems:?}");
        }
        let typo = DB.replace("[\"db.system.name\"])", "[\"db.system.name\"]");
        let problems = check_peer_statements("x", &[typo, HTTP.to_owned()]);
        assert!(problems[0].contains("unclosed '('"), "{problems:?}");
        let unterminated = format!("{HTTP} and span.name == \"x");
        assert!(
            check_peer_statements("x", &[DB.to_owned(), unterminated])[0]
                .contains("unterminated string")
        );
    }

    fn collector(processors: &str, transform_statements: &str) -> Value {
        serde_yaml_ng::from_str(&format!(
            "processors:\n  batch: {{}}\n  transform/service_graph:\n    trace_statements:\n{transform_statements}\nservice:\n  pipelines:\n    traces: {{processors: {processors}}}\n    metrics: {{processors: [transform/service_graph, batch]}}\n"
        ))
        .unwrap()
    }

    fn yaml_list(items: &[&str]) -> String {
        items.iter().map(|s| format!("      - '{s}'\n")).collect()
    }

    #[test]
    fn collector_without_the_rules_in_its_traces_pipeline_fails() {
        let good = collector("[transform/service_graph, batch]", &yaml_list(&[DB, HTTP]));
        assert_eq!(check_collector(&good), Vec::<String>::new());
        assert_eq!(collector_statements(&good), both());
        // The advanced form (a list of groups) counts too.
        let grouped = collector(
            "[transform/service_graph]",
            &format!("      - statements:\n          - '{DB}'\n          - '{HTTP}'\n"),
        );
        assert!(
            check_collector(&grouped).is_empty(),
            "{:?}",
            check_collector(&grouped)
        );

        // Defined, but only in the metrics pipeline.
        let elsewhere = collector("[batch]", &yaml_list(&[DB, HTTP]));
        assert_eq!(check_collector(&elsewhere).len(), 2);
        assert!(collector_statements(&elsewhere).is_empty());
        // In the traces pipeline, but one rule is missing.
        let half = collector("[transform/service_graph, batch]", &yaml_list(&[HTTP]));
        assert_eq!(check_collector(&half).len(), 1);
        // No traces pipeline at all.
        let none: Value = serde_yaml_ng::from_str("service: {pipelines: {logs: {}}}").unwrap();
        assert_eq!(
            check_collector(&none),
            ["otel-collector.yaml: no traces pipeline"]
        );
    }

    fn alloy_config(limiter_traces: &str) -> String {
        format!(
            r#"
otelcol.receiver.otlp "default" {{
  output {{
    traces = [otelcol.processor.memory_limiter.default.input]
  }}
}}
otelcol.processor.memory_limiter "default" {{
  output {{
    traces = [{limiter_traces}]
  }}
}}
otelcol.processor.transform "service_graph" {{
  statements {{
    trace = [
      `{DB}`,
      `{HTTP}`,
    ]
  }}
  output {{
    traces = [otelcol.processor.batch.default.input]
  }}
}}
otelcol.processor.batch "default" {{
  output {{
    traces = [otelcol.exporter.otlp.tempo.input]
  }}
}}
otelcol.exporter.otlp "tempo" {{
  client {{
    endpoint = "tempo:4317"
  }}
}}
"#
        )
    }

    #[test]
    fn alloy_without_the_rules_on_its_traces_path_fails() {
        let good = alloy::parse(&alloy_config(
            "otelcol.processor.transform.service_graph.input",
        ))
        .unwrap();
        assert_eq!(check_alloy(&good), Vec::<String>::new());
        assert_eq!(alloy_statements(&good), both());
        assert_eq!(alloy_traces_path(&good).len(), 5);

        // The transform is defined, but the traces bypass it.
        let bypass = alloy::parse(&alloy_config("otelcol.processor.batch.default.input")).unwrap();
        let problems = check_alloy(&bypass);
        assert_eq!(problems.len(), 2, "{problems:?}");
        // The traces go nowhere.
        let nowhere = alloy::parse(&alloy_config("otelcol.processor.batch.nothing.input")).unwrap();
        assert!(check_alloy(&nowhere)[0].contains("reach no exporter"));
    }

    #[test]
    fn peer_attributes_without_peer_service_or_with_server_address_fail() {
        let tempo = |attrs: &str| -> Value {
            serde_yaml_ng::from_str(&format!(
                "overrides: {{defaults: {{metrics_generator: {{processor: {{service_graphs: {{peer_attributes: {attrs}}}}}}}}}}}"
            ))
            .unwrap()
        };
        assert!(check_peer_attributes(&tempo("[peer.service, messaging.system]")).is_empty());
        assert!(check_peer_attributes(&Value::Null).is_empty()); // Tempo's default
        assert_eq!(
            check_peer_attributes(&tempo("[db.system.name, messaging.system]")).len(),
            1
        );
        assert_eq!(
            check_peer_attributes(&tempo("[peer.service, server.address]")).len(),
            1
        );
        assert_eq!(check_peer_attributes(&tempo("[server.address]")).len(), 2);
    }
}
