//! Plain, owned data model for received telemetry.
//!
//! Every type here is built from the OTLP protobuf messages by flattening:
//! each span, metric data point and log record carries a copy of its resource
//! and instrumentation scope, so that a test can assert on one value without
//! walking the `Resource* -> Scope* -> item` tree.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use opentelemetry_proto::tonic::common::v1 as common;
use opentelemetry_proto::tonic::logs::v1 as logs;
use opentelemetry_proto::tonic::metrics::v1 as metrics;
use opentelemetry_proto::tonic::resource::v1 as resource;
use opentelemetry_proto::tonic::trace::v1 as trace;

// ---------------------------------------------------------------------------
// Attribute values
// ---------------------------------------------------------------------------

/// A typed attribute value, as it appeared on the wire (`AnyValue`).
///
/// Integers stay [`AttrValue::Int`]: a test can tell `200` from `"200"`.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    /// `stringValue`
    String(String),
    /// `boolValue`
    Bool(bool),
    /// `intValue` (an `int64`; a string in OTLP/JSON)
    Int(i64),
    /// `doubleValue`
    Double(f64),
    /// `bytesValue`
    Bytes(Vec<u8>),
    /// `arrayValue`
    Array(Vec<AttrValue>),
    /// `kvlistValue`, in wire order
    KvList(Vec<(String, AttrValue)>),
    /// An `AnyValue` with no field set (valid in OTLP, rare in practice).
    Empty,
}

impl AttrValue {
    /// The string, if this is [`AttrValue::String`].
    pub fn as_str(&self) -> Option<&str> {
        match self {
            AttrValue::String(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if this is [`AttrValue::Int`] (a string `"200"` is *not* converted).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            AttrValue::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The boolean, if this is [`AttrValue::Bool`].
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            AttrValue::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The float, if this is [`AttrValue::Double`].
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            AttrValue::Double(d) => Some(*d),
            _ => None,
        }
    }

    /// The bytes, if this is [`AttrValue::Bytes`].
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            AttrValue::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The elements, if this is [`AttrValue::Array`].
    pub fn as_array(&self) -> Option<&[AttrValue]> {
        match self {
            AttrValue::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The name of the variant, e.g. `"Int"`: handy in assertion messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            AttrValue::String(_) => "String",
            AttrValue::Bool(_) => "Bool",
            AttrValue::Int(_) => "Int",
            AttrValue::Double(_) => "Double",
            AttrValue::Bytes(_) => "Bytes",
            AttrValue::Array(_) => "Array",
            AttrValue::KvList(_) => "KvList",
            AttrValue::Empty => "Empty",
        }
    }

    /// Like `Display`, but strings are quoted so that `"200"` and `200` look different.
    fn fmt_typed(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttrValue::String(s) => write!(f, "{s:?}"),
            other => write!(f, "{other}"),
        }
    }
}

impl fmt::Display for AttrValue {
    /// Strings are written as is; inside arrays and lists they are quoted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttrValue::String(s) => f.write_str(s),
            AttrValue::Bool(b) => write!(f, "{b}"),
            AttrValue::Int(i) => write!(f, "{i}"),
            AttrValue::Double(d) => write!(f, "{d:?}"),
            AttrValue::Bytes(b) => {
                f.write_str("0x")?;
                for byte in b {
                    write!(f, "{byte:02x}")?;
                }
                Ok(())
            }
            AttrValue::Array(values) => {
                f.write_str("[")?;
                for (i, v) in values.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    v.fmt_typed(f)?;
                }
                f.write_str("]")
            }
            AttrValue::KvList(pairs) => {
                f.write_str("{")?;
                for (i, (k, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k}: ")?;
                    v.fmt_typed(f)?;
                }
                f.write_str("}")
            }
            AttrValue::Empty => f.write_str("<empty>"),
        }
    }
}

impl From<&str> for AttrValue {
    fn from(s: &str) -> Self {
        AttrValue::String(s.to_owned())
    }
}

impl From<String> for AttrValue {
    fn from(s: String) -> Self {
        AttrValue::String(s)
    }
}

impl From<i64> for AttrValue {
    fn from(i: i64) -> Self {
        AttrValue::Int(i)
    }
}

impl From<bool> for AttrValue {
    fn from(b: bool) -> Self {
        AttrValue::Bool(b)
    }
}

impl From<f64> for AttrValue {
    fn from(d: f64) -> Self {
        AttrValue::Double(d)
    }
}

// ---------------------------------------------------------------------------
// Attributes
// ---------------------------------------------------------------------------

/// A set of attributes, sorted by key. Derefs to the underlying `BTreeMap`.
///
/// If the sender repeated a key (which OTLP forbids), the last value wins.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attributes(pub BTreeMap<String, AttrValue>);

impl Attributes {
    /// The value for `key`.
    pub fn get(&self, key: &str) -> Option<&AttrValue> {
        self.0.get(key)
    }

    /// The value for `key` if it is a string.
    pub fn str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(AttrValue::as_str)
    }

    /// The value for `key` if it is an integer (a string `"200"` gives `None`).
    pub fn int(&self, key: &str) -> Option<i64> {
        self.get(key).and_then(AttrValue::as_i64)
    }

    /// The value for `key` if it is a boolean.
    pub fn bool(&self, key: &str) -> Option<bool> {
        self.get(key).and_then(AttrValue::as_bool)
    }

    /// The value for `key` if it is a double.
    pub fn double(&self, key: &str) -> Option<f64> {
        self.get(key).and_then(AttrValue::as_f64)
    }

    /// Whether `key` is present.
    pub fn contains(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }
}

impl std::ops::Deref for Attributes {
    type Target = BTreeMap<String, AttrValue>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<'a> IntoIterator for &'a Attributes {
    type Item = (&'a String, &'a AttrValue);
    type IntoIter = std::collections::btree_map::Iter<'a, String, AttrValue>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<K: Into<String>, V: Into<AttrValue>> FromIterator<(K, V)> for Attributes {
    fn from_iter<T: IntoIterator<Item = (K, V)>>(iter: T) -> Self {
        Attributes(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

impl fmt::Display for Attributes {
    /// `{key="string", other=200}`: strings quoted, so types are visible.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{k}=")?;
            v.fmt_typed(f)?;
        }
        f.write_str("}")
    }
}

// ---------------------------------------------------------------------------
// Resource and scope
// ---------------------------------------------------------------------------

/// The resource that produced an item.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resource {
    /// Resource attributes, e.g. `service.name`.
    pub attributes: Attributes,
    /// The semantic-conventions schema the attributes follow (the `ResourceSpans` /
    /// `ResourceMetrics` / `ResourceLogs` `schema_url`), empty when none was sent.
    pub schema_url: String,
}

impl Resource {
    /// The `service.name` resource attribute.
    pub fn service_name(&self) -> Option<&str> {
        self.attributes.str("service.name")
    }
}

// ---------------------------------------------------------------------------
// Spans
// ---------------------------------------------------------------------------

/// `SpanKind` from OTLP. Unknown numbers map to `Unspecified`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SpanKind {
    /// 0
    #[default]
    Unspecified,
    /// 1
    Internal,
    /// 2
    Server,
    /// 3
    Client,
    /// 4
    Producer,
    /// 5
    Consumer,
}

impl SpanKind {
    fn from_i32(kind: i32) -> Self {
        match trace::span::SpanKind::try_from(kind) {
            Ok(trace::span::SpanKind::Internal) => SpanKind::Internal,
            Ok(trace::span::SpanKind::Server) => SpanKind::Server,
            Ok(trace::span::SpanKind::Client) => SpanKind::Client,
            Ok(trace::span::SpanKind::Producer) => SpanKind::Producer,
            Ok(trace::span::SpanKind::Consumer) => SpanKind::Consumer,
            _ => SpanKind::Unspecified,
        }
    }
}

/// Span status code. Unknown numbers map to `Unset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum StatusCode {
    /// 0
    #[default]
    Unset,
    /// 1
    Ok,
    /// 2
    Error,
}

/// A span's final status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpanStatus {
    /// Status code.
    pub code: StatusCode,
    /// Description (usually only set for errors).
    pub message: String,
}

/// A time-stamped event on a span (also how exceptions are recorded).
#[derive(Debug, Clone, PartialEq)]
pub struct SpanEvent {
    /// Event name, e.g. `exception`.
    pub name: String,
    /// Event time.
    pub time_unix_nano: u64,
    /// Event attributes.
    pub attributes: Attributes,
}

/// A link from a span to another span.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanLink {
    /// 32 lowercase hex digits.
    pub trace_id: String,
    /// 16 lowercase hex digits.
    pub span_id: String,
    /// Link attributes.
    pub attributes: Attributes,
}

/// One received span, with its resource and scope.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Span {
    /// 32 lowercase hex digits.
    pub trace_id: String,
    /// 16 lowercase hex digits.
    pub span_id: String,
    /// `None` for a root span (empty on the wire).
    pub parent_span_id: Option<String>,
    /// W3C `tracestate`, usually empty.
    pub trace_state: String,
    /// Span name.
    pub name: String,
    /// Span kind.
    pub kind: SpanKind,
    /// Start time.
    pub start_unix_nano: u64,
    /// End time.
    pub end_unix_nano: u64,
    /// Span attributes.
    pub attributes: Attributes,
    /// Events, in wire order.
    pub events: Vec<SpanEvent>,
    /// Links, in wire order.
    pub links: Vec<SpanLink>,
    /// Status (`Unset` when absent).
    pub status: SpanStatus,
    /// Resource of the exporting process.
    pub resource: Resource,
    /// Instrumentation scope name (tracer name).
    pub scope_name: String,
    /// Instrumentation scope version, `None` when empty.
    pub scope_version: Option<String>,
}

impl Span {
    /// A span attribute.
    pub fn attr(&self, key: &str) -> Option<&AttrValue> {
        self.attributes.get(key)
    }

    /// `end - start` (zero if the clock went backwards).
    pub fn duration(&self) -> Duration {
        Duration::from_nanos(self.end_unix_nano.saturating_sub(self.start_unix_nano))
    }

    /// Whether the span has no parent.
    pub fn is_root(&self) -> bool {
        self.parent_span_id.is_none()
    }

    /// Whether `self` is a direct child of `parent` (same trace, parent id matches).
    pub fn is_child_of(&self, parent: &Span) -> bool {
        self.trace_id == parent.trace_id
            && self.parent_span_id.as_deref() == Some(parent.span_id.as_str())
    }

    /// The first event named `name`.
    pub fn event(&self, name: &str) -> Option<&SpanEvent> {
        self.events.iter().find(|e| e.name == name)
    }

    /// The resource's `service.name`.
    pub fn service_name(&self) -> Option<&str> {
        self.resource.service_name()
    }
}

// ---------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------

/// Aggregation temporality of a sum or histogram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Temporality {
    /// 0 (invalid on the wire, kept for fidelity).
    #[default]
    Unspecified,
    /// 1
    Delta,
    /// 2
    Cumulative,
}

impl Temporality {
    fn from_i32(t: i32) -> Self {
        match t {
            1 => Temporality::Delta,
            2 => Temporality::Cumulative,
            _ => Temporality::Unspecified,
        }
    }
}

/// Which kind of metric a data point belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricKind {
    /// Gauge.
    Gauge,
    /// Sum (a counter when monotonic, an up-down counter otherwise).
    Sum {
        /// `isMonotonic`
        monotonic: bool,
        /// `aggregationTemporality`
        temporality: Temporality,
    },
    /// Explicit-bucket histogram.
    Histogram {
        /// `aggregationTemporality`
        temporality: Temporality,
    },
    /// Exponential histogram.
    ExponentialHistogram {
        /// `aggregationTemporality`
        temporality: Temporality,
    },
    /// Summary (legacy).
    Summary,
}

/// The value of one data point.
#[derive(Debug, Clone, PartialEq)]
pub enum PointValue {
    /// `asInt` of a gauge or sum point.
    Int(i64),
    /// `asDouble` of a gauge or sum point.
    Double(f64),
    /// An explicit-bucket histogram point.
    Histogram {
        /// Number of measurements.
        count: u64,
        /// Sum of measurements, if sent.
        sum: Option<f64>,
        /// `explicit_bounds.len() + 1` counts (or empty).
        bucket_counts: Vec<u64>,
        /// Bucket upper bounds.
        explicit_bounds: Vec<f64>,
        /// Minimum, if sent.
        min: Option<f64>,
        /// Maximum, if sent.
        max: Option<f64>,
    },
    /// An exponential histogram point.
    ExponentialHistogram {
        /// Number of measurements.
        count: u64,
        /// Sum of measurements, if sent.
        sum: Option<f64>,
        /// Bucket scale.
        scale: i32,
        /// Count of measurements in the zero bucket.
        zero_count: u64,
        /// Offset of the first positive bucket.
        positive_offset: i32,
        /// Positive bucket counts.
        positive_bucket_counts: Vec<u64>,
        /// Offset of the first negative bucket.
        negative_offset: i32,
        /// Negative bucket counts.
        negative_bucket_counts: Vec<u64>,
        /// Minimum, if sent.
        min: Option<f64>,
        /// Maximum, if sent.
        max: Option<f64>,
    },
    /// A summary point.
    Summary {
        /// Number of measurements.
        count: u64,
        /// Sum of measurements.
        sum: f64,
        /// `(quantile, value)` pairs.
        quantiles: Vec<(f64, f64)>,
    },
    /// A gauge or sum point with neither `asInt` nor `asDouble`.
    Empty,
}

impl PointValue {
    /// The value, if this is [`PointValue::Int`].
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            PointValue::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The value as a float, for `Int` and `Double` points.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            PointValue::Int(i) => Some(*i as f64),
            PointValue::Double(d) => Some(*d),
            _ => None,
        }
    }

    /// The measurement count of a histogram or summary point.
    pub fn count(&self) -> Option<u64> {
        match self {
            PointValue::Histogram { count, .. }
            | PointValue::ExponentialHistogram { count, .. }
            | PointValue::Summary { count, .. } => Some(*count),
            _ => None,
        }
    }

    /// The sum of a histogram or summary point.
    pub fn sum(&self) -> Option<f64> {
        match self {
            PointValue::Histogram { sum, .. } | PointValue::ExponentialHistogram { sum, .. } => {
                *sum
            }
            PointValue::Summary { sum, .. } => Some(*sum),
            _ => None,
        }
    }
}

impl fmt::Display for PointValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PointValue::Int(i) => write!(f, "{i}"),
            PointValue::Double(d) => write!(f, "{d:?}"),
            PointValue::Histogram { count, sum, .. }
            | PointValue::ExponentialHistogram { count, sum, .. } => match sum {
                Some(sum) => write!(f, "count={count} sum={sum:?}"),
                None => write!(f, "count={count}"),
            },
            PointValue::Summary { count, sum, .. } => write!(f, "count={count} sum={sum:?}"),
            PointValue::Empty => f.write_str("<empty>"),
        }
    }
}

/// An exemplar attached to a data point.
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar {
    /// `Int` or `Double` (or `Empty`).
    pub value: PointValue,
    /// Measurement time.
    pub time_unix_nano: u64,
    /// Trace of the span that was active, if any.
    pub trace_id: Option<String>,
    /// Span that was active, if any.
    pub span_id: Option<String>,
    /// Attributes filtered out of the point.
    pub filtered_attributes: Attributes,
}

/// One metric data point, flattened with its metric, scope and resource.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricPoint {
    /// Metric name.
    pub name: String,
    /// Metric description.
    pub description: String,
    /// Metric unit (UCUM), e.g. `s` or `By`.
    pub unit: String,
    /// Metric kind.
    pub kind: MetricKind,
    /// Data point attributes.
    pub attributes: Attributes,
    /// Start of the aggregation window (0 for gauges).
    pub start_time_unix_nano: u64,
    /// Collection time.
    pub time_unix_nano: u64,
    /// The value.
    pub value: PointValue,
    /// Exemplars.
    pub exemplars: Vec<Exemplar>,
    /// Resource of the exporting process.
    pub resource: Resource,
    /// Instrumentation scope name (meter name).
    pub scope_name: String,
    /// Instrumentation scope version, `None` when empty.
    pub scope_version: Option<String>,
}

impl MetricPoint {
    /// A data point attribute.
    pub fn attr(&self, key: &str) -> Option<&AttrValue> {
        self.attributes.get(key)
    }

    /// The resource's `service.name`.
    pub fn service_name(&self) -> Option<&str> {
        self.resource.service_name()
    }
}

// ---------------------------------------------------------------------------
// Logs
// ---------------------------------------------------------------------------

/// One log record, with its resource and scope.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRecord {
    /// Event time (0 when unknown).
    pub time_unix_nano: u64,
    /// Time the record was observed by the SDK.
    pub observed_time_unix_nano: u64,
    /// OTLP severity number (1..=24; 9 = INFO, 13 = WARN, 17 = ERROR).
    pub severity_number: i32,
    /// Severity text, e.g. `INFO`.
    pub severity_text: String,
    /// Body, if any.
    pub body: Option<AttrValue>,
    /// Log attributes.
    pub attributes: Attributes,
    /// Trace context, if the record was emitted inside a span.
    pub trace_id: Option<String>,
    /// Span context, if the record was emitted inside a span.
    pub span_id: Option<String>,
    /// `event_name` (for events), empty otherwise.
    pub event_name: String,
    /// Resource of the exporting process.
    pub resource: Resource,
    /// Instrumentation scope name (logger name / tracing target).
    pub scope_name: String,
    /// Instrumentation scope version, `None` when empty.
    pub scope_version: Option<String>,
}

impl LogRecord {
    /// A log attribute.
    pub fn attr(&self, key: &str) -> Option<&AttrValue> {
        self.attributes.get(key)
    }

    /// The body if it is a string.
    pub fn body_str(&self) -> Option<&str> {
        self.body.as_ref().and_then(AttrValue::as_str)
    }

    /// The resource's `service.name`.
    pub fn service_name(&self) -> Option<&str> {
        self.resource.service_name()
    }
}

// ---------------------------------------------------------------------------
// Conversion from protobuf
// ---------------------------------------------------------------------------

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    s
}

/// `None` for an absent (empty) or invalid (all-zero) id.
fn opt_id(bytes: &[u8]) -> Option<String> {
    if bytes.iter().all(|b| *b == 0) {
        None
    } else {
        Some(hex(bytes))
    }
}

fn opt_string(s: String) -> Option<String> {
    if s.is_empty() { None } else { Some(s) }
}

fn any_value(value: common::AnyValue) -> AttrValue {
    use common::any_value::Value;
    match value.value {
        Some(Value::StringValue(s)) => AttrValue::String(s),
        Some(Value::BoolValue(b)) => AttrValue::Bool(b),
        Some(Value::IntValue(i)) => AttrValue::Int(i),
        Some(Value::DoubleValue(d)) => AttrValue::Double(d),
        Some(Value::BytesValue(b)) => AttrValue::Bytes(b),
        Some(Value::ArrayValue(a)) => {
            AttrValue::Array(a.values.into_iter().map(any_value).collect())
        }
        Some(Value::KvlistValue(kv)) => AttrValue::KvList(
            kv.values
                .into_iter()
                .map(|kv| (kv.key, kv.value.map_or(AttrValue::Empty, any_value)))
                .collect(),
        ),
        // `StringValueStrindex` is for profiles only; receivers of other signals ignore it.
        Some(Value::StringValueStrindex(_)) | None => AttrValue::Empty,
    }
}

fn attributes(kvs: Vec<common::KeyValue>) -> Attributes {
    Attributes(
        kvs.into_iter()
            .map(|kv| (kv.key, kv.value.map_or(AttrValue::Empty, any_value)))
            .collect(),
    )
}

fn resource(r: Option<resource::Resource>, schema_url: String) -> Resource {
    Resource {
        attributes: r.map(|r| attributes(r.attributes)).unwrap_or_default(),
        schema_url,
    }
}

fn scope(s: Option<common::InstrumentationScope>) -> (String, Option<String>) {
    match s {
        Some(s) => (s.name, opt_string(s.version)),
        None => (String::new(), None),
    }
}

pub(crate) fn spans_from(resource_spans: Vec<trace::ResourceSpans>) -> Vec<Span> {
    let mut out = Vec::new();
    for rs in resource_spans {
        let res = resource(rs.resource, rs.schema_url);
        for ss in rs.scope_spans {
            let (scope_name, scope_version) = scope(ss.scope);
            for s in ss.spans {
                let status = s.status.unwrap_or_default();
                out.push(Span {
                    trace_id: hex(&s.trace_id),
                    span_id: hex(&s.span_id),
                    parent_span_id: if s.parent_span_id.is_empty() {
                        None
                    } else {
                        Some(hex(&s.parent_span_id))
                    },
                    trace_state: s.trace_state,
                    name: s.name,
                    kind: SpanKind::from_i32(s.kind),
                    start_unix_nano: s.start_time_unix_nano,
                    end_unix_nano: s.end_time_unix_nano,
                    attributes: attributes(s.attributes),
                    events: s
                        .events
                        .into_iter()
                        .map(|e| SpanEvent {
                            name: e.name,
                            time_unix_nano: e.time_unix_nano,
                            attributes: attributes(e.attributes),
                        })
                        .collect(),
                    links: s
                        .links
                        .into_iter()
                        .map(|l| SpanLink {
                            trace_id: hex(&l.trace_id),
                            span_id: hex(&l.span_id),
                            attributes: attributes(l.attributes),
                        })
                        .collect(),
                    status: SpanStatus {
                        code: match status.code {
                            1 => StatusCode::Ok,
                            2 => StatusCode::Error,
                            _ => StatusCode::Unset,
                        },
                        message: status.message,
                    },
                    resource: res.clone(),
                    scope_name: scope_name.clone(),
                    scope_version: scope_version.clone(),
                });
            }
        }
    }
    out
}

fn number_value(v: Option<metrics::number_data_point::Value>) -> PointValue {
    use metrics::number_data_point::Value;
    match v {
        Some(Value::AsInt(i)) => PointValue::Int(i),
        Some(Value::AsDouble(d)) => PointValue::Double(d),
        None => PointValue::Empty,
    }
}

fn exemplars(ex: Vec<metrics::Exemplar>) -> Vec<Exemplar> {
    use metrics::exemplar::Value;
    ex.into_iter()
        .map(|e| Exemplar {
            value: match e.value {
                Some(Value::AsInt(i)) => PointValue::Int(i),
                Some(Value::AsDouble(d)) => PointValue::Double(d),
                None => PointValue::Empty,
            },
            time_unix_nano: e.time_unix_nano,
            trace_id: opt_id(&e.trace_id),
            span_id: opt_id(&e.span_id),
            filtered_attributes: attributes(e.filtered_attributes),
        })
        .collect()
}

/// The parts of a data point that do not depend on the metric kind.
struct PointCommon {
    attributes: Vec<common::KeyValue>,
    start_time_unix_nano: u64,
    time_unix_nano: u64,
    value: PointValue,
    exemplars: Vec<metrics::Exemplar>,
}

pub(crate) fn metric_points_from(
    resource_metrics: Vec<metrics::ResourceMetrics>,
) -> Vec<MetricPoint> {
    use metrics::metric::Data;
    let mut out = Vec::new();
    for rm in resource_metrics {
        let res = resource(rm.resource, rm.schema_url);
        for sm in rm.scope_metrics {
            let (scope_name, scope_version) = scope(sm.scope);
            for m in sm.metrics {
                let (kind, points): (MetricKind, Vec<PointCommon>) = match m.data {
                    Some(Data::Gauge(g)) => (MetricKind::Gauge, number_points(g.data_points)),
                    Some(Data::Sum(s)) => (
                        MetricKind::Sum {
                            monotonic: s.is_monotonic,
                            temporality: Temporality::from_i32(s.aggregation_temporality),
                        },
                        number_points(s.data_points),
                    ),
                    Some(Data::Histogram(h)) => (
                        MetricKind::Histogram {
                            temporality: Temporality::from_i32(h.aggregation_temporality),
                        },
                        h.data_points
                            .into_iter()
                            .map(|p| PointCommon {
                                attributes: p.attributes,
                                start_time_unix_nano: p.start_time_unix_nano,
                                time_unix_nano: p.time_unix_nano,
                                value: PointValue::Histogram {
                                    count: p.count,
                                    sum: p.sum,
                                    bucket_counts: p.bucket_counts,
                                    explicit_bounds: p.explicit_bounds,
                                    min: p.min,
                                    max: p.max,
                                },
                                exemplars: p.exemplars,
                            })
                            .collect(),
                    ),
                    Some(Data::ExponentialHistogram(h)) => (
                        MetricKind::ExponentialHistogram {
                            temporality: Temporality::from_i32(h.aggregation_temporality),
                        },
                        h.data_points
                            .into_iter()
                            .map(|p| {
                                let pos = p.positive.unwrap_or_default();
                                let neg = p.negative.unwrap_or_default();
                                PointCommon {
                                    attributes: p.attributes,
                                    start_time_unix_nano: p.start_time_unix_nano,
                                    time_unix_nano: p.time_unix_nano,
                                    value: PointValue::ExponentialHistogram {
                                        count: p.count,
                                        sum: p.sum,
                                        scale: p.scale,
                                        zero_count: p.zero_count,
                                        positive_offset: pos.offset,
                                        positive_bucket_counts: pos.bucket_counts,
                                        negative_offset: neg.offset,
                                        negative_bucket_counts: neg.bucket_counts,
                                        min: p.min,
                                        max: p.max,
                                    },
                                    exemplars: p.exemplars,
                                }
                            })
                            .collect(),
                    ),
                    Some(Data::Summary(s)) => (
                        MetricKind::Summary,
                        s.data_points
                            .into_iter()
                            .map(|p| PointCommon {
                                attributes: p.attributes,
                                start_time_unix_nano: p.start_time_unix_nano,
                                time_unix_nano: p.time_unix_nano,
                                value: PointValue::Summary {
                                    count: p.count,
                                    sum: p.sum,
                                    quantiles: p
                                        .quantile_values
                                        .into_iter()
                                        .map(|q| (q.quantile, q.value))
                                        .collect(),
                                },
                                exemplars: Vec::new(),
                            })
                            .collect(),
                    ),
                    // A metric without data has no points to report.
                    None => continue,
                };
                for p in points {
                    out.push(MetricPoint {
                        name: m.name.clone(),
                        description: m.description.clone(),
                        unit: m.unit.clone(),
                        kind,
                        attributes: attributes(p.attributes),
                        start_time_unix_nano: p.start_time_unix_nano,
                        time_unix_nano: p.time_unix_nano,
                        value: p.value,
                        exemplars: exemplars(p.exemplars),
                        resource: res.clone(),
                        scope_name: scope_name.clone(),
                        scope_version: scope_version.clone(),
                    });
                }
            }
        }
    }
    out
}

fn number_points(points: Vec<metrics::NumberDataPoint>) -> Vec<PointCommon> {
    points
        .into_iter()
        .map(|p| PointCommon {
            attributes: p.attributes,
            start_time_unix_nano: p.start_time_unix_nano,
            time_unix_nano: p.time_unix_nano,
            value: number_value(p.value),
            exemplars: p.exemplars,
        })
        .collect()
}

pub(crate) fn log_records_from(resource_logs: Vec<logs::ResourceLogs>) -> Vec<LogRecord> {
    let mut out = Vec::new();
    for rl in resource_logs {
        let res = resource(rl.resource, rl.schema_url);
        for sl in rl.scope_logs {
            let (scope_name, scope_version) = scope(sl.scope);
            for l in sl.log_records {
                out.push(LogRecord {
                    time_unix_nano: l.time_unix_nano,
                    observed_time_unix_nano: l.observed_time_unix_nano,
                    severity_number: l.severity_number,
                    severity_text: l.severity_text,
                    body: l.body.map(any_value),
                    attributes: attributes(l.attributes),
                    trace_id: opt_id(&l.trace_id),
                    span_id: opt_id(&l.span_id),
                    event_name: l.event_name,
                    resource: res.clone(),
                    scope_name: scope_name.clone(),
                    scope_version: scope_version.clone(),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_readable_and_typed() {
        let attrs: Attributes = [
            ("code", AttrValue::Int(200)),
            ("route", AttrValue::from("/x")),
            (
                "list",
                AttrValue::Array(vec![AttrValue::from("a"), AttrValue::Int(1)]),
            ),
            ("bytes", AttrValue::Bytes(vec![0xde, 0xad])),
            ("ratio", AttrValue::Double(1.0)),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            attrs.to_string(),
            r#"{bytes=0xdead, code=200, list=["a", 1], ratio=1.0, route="/x"}"#
        );
        assert_eq!(AttrValue::from("plain").to_string(), "plain");
        assert_eq!(
            AttrValue::KvList(vec![("k".into(), AttrValue::Bool(true))]).to_string(),
            "{k: true}"
        );
        assert_eq!(attrs.int("code"), Some(200));
        assert_eq!(attrs.str("code"), None);
        assert_eq!(attrs.str("route"), Some("/x"));
    }

    #[test]
    fn ids_are_lowercase_hex_and_empty_ids_are_none() {
        assert_eq!(hex(&[0x01, 0xab, 0xff]), "01abff");
        assert_eq!(opt_id(&[]), None);
        assert_eq!(opt_id(&[0; 8]), None);
        assert_eq!(opt_id(&[0, 1]), Some("0001".to_owned()));
    }
}
