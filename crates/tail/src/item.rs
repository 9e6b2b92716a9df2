//! What the viewer prints, as data: a finished trace, a log record, a batch of metric points.
//! The text view renders these (`render.rs`); `--json` writes them as they are, one per line,
//! and they read back (the tests round-trip them).

use std::collections::BTreeMap;

use otlp_receiver::{AttrValue, LogRecord, MetricPoint, PointValue, Span, SpanKind, StatusCode};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "item", rename_all = "snake_case")]
pub enum Item {
    Trace(TraceItem),
    Log(LogItem),
    Metrics(MetricsItem),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceItem {
    pub trace_id: String,
    /// From the first span's start to the last span's end.
    pub duration_ms: f64,
    /// Depth-first, children after their parent, siblings by start time.
    pub spans: Vec<SpanRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpanRow {
    pub span_id: String,
    pub parent_span_id: Option<String>,
    /// 0 for a root (or a span whose parent was not received).
    pub depth: usize,
    pub name: String,
    pub service: String,
    pub kind: String,
    /// Start, from the trace's start.
    pub start_ms: f64,
    pub duration_ms: f64,
    /// `unset`, `ok` or `error`.
    pub status: String,
    pub status_message: String,
    /// The few attributes that say what the span did (route and status, query, destination).
    pub attributes: BTreeMap<String, String>,
    pub links: Vec<LinkRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkRow {
    pub trace_id: String,
    pub span_id: String,
    /// The linked span's name, when it is in the same trace.
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogItem {
    pub time_unix_nano: u64,
    pub severity: String,
    pub severity_number: i32,
    pub service: String,
    pub scope: String,
    pub body: String,
    pub trace_id: Option<String>,
    pub span_id: Option<String>,
    pub attributes: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsItem {
    pub service: String,
    pub points: Vec<MetricRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricRow {
    pub name: String,
    pub unit: String,
    pub attributes: BTreeMap<String, String>,
    pub value: MetricValue,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MetricValue {
    Number {
        value: f64,
    },
    Histogram {
        count: u64,
        sum: Option<f64>,
        p50: Option<f64>,
        p95: Option<f64>,
    },
}

/// The attributes worth a column, by what the span is.
const KEY_ATTRIBUTES: [&str; 11] = [
    "http.route",
    "http.response.status_code",
    "server.address",
    "db.query.text",
    "db.operation.name",
    "db.collection.name",
    "messaging.destination.name",
    "messaging.operation.name",
    "messaging.kafka.offset",
    "error.type",
    "rpc.method",
];

fn text(value: &AttrValue) -> String {
    match value {
        AttrValue::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn service_of(resource: &otlp_receiver::Resource) -> String {
    resource.service_name().unwrap_or("unknown").to_owned()
}

fn kind_name(kind: SpanKind) -> &'static str {
    match kind {
        SpanKind::Unspecified => "unspecified",
        SpanKind::Internal => "internal",
        SpanKind::Server => "server",
        SpanKind::Client => "client",
        SpanKind::Producer => "producer",
        SpanKind::Consumer => "consumer",
    }
}

impl TraceItem {
    /// The spans of one trace (any order), as a tree.
    pub fn from_spans(mut spans: Vec<Span>) -> TraceItem {
        spans.sort_by_key(|s| s.start_unix_nano);
        let start = spans.iter().map(|s| s.start_unix_nano).min().unwrap_or(0);
        let end = spans.iter().map(|s| s.end_unix_nano).max().unwrap_or(start);
        let ids: BTreeMap<&str, &Span> = spans.iter().map(|s| (s.span_id.as_str(), s)).collect();
        let is_root = |s: &Span| {
            s.parent_span_id
                .as_deref()
                .is_none_or(|parent| !ids.contains_key(parent))
        };
        // Children by parent, each list in start order: one pass, not a scan per span.
        let mut children: BTreeMap<&str, Vec<&Span>> = BTreeMap::new();
        for span in spans.iter().filter(|s| !is_root(s)) {
            let parent = span.parent_span_id.as_deref().unwrap_or_default();
            children.entry(parent).or_default().push(span);
        }
        let mut rows = Vec::with_capacity(spans.len());
        let mut stack: Vec<(&Span, usize)> = spans
            .iter()
            .filter(|s| is_root(s))
            .rev()
            .map(|s| (s, 0))
            .collect();
        while let Some((span, depth)) = stack.pop() {
            rows.push(SpanRow::new(span, depth, start, &ids));
            if let Some(kids) = children.get(span.span_id.as_str()) {
                stack.extend(kids.iter().rev().map(|c| (*c, depth + 1)));
            }
        }
        TraceItem {
            trace_id: spans
                .first()
                .map(|s| s.trace_id.clone())
                .unwrap_or_default(),
            duration_ms: nanos_to_ms(end.saturating_sub(start)),
            spans: rows,
        }
    }

    /// The root's name, or the first span's.
    pub fn name(&self) -> &str {
        self.spans.first().map_or("", |s| s.name.as_str())
    }
}

impl SpanRow {
    fn new(span: &Span, depth: usize, trace_start: u64, ids: &BTreeMap<&str, &Span>) -> SpanRow {
        let attributes = KEY_ATTRIBUTES
            .iter()
            .filter_map(|key| {
                span.attributes
                    .get(key)
                    .map(|v| ((*key).to_owned(), text(v)))
            })
            .collect();
        SpanRow {
            span_id: span.span_id.clone(),
            parent_span_id: span.parent_span_id.clone(),
            depth,
            name: span.name.clone(),
            service: service_of(&span.resource),
            kind: kind_name(span.kind).to_owned(),
            start_ms: nanos_to_ms(span.start_unix_nano.saturating_sub(trace_start)),
            duration_ms: nanos_to_ms(span.end_unix_nano.saturating_sub(span.start_unix_nano)),
            status: match span.status.code {
                StatusCode::Unset => "unset",
                StatusCode::Ok => "ok",
                StatusCode::Error => "error",
            }
            .to_owned(),
            status_message: span.status.message.clone(),
            attributes,
            links: span
                .links
                .iter()
                .map(|link| LinkRow {
                    trace_id: link.trace_id.clone(),
                    span_id: link.span_id.clone(),
                    name: ids.get(link.span_id.as_str()).map(|s| s.name.clone()),
                })
                .collect(),
        }
    }
}

impl LogItem {
    pub fn from_record(record: &LogRecord) -> LogItem {
        let time = if record.time_unix_nano > 0 {
            record.time_unix_nano
        } else {
            record.observed_time_unix_nano
        };
        LogItem {
            time_unix_nano: time,
            severity: record.severity_text.clone(),
            severity_number: record.severity_number,
            service: service_of(&record.resource),
            scope: record.scope_name.clone(),
            body: record.body.as_ref().map(text).unwrap_or_default(),
            trace_id: record.trace_id.clone(),
            span_id: record.span_id.clone(),
            attributes: record
                .attributes
                .iter()
                .map(|(key, value)| (key.clone(), text(value)))
                .collect(),
        }
    }
}

impl MetricRow {
    pub fn from_point(point: &MetricPoint) -> Option<MetricRow> {
        let value = match &point.value {
            PointValue::Int(i) => MetricValue::Number { value: *i as f64 },
            PointValue::Double(d) => MetricValue::Number { value: *d },
            PointValue::Histogram {
                count,
                sum,
                bucket_counts,
                explicit_bounds,
                min,
                max,
            } => {
                let quantile = |q| {
                    crate::quantile::from_buckets(q, bucket_counts, explicit_bounds, *min, *max)
                };
                MetricValue::Histogram {
                    count: *count,
                    sum: *sum,
                    p50: quantile(0.5),
                    p95: quantile(0.95),
                }
            }
            _ => return None,
        };
        Some(MetricRow {
            name: point.name.clone(),
            unit: point.unit.clone(),
            attributes: point
                .attributes
                .iter()
                .map(|(key, value)| (key.clone(), text(value)))
                .collect(),
            value,
        })
    }
}

/// The latest point of each series in `points`, grouped by service (a periodic export sends
/// every series once; the viewer shows each batch as a table).
pub fn metrics_by_service(points: &[MetricPoint]) -> Vec<MetricsItem> {
    let mut latest: BTreeMap<(String, String, String), &MetricPoint> = BTreeMap::new();
    for point in points {
        let key = (
            service_of(&point.resource),
            point.name.clone(),
            point.attributes.to_string(),
        );
        match latest.get(&key) {
            Some(seen) if seen.time_unix_nano > point.time_unix_nano => {}
            _ => {
                latest.insert(key, point);
            }
        }
    }
    let mut items: Vec<MetricsItem> = Vec::new();
    for ((service, _, _), point) in latest {
        let Some(row) = MetricRow::from_point(point) else {
            continue;
        };
        match items.last_mut() {
            Some(item) if item.service == service => item.points.push(row),
            _ => items.push(MetricsItem {
                service,
                points: vec![row],
            }),
        }
    }
    items
}

fn nanos_to_ms(nanos: u64) -> f64 {
    nanos as f64 / 1e6
}
