//! The metric names, label names and range windows a PromQL expression uses, so that
//! dashboards can be checked against the list of names and labels the stack produces
//! (`docker/known-metrics.txt`).
//!
//! A tokenizer, not a full parser: identifiers are metric names unless they are followed by
//! `(` (functions, aggregations), are PromQL keywords, or sit inside `{…}` (label matchers),
//! `[…]` (ranges) or the label list of `by`/`without`/`on`/`ignoring`/`group_left`/
//! `group_right`. Grafana variables (`$service`, `${x}`, `$__rate_interval`) are skipped.

/// Keywords and aggregation operators that are never metric names.
const KEYWORDS: &[&str] = &[
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
    "atan2",
    "inf",
    "nan",
    "start",
    "end",
];

/// Keywords followed by a parenthesised list of label names.
const LABEL_LISTS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

fn skip_string(b: &[u8], mut i: usize) -> Result<usize, String> {
    let q = b[i];
    i += 1;
    while i < b.len() {
        match b[i] {
            b'\\' if q != b'`' => i += 2,
            c if c == q => return Ok(i + 1),
            _ => i += 1,
        }
    }
    Err("unterminated string".to_owned())
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c == b':'
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b':'
}

/// Skips to the byte after the `close` that matches the opener at `i`, honouring strings.
fn skip_group(b: &[u8], i: usize, open: u8, close: u8) -> Result<usize, String> {
    let mut depth = 0;
    let mut j = i;
    while j < b.len() {
        match b[j] {
            b'"' | b'\'' | b'`' => {
                j = skip_string(b, j)?;
                continue;
            }
            c if c == open => depth += 1,
            c if c == close => {
                depth -= 1;
                if depth == 0 {
                    return Ok(j + 1);
                }
            }
            _ => {}
        }
        j += 1;
    }
    Err(format!("unbalanced {:?}", open as char))
}

/// `__name__="x"` matchers inside a `{…}` selector: the names, or an error for a regex
/// matcher (its names cannot be checked).
fn names_in_matchers(inner: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut rest = inner;
    while let Some(i) = rest.find("__name__") {
        let after = rest[i + 8..].trim_start();
        if after.starts_with("=~") || after.starts_with("!~") || after.starts_with("!=") {
            return Err("a regex or negative __name__ matcher: write the metric names out so they can be checked".to_owned());
        }
        let value = after.strip_prefix('=').map(str::trim_start).unwrap_or("");
        let q = value
            .chars()
            .next()
            .filter(|c| ['"', '\'', '`'].contains(c));
        if let Some(q) = q {
            let end = value[1..].find(q).ok_or("unterminated string")?;
            out.push(value[1..1 + end].to_owned());
        }
        rest = &rest[i + 8..];
    }
    Ok(out)
}

/// The label names of the matchers inside a `{…}` selector (`__name__` and Grafana
/// variables such as `$__tags` left out).
fn matcher_labels(inner: &str) -> Result<Vec<String>, String> {
    let b = inner.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i <= b.len() {
        if i < b.len() && matches!(b[i], b'"' | b'\'' | b'`') {
            i = skip_string(b, i)?;
            continue;
        }
        if i == b.len() || b[i] == b',' {
            let piece = inner[start..i].trim_start().as_bytes();
            let end = piece
                .iter()
                .position(|c| !is_ident(*c))
                .unwrap_or(piece.len());
            if end > 0 && is_ident_start(piece[0]) {
                let name = String::from_utf8_lossy(&piece[..end]).into_owned();
                if name != "__name__" {
                    out.push(name);
                }
            }
            start = i + 1;
        }
        i += 1;
    }
    Ok(out)
}

/// One label matcher of a selector: `name op "value"` (the value without its quotes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matcher {
    pub name: String,
    pub op: String,
    pub value: String,
}

/// The matchers inside a `{…}` selector with their operators and values (`__name__` and
/// Grafana variables standing for whole matchers, such as `$__tags`, left out).
fn matchers_in(inner: &str) -> Result<Vec<Matcher>, String> {
    let b = inner.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i <= b.len() {
        if i < b.len() && matches!(b[i], b'"' | b'\'' | b'`') {
            i = skip_string(b, i)?;
            continue;
        }
        if i == b.len() || b[i] == b',' {
            let piece = inner[start..i].trim();
            start = i + 1;
            i += 1;
            let pb = piece.as_bytes();
            let end = pb.iter().position(|c| !is_ident(*c)).unwrap_or(pb.len());
            if end == 0 || !is_ident_start(pb[0]) {
                continue;
            }
            let name = &piece[..end];
            let rest = piece[end..].trim_start();
            let Some(op) = ["=~", "!~", "!=", "="]
                .into_iter()
                .find(|op| rest.starts_with(op))
            else {
                return Err(format!("{piece:?}: a matcher without an operator"));
            };
            let value = rest[op.len()..].trim();
            let unquoted = value
                .strip_prefix(['"', '\'', '`'])
                .and_then(|v| v.strip_suffix(['"', '\'', '`']))
                .ok_or_else(|| format!("{piece:?}: the value is not a string"))?;
            if name != "__name__" {
                out.push(Matcher {
                    name: name.to_owned(),
                    op: op.to_owned(),
                    value: unquoted.to_owned(),
                });
            }
            continue;
        }
        i += 1;
    }
    Ok(out)
}

/// What a PromQL expression reads: its metric names, the label names it filters, groups and
/// matches on, and its range windows.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Scan {
    /// Metric names, in order of appearance (duplicates kept).
    pub names: Vec<String>,
    /// Every selector: its metric (`None` for a `{…}` without a `__name__`) and the label
    /// names of its matchers.
    pub selectors: Vec<(Option<String>, Vec<String>)>,
    /// The label names of `by`/`without`/`on`/`ignoring`/`group_left`/`group_right` lists.
    pub grouping: Vec<String>,
    /// The text of every `[…]` range (`5m`, `$__rate_interval`, `5m:1m` for a subquery).
    pub ranges: Vec<String>,
    /// The expression calls `label_replace` or `label_join`, which make labels of their own.
    pub makes_labels: bool,
    /// Every matcher of every selector, with its operator and value, in order.
    pub matchers: Vec<Matcher>,
}

/// Reads `expr` (see the module's documentation for what it recognises).
pub fn scan(expr: &str) -> Result<Scan, String> {
    let b = expr.as_bytes();
    let mut out = Scan::default();
    let mut i = 0;
    let mut depth = 0usize;
    while i < b.len() {
        let c = b[i];
        match c {
            b'"' | b'\'' | b'`' => i = skip_string(b, i)?,
            b'(' => {
                depth += 1;
                i += 1;
            }
            b')' => {
                depth = depth.checked_sub(1).ok_or("unbalanced \")\"")?;
                i += 1;
            }
            b'{' => {
                let end = skip_group(b, i, b'{', b'}')?;
                let inner = &expr[i + 1..end - 1];
                let names = names_in_matchers(inner)?;
                out.selectors
                    .push((names.first().cloned(), matcher_labels(inner)?));
                out.matchers.extend(matchers_in(inner)?);
                out.names.extend(names);
                i = end;
            }
            b'[' => {
                let end = skip_group(b, i, b'[', b']')?;
                out.ranges.push(expr[i + 1..end - 1].trim().to_owned());
                i = end;
            }
            b'$' => {
                i += 1;
                if b.get(i) == Some(&b'{') {
                    i = skip_group(b, i, b'{', b'}')?;
                } else {
                    while i < b.len() && is_ident(b[i]) {
                        i += 1;
                    }
                }
            }
            c if c.is_ascii_digit()
                || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit)) =>
            {
                // numbers and durations (5m, 1.5e3, 0x1f)
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.') {
                    i += 1;
                }
            }
            c if is_ident_start(c) => {
                let start = i;
                while i < b.len() && is_ident(b[i]) {
                    i += 1;
                }
                let word = &expr[start..i];
                let next = skip_ws(b, i);
                if LABEL_LISTS.contains(&word) {
                    if b.get(next) == Some(&b'(') {
                        let end = skip_group(b, next, b'(', b')')?;
                        out.grouping.extend(
                            expr[next + 1..end - 1]
                                .split(',')
                                .map(str::trim)
                                .filter(|l| !l.is_empty() && !l.starts_with('$'))
                                .map(str::to_owned),
                        );
                        i = end;
                    }
                } else if b.get(next) == Some(&b'(') {
                    // a function call or an aggregation
                    out.makes_labels |= matches!(word, "label_replace" | "label_join");
                } else if KEYWORDS.contains(&word) {
                    // a keyword: no metric
                } else if b.get(next) == Some(&b'{') {
                    let end = skip_group(b, next, b'{', b'}')?;
                    let inner = &expr[next + 1..end - 1];
                    let also = names_in_matchers(inner)?;
                    out.selectors
                        .push((Some(word.to_owned()), matcher_labels(inner)?));
                    out.matchers.extend(matchers_in(inner)?);
                    out.names.push(word.to_owned());
                    out.names.extend(also);
                    i = end;
                } else {
                    out.selectors.push((Some(word.to_owned()), Vec::new()));
                    out.names.push(word.to_owned());
                }
            }
            _ => i += 1,
        }
    }
    if depth != 0 {
        return Err("unbalanced \"(\"".to_owned());
    }
    Ok(out)
}

/// The metric names used by `expr`, in order of appearance (duplicates kept).
pub fn metric_names(expr: &str) -> Result<Vec<String>, String> {
    scan(expr).map(|s| s.names)
}

/// The arguments of a Grafana `label_values(metric, label)` or `label_values(label)` query:
/// (the selector, if any, and the label).
pub fn label_values_args(query: &str) -> Option<(Option<&str>, &str)> {
    let args = query
        .trim()
        .strip_prefix("label_values(")?
        .strip_suffix(')')?;
    Some(match args.rsplit_once(',') {
        Some((selector, label)) => (Some(selector.trim()), label.trim()),
        None => (None, args.trim()),
    })
}

/// The metric a Grafana templating query reads: `label_values(metric, label)` → `metric`;
/// `label_values(label)` → none; anything else is PromQL.
pub fn templating_metric_names(query: &str) -> Result<Vec<String>, String> {
    let q = query.trim();
    if let Some((selector, _label)) = label_values_args(q) {
        return selector.map_or(Ok(Vec::new()), metric_names);
    }
    if let Some(inner) = q
        .strip_prefix("query_result(")
        .and_then(|r| r.strip_suffix(')'))
    {
        return metric_names(inner);
    }
    if q.starts_with("metrics(") {
        return Err(format!(
            "{q:?}: metrics(regex) cannot be checked against the known names"
        ));
    }
    metric_names(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(e: &str) -> Vec<String> {
        metric_names(e).unwrap()
    }

    #[test]
    fn finds_metric_names() {
        assert_eq!(
            names(
                r#"sum by (service, span_name) (rate(traces_spanmetrics_calls_total{service=~"$service", span_kind="SPAN_KIND_SERVER"}[$__rate_interval]))"#
            ),
            ["traces_spanmetrics_calls_total"]
        );
        assert_eq!(
            names(
                r#"histogram_quantile(0.95, sum by (le) (rate(traces_spanmetrics_latency_bucket{$__tags, span_name="${__span.name}"}[5m])))"#
            ),
            ["traces_spanmetrics_latency_bucket"]
        );
        assert_eq!(
            names(
                "sum(rate(a_total[1m])) / on (job) group_left (instance) sum without (x) (b) > bool 0.5 offset 5m"
            ),
            ["a_total", "b"]
        );
        assert_eq!(
            names(r#"{__name__="up", job="x"} or count(nodes:cpu:sum)"#),
            ["up", "nodes:cpu:sum"]
        );
        assert_eq!(names("1 + 2e3"), Vec::<String>::new());
    }

    #[test]
    fn unknowable_names_fail() {
        assert!(metric_names(r#"{__name__=~"traces_.*"}"#).is_err());
        assert!(metric_names(r#"up{job="x}"#).is_err());
        assert!(metric_names("sum(rate(x[5m])").is_err());
    }

    #[test]
    fn finds_labels_and_ranges() {
        let s = scan(
            r#"histogram_quantile(0.95, sum by (le, service_name) (rate(http_server_request_duration_seconds_bucket{service_name=~"$service", http_route!="/a,b", $__tags}[$__rate_interval])))"#,
        )
        .unwrap();
        assert_eq!(s.names, ["http_server_request_duration_seconds_bucket"]);
        assert_eq!(
            s.selectors,
            [(
                Some("http_server_request_duration_seconds_bucket".to_owned()),
                vec!["service_name".to_owned(), "http_route".to_owned()]
            )]
        );
        assert_eq!(s.grouping, ["le", "service_name"]);
        assert_eq!(s.ranges, ["$__rate_interval"]);
        assert!(!s.makes_labels);

        let s = scan(
            r#"sum(rate(a_total{x="1"}[5m])) / on (job) group_left (instance) b{__name__="c", y!~"2"} or label_replace(d[10m:1m], "z", "$1", "x", "(.*)")"#,
        )
        .unwrap();
        assert_eq!(s.names, ["a_total", "b", "c", "d"]);
        assert_eq!(s.selectors[0].1, ["x"]);
        assert_eq!(s.selectors[1], (Some("b".to_owned()), vec!["y".to_owned()]));
        assert_eq!(s.selectors[2], (Some("d".to_owned()), vec![]));
        assert_eq!(s.grouping, ["job", "instance"]);
        assert_eq!(s.ranges, ["5m", "10m:1m"]);
        assert!(s.makes_labels);
        assert!(scan(r#"up{job="x}"#).is_err());
    }

    #[test]
    fn finds_matcher_values() {
        let s = scan(
            r#"sum(rate(a_total{service_name=~"$service", service_namespace=~"${namespace}", x!="a,b", $__tags}[5m])) * on (job) group_left b{__name__="c", y!~'2'}"#,
        )
        .unwrap();
        let m = |name: &str, op: &str, value: &str| Matcher {
            name: name.to_owned(),
            op: op.to_owned(),
            value: value.to_owned(),
        };
        assert_eq!(
            s.matchers,
            [
                m("service_name", "=~", "$service"),
                m("service_namespace", "=~", "${namespace}"),
                m("x", "!=", "a,b"),
                m("y", "!~", "2"),
            ]
        );
        assert!(scan(r#"a{x}"#).is_err(), "a matcher without an operator");
        assert!(scan(r#"a{x=1}"#).is_err(), "a value that is not a string");
    }

    #[test]
    fn templating_queries() {
        assert_eq!(
            templating_metric_names("label_values(traces_spanmetrics_calls_total, service)")
                .unwrap(),
            ["traces_spanmetrics_calls_total"]
        );
        assert!(
            templating_metric_names("label_values(service)")
                .unwrap()
                .is_empty()
        );
        assert!(templating_metric_names("metrics(traces_.*)").is_err());
        assert_eq!(
            label_values_args("label_values(up{job=\"a\"}, service_name)"),
            Some((Some("up{job=\"a\"}"), "service_name"))
        );
        assert_eq!(label_values_args("label_values(job)"), Some((None, "job")));
        assert_eq!(label_values_args("up"), None);
    }
}
