//! OTLP/JSON decoding.
//!
//! `opentelemetry-proto`'s `with-serde` impls already handle the OTLP/JSON
//! specifics that the Rust SDK itself produces: lowerCamelCase keys, hex
//! trace/span ids, 64-bit integers as strings (`"intValue": "200"`,
//! `"timeUnixNano": "…"`) or as numbers, and enums as integers.
//!
//! They reject a few things that other (valid) senders produce, so the raw
//! JSON is normalized first:
//!
//! * `null` for any field (proto3 JSON: same as absent) — serde rejects `null`
//!   for non-`Option` fields such as `"attributes": null`.
//! * `{"arrayValue": {}}` / `{"kvlistValue": {}}`: an empty list omits its
//!   `values` field, but `ArrayValue`/`KeyValueList` lack `#[serde(default)]`.
//! * enum names instead of numbers (`"kind": "SPAN_KIND_SERVER"`), which the
//!   protobuf JSON mapping allows for parsers even though OTLP says integers.
//! * upper-case hex in ids (the spec asks for case-insensitive decoding).

use opentelemetry_proto::tonic::logs::v1::SeverityNumber;
use opentelemetry_proto::tonic::metrics::v1::AggregationTemporality;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Decode an OTLP/JSON export request.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let mut value: Value =
        serde_json::from_slice(bytes).map_err(|e| format!("invalid JSON: {e}"))?;
    // serde would also accept an array as a struct (`[]` = all fields absent).
    if !value.is_object() {
        return Err("invalid OTLP/JSON: expected a JSON object".to_owned());
    }
    normalize(&mut value);
    serde_json::from_value(value).map_err(|e| format!("invalid OTLP/JSON: {e}"))
}

/// Rewrite valid-but-unsupported OTLP/JSON forms into ones the serde impls accept.
///
/// Recursion depth is bounded by `serde_json`'s own nesting limit (128).
pub(crate) fn normalize(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            for (key, child) in map.iter_mut() {
                match key.as_str() {
                    "kind" => enum_name(child, |s| SpanKind::from_str_name(s).map(|e| e as i32)),
                    "code" => enum_name(child, |s| StatusCode::from_str_name(s).map(|e| e as i32)),
                    "severityNumber" => enum_name(child, |s| {
                        SeverityNumber::from_str_name(s).map(|e| e as i32)
                    }),
                    "aggregationTemporality" => enum_name(child, |s| {
                        AggregationTemporality::from_str_name(s).map(|e| e as i32)
                    }),
                    "traceId" | "spanId" | "parentSpanId" => {
                        if let Value::String(s) = child {
                            s.make_ascii_lowercase();
                        }
                    }
                    "arrayValue" | "kvlistValue" => {
                        if let Value::Object(inner) = child {
                            inner
                                .entry("values")
                                .or_insert_with(|| Value::Array(Vec::new()));
                        }
                    }
                    _ => {}
                }
                normalize(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalize),
        _ => {}
    }
}

fn enum_name(value: &mut Value, from_name: impl Fn(&str) -> Option<i32>) {
    if let Value::String(s) = value
        && let Some(n) = from_name(s)
    {
        *value = Value::from(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AttrValue, SpanKind as Kind, StatusCode as Code, spans_from};
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

    /// A request as another SDK or the Collector might write it: numbers where
    /// the Rust SDK writes strings and vice versa, enum names, `null`s,
    /// upper-case ids, empty lists without `values`, unknown fields.
    const FOREIGN: &str = r#"{
      "resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]},
        "scopeSpans": [{
          "scope": {"name": "lib", "version": null},
          "spans": [{
            "traceId": "5B8EFFF798038103D269B633813FC60C",
            "spanId": "EEE19B7EC3C1B174",
            "parentSpanId": "",
            "name": "GET /x",
            "kind": "SPAN_KIND_SERVER",
            "startTimeUnixNano": 1544712660000000000,
            "endTimeUnixNano": "1544712661000000000",
            "attributes": [
              {"key": "http.response.status_code", "value": {"intValue": "200"}},
              {"key": "num", "value": {"intValue": 7}},
              {"key": "empty.list", "value": {"arrayValue": {}}},
              {"key": "empty.kv", "value": {"kvlistValue": {}}},
              {"key": "bytes", "value": {"bytesValue": "3q0="}},
              {"key": "d", "value": {"doubleValue": 1.5}}
            ],
            "events": null,
            "status": {"code": "STATUS_CODE_ERROR", "message": "boom"},
            "someFutureField": {"x": 1}
          }]
        }]
      }]
    }"#;

    #[test]
    fn foreign_json_decodes_after_normalization() {
        let req: ExportTraceServiceRequest = decode(FOREIGN.as_bytes()).unwrap();
        let spans = spans_from(req.resource_spans);
        assert_eq!(spans.len(), 1);
        let s = &spans[0];
        assert_eq!(s.trace_id, "5b8efff798038103d269b633813fc60c");
        assert_eq!(s.span_id, "eee19b7ec3c1b174");
        assert_eq!(s.parent_span_id, None);
        assert_eq!(s.kind, Kind::Server);
        assert_eq!(s.start_unix_nano, 1_544_712_660_000_000_000);
        assert_eq!(s.duration().as_secs(), 1);
        assert_eq!(s.attributes.int("http.response.status_code"), Some(200));
        assert_eq!(s.attributes.int("num"), Some(7));
        assert_eq!(s.attr("empty.list"), Some(&AttrValue::Array(vec![])));
        assert_eq!(s.attr("empty.kv"), Some(&AttrValue::KvList(vec![])));
        assert_eq!(s.attr("bytes"), Some(&AttrValue::Bytes(vec![0xde, 0xad])));
        assert_eq!(s.attr("d"), Some(&AttrValue::Double(1.5)));
        assert_eq!(s.status.code, Code::Error);
        assert_eq!(s.status.message, "boom");
        assert_eq!(s.service_name(), Some("svc"));
        assert_eq!(s.scope_version, None);
    }

    /// Documents which of the forms above the `with-serde` impls reject on
    /// their own; if this starts failing after an upgrade, the normalization
    /// (or part of it) may no longer be needed.
    #[test]
    fn raw_serde_impls_reject_some_valid_forms() {
        let raw = |json: &str| serde_json::from_str::<ExportTraceServiceRequest>(json);
        let wrap = |span: &str| {
            format!(r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{span}]}}]}}]}}"#)
        };
        let base = r#""traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174""#;

        // Accepted as is.
        assert!(raw(&wrap(&format!(r#"{{{base},"kind":2}}"#))).is_ok());
        assert!(
            raw(&wrap(&format!(
                r#"{{{base},"attributes":[{{"key":"a","value":{{"intValue":7}}}}]}}"#
            )))
            .is_ok()
        );
        assert!(
            raw(&wrap(&format!(
                r#"{{{base},"startTimeUnixNano":1544712660000000000}}"#
            )))
            .is_ok()
        );
        // Upper-case hex happens to be accepted by const-hex.
        assert!(
            raw(&wrap(
                r#"{"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174"}"#
            ))
            .is_ok()
        );

        // Rejected without normalization.
        assert!(raw(&wrap(&format!(r#"{{{base},"kind":"SPAN_KIND_SERVER"}}"#))).is_err());
        assert!(raw(&wrap(&format!(r#"{{{base},"attributes":null}}"#))).is_err());
        assert!(
            raw(&wrap(&format!(
                r#"{{{base},"attributes":[{{"key":"a","value":{{"arrayValue":{{}}}}}}]}}"#
            )))
            .is_err()
        );
        assert!(raw(&wrap(r#"{"traceId":null}"#)).is_err());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for body in [
            &b""[..],
            b"null",
            b"[]",
            b"{\"resourceSpans\": 5}",
            b"{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":\"zz\"}]}]}]}",
            b"\xff\xfe",
        ] {
            assert!(
                decode::<ExportTraceServiceRequest>(body).is_err(),
                "{body:?}"
            );
        }
        // An empty object is a valid, empty request.
        let empty: ExportTraceServiceRequest = decode(b"{}").unwrap();
        assert!(empty.resource_spans.is_empty());
    }
}
