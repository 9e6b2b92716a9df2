//! Generated hostile input (proptest strategies, sampled without shrinking because the
//! system under test is a process): request bodies, user ids and trace headers. Whatever a
//! client sends, the answer is never a 5xx, an error is JSON, the process does not panic and
//! its memory stays bounded.

use std::time::Duration;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{Stack, StackOptions, StepBinaries};

const CASES: usize = 250;

/// `CASES` values of `strategy`, from a random seed (the failing value is in the message).
fn sample<T: std::fmt::Debug>(strategy: impl Strategy<Value = T>) -> Vec<T> {
    let mut runner = TestRunner::default();
    (0..CASES)
        .map(|_| {
            strategy
                .new_tree(&mut runner)
                .expect("a value from the strategy")
                .current()
        })
        .collect()
}

/// Any text, with control characters, NUL, emoji and right-to-left marks in it.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-zA-Z @.\\u{0}-\\u{1f}\\u{7f}\\u{202e}\\u{1f600}]{0,40}",
        Just(String::new()),
        valid_email(),
    ]
}

/// An address the service accepts, so that the other field decides the outcome.
fn valid_email() -> impl Strategy<Value = String> {
    "[a-z]{1,10}@[a-z]{1,10}\\.[a-z]{2,3}"
}

fn body() -> impl Strategy<Value = String> {
    let user = |name: String, email: String| json!({ "name": name, "email": email }).to_string();
    prop_oneof![
        3 => (text(), valid_email()).prop_map(move |(name, email)| user(name, email)),
        2 => ("[a-z]{1,10}", text()).prop_map(move |(name, email)| user(name, email)),
        1 => (text(), text()).prop_map(move |(name, email)| user(name, email)),
        1 => any::<String>(),
        1 => proptest::collection::vec(any::<u8>(), 0..200)
            .prop_map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
        1 => (any::<i64>(), any::<bool>())
            .prop_map(|(n, b)| json!({ "name": n, "email": b, "extra": [n] }).to_string()),
    ]
}

fn user_id() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u128>().prop_map(|n| n.to_string()),
        "[0-9a-zA-Z+\\-.%_~]{0,40}",
        "[0-9]{19,60}",
    ]
}

/// Header values a client can put on the wire: visible ASCII and spaces.
fn trace_header() -> impl Strategy<Value = (String, String, String)> {
    let value = "[ -~]{0,120}";
    let traceparent = prop_oneof![
        value.boxed(),
        "0[0-9a-f]-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}".boxed(),
        "[0-9a-fA-F-]{0,60}".boxed(),
    ];
    (traceparent, value, "([ -~]{0,20}=[ -~]{0,20},?){0,8}")
}

#[track_caller]
fn assert_client_error_or_success(what: &str, status: StatusCode, body: &str) {
    assert!(
        !status.is_server_error(),
        "{what}: {status} {body} — bad input is never a 5xx"
    );
    if status.is_client_error() {
        let error = serde_json::from_str::<Value>(body)
            .ok()
            .and_then(|json| json["error"].as_str().map(str::to_owned));
        assert!(
            error.is_some(),
            "{what}: {status} without a JSON error: {body:?}"
        );
    }
}

/// `CASES` generated bodies for `POST /users`, ids for `GET /users/{id}` and sets of
/// `traceparent` / `tracestate` / `baggage` headers: no 5xx, JSON errors, no panic, and the
/// process grows by less than 64 MiB over the run.
pub async fn hostile_input_never_costs_a_5xx(binaries: &StepBinaries) {
    let stack = Stack::start(binaries, StackOptions::default()).await;
    let (status, created) = stack.create_user("Ada", "ada@example.com").await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let before = stack.user_service.resident_kib();
    let send = |request: reqwest::RequestBuilder| async move {
        let response = request
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .expect("an answer");
        let status = response.status();
        (status, response.text().await.unwrap_or_default())
    };

    for body in sample(body()) {
        let request = stack
            .http
            .post(stack.user_url("/users"))
            .header("content-type", "application/json")
            .body(body.clone());
        let (status, text) = send(request).await;
        assert_client_error_or_success(&format!("POST /users {body:?}"), status, &text);
    }
    for id in sample(user_id()) {
        let url = format!("{}/{}", stack.user_url("/users"), urlencode(&id));
        let (status, text) = send(stack.http.get(&url)).await;
        assert_client_error_or_success(&format!("GET /users/{id:?}"), status, &text);
    }
    for (traceparent, tracestate, baggage) in sample(trace_header()) {
        let request = stack
            .http
            .get(stack.user_url("/users/1"))
            .header("traceparent", &traceparent)
            .header("tracestate", &tracestate)
            .header("baggage", &baggage);
        let (status, text) = send(request).await;
        let what =
            format!("traceparent {traceparent:?} tracestate {tracestate:?} baggage {baggage:?}");
        assert_client_error_or_success(&what, status, &text);
        assert_eq!(
            status,
            StatusCode::OK,
            "{what}: trace headers never change the answer"
        );
    }

    let after = stack.user_service.resident_kib();
    if let (Some(before), Some(after)) = (before, after) {
        assert!(
            after < before + 64 * 1024,
            "memory grew from {before} KiB to {after} KiB over {} requests",
            3 * CASES
        );
    }
    assert_eq!(
        stack.user_service.count_lines("panicked"),
        0,
        "{}",
        stack.user_service.output()
    );
    let (user_exit, email_exit) = stack.stop().await;
    assert!(user_exit.success() && email_exit.success());
}

/// Percent-encodes everything but unreserved characters, so that the id reaches the router
/// as sent (a `/` or `?` in it would otherwise change the route).
fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
