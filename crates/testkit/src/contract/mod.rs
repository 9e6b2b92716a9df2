//! The contract of each step, as async functions over the step's binaries. A step's
//! `tests/` calls every function of its own step and of the steps before it, since each
//! step keeps what the previous ones did.

pub mod broker_faults;
pub mod hostile_input;
pub mod privacy;
pub mod step1;
pub mod step2;
pub mod step3;
pub mod step4;
pub mod step5;
pub mod step6;

use reqwest::StatusCode;
use serde_json::Value;

use crate::otlp::AttrValue;

/// An attribute as a JSON value of its own type, for the captures the slides draw from
/// (`METRICS_DUMP`, `LOGS_DUMP`).
pub(crate) fn attribute_json(value: &AttrValue) -> Value {
    match value {
        AttrValue::String(s) => Value::from(s.as_str()),
        AttrValue::Int(i) => Value::from(*i),
        AttrValue::Bool(b) => Value::from(*b),
        AttrValue::Double(d) => Value::from(*d),
        other => Value::from(other.to_string()),
    }
}

/// Asserts an error response: the status, and a JSON body `{ "error": "<non-empty text>" }`.
#[track_caller]
pub fn assert_json_error(what: &str, (status, body): &(StatusCode, Value), expected: StatusCode) {
    assert_eq!(*status, expected, "{what}: unexpected status, body {body}");
    let message = body.get("error").and_then(Value::as_str);
    assert!(
        message.is_some_and(|text| !text.trim().is_empty()),
        "{what}: expected {{\"error\": \"...\"}}, got {body}"
    );
}
