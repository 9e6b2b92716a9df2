//! Turning a planned request into a reqwest request, and naming why a request got no answer.

use std::error::Error as _;
use std::fmt;

use reqwest::header::{CONTENT_TYPE, HeaderValue};

use crate::mix::{Method, Planned};

/// Sends one request and reads its whole body (the latency includes it, and only a drained
/// connection goes back to the pool). Returns the new user's id for a 201.
pub async fn send(
    client: &reqwest::Client,
    base: &str,
    planned: &Planned,
) -> (crate::stats::Outcome, Option<u64>) {
    use crate::stats::Outcome;
    let transport =
        |err: reqwest::Error| (Outcome::Transport(TransportError::classify(&err)), None);
    let response = match build(client, base, planned).send().await {
        Ok(response) => response,
        Err(err) => return transport(err),
    };
    let status = response.status().as_u16();
    let body = match response.bytes().await {
        Ok(body) => body,
        Err(err) => return transport(err),
    };
    let created_id = (status == 201)
        .then(|| serde_json::from_slice::<serde_json::Value>(&body).ok())
        .flatten()
        .and_then(|user| user.get("id")?.as_u64());
    (Outcome::Status(status), created_id)
}

/// Builds the request; `base` is the service URL without a trailing slash.
pub fn build(client: &reqwest::Client, base: &str, planned: &Planned) -> reqwest::RequestBuilder {
    let url = format!("{base}{}", planned.path);
    let mut request = match planned.method {
        Method::Get => client.get(url),
        Method::Post => client.post(url),
    };
    if let Some(body) = &planned.body {
        // Always the JSON content type, also for the malformed bodies: the service should
        // answer 400 for the JSON, not 415 for a missing header.
        request = request
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(body.clone());
    }
    if let Some(trace) = &planned.trace {
        request = request
            .header("traceparent", &trace.traceparent)
            .header("baggage", &trace.baggage);
    }
    request
}

/// Why a request got no HTTP answer. Counted apart from statuses: a service that restarts
/// mid-run refuses connections for a while, and that is worth seeing, not worth aborting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TransportError {
    ConnectionRefused,
    Timeout,
    /// Reset, closed early, body cut off, …
    Other,
}

impl TransportError {
    pub fn classify(error: &reqwest::Error) -> Self {
        if error.is_timeout() {
            return TransportError::Timeout;
        }
        if refused(error) {
            return TransportError::ConnectionRefused;
        }
        TransportError::Other
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportError::ConnectionRefused => "connection refused",
            TransportError::Timeout => "timed out",
            TransportError::Other => "other",
        })
    }
}

/// reqwest wraps the `io::Error` a few levels deep (hyper-util, hyper): walk the chain.
fn refused(error: &reqwest::Error) -> bool {
    let mut source = error.source();
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionRefused
        {
            return true;
        }
        source = cause.source();
    }
    false
}

/// A one-line reason for the start-up check: "connection refused", or the innermost cause,
/// which is the informative one ("dns error: …", "Connection reset by peer").
pub fn describe(error: &reqwest::Error) -> String {
    match TransportError::classify(error) {
        TransportError::ConnectionRefused => "connection refused".into(),
        TransportError::Timeout => "no answer (timed out)".into(),
        TransportError::Other => {
            let mut innermost: &dyn std::error::Error = error;
            while let Some(cause) = innermost.source() {
                innermost = cause;
            }
            innermost.to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mix::{Kind, TraceContext};

    #[test]
    fn builds_method_url_body_and_trace_headers() {
        let planned = Planned {
            kind: Kind::Create,
            method: Method::Post,
            path: "/users".into(),
            body: Some(r#"{"name":"Ada"}"#.into()),
            expected: 201,
            email: None,
            trace: Some(TraceContext {
                traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into(),
                baggage: "session.id=loadgen-x".into(),
            }),
        };
        let request = build(&reqwest::Client::new(), "http://127.0.0.1:9", &planned)
            .build()
            .unwrap();
        assert_eq!(request.method(), reqwest::Method::POST);
        assert_eq!(request.url().as_str(), "http://127.0.0.1:9/users");
        assert_eq!(request.headers()[CONTENT_TYPE], "application/json");
        assert_eq!(
            request.headers()["traceparent"],
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        );
        assert_eq!(request.headers()["baggage"], "session.id=loadgen-x");
        assert_eq!(
            request.body().and_then(|b| b.as_bytes()),
            Some(&br#"{"name":"Ada"}"#[..])
        );
    }

    #[test]
    fn untraced_gets_have_no_extra_headers() {
        let planned = Planned {
            kind: Kind::DemoLogs,
            method: Method::Get,
            path: "/demo/logs".into(),
            body: None,
            expected: 200,
            email: None,
            trace: None,
        };
        let request = build(&reqwest::Client::new(), "http://127.0.0.1:9", &planned)
            .build()
            .unwrap();
        assert_eq!(request.method(), reqwest::Method::GET);
        assert!(request.headers().is_empty());
        assert!(request.body().is_none());
    }
}
