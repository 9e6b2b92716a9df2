//! Helpers shared by the integration tests (`mod common;` in each test file).

use std::io::Write as _;

use flate2::Compression;
use flate2::write::GzEncoder;

/// Gzip `bytes` the way opentelemetry-otlp's `gzip-http` does (flate2, default level).
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// POST `body` with the given `Content-Type` and optional `Content-Encoding`.
pub async fn post(
    url: &str,
    content_type: &str,
    encoding: Option<&str>,
    body: Vec<u8>,
) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .post(url)
        .header("content-type", content_type)
        .body(body);
    if let Some(encoding) = encoding {
        req = req.header("content-encoding", encoding);
    }
    req.send().await.expect("request")
}
