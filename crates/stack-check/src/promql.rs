//! The metric names a PromQL expression reads, so that dashboards can be checked against the
//! list of names the stack produces (`docker/known-metrics.txt`).
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

/// The metric names used by `expr`, in order of appearance (duplicates kept).
pub fn metric_names(expr: &str) -> Result<Vec<String>, String> {
    let b = expr.as_bytes();
    let mut out = Vec::new();
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
                out.extend(names_in_matchers(&expr[i + 1..end - 1])?);
                i = end;
            }
            b'[' => i = skip_group(b, i, b'[', b']')?,
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
                        i = skip_group(b, next, b'(', b')')?;
                    }
                } else if KEYWORDS.contains(&word) || b.get(next) == Some(&b'(') {
                    // a keyword, or a function call
                } else {
                    out.push(word.to_owned());
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

/// The metric a Grafana templating query reads: `label_values(metric, label)` → `metric`;
/// `label_values(label)` → none; anything else is PromQL.
pub fn templating_metric_names(query: &str) -> Result<Vec<String>, String> {
    let q = query.trim();
    if let Some(args) = q
        .strip_prefix("label_values(")
        .and_then(|r| r.strip_suffix(')'))
    {
        return match args.rsplit_once(',') {
            Some((selector, _label)) => metric_names(selector),
            None => Ok(Vec::new()),
        };
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
    }
}
