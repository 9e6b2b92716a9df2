//! `otel-tail` as a user runs it: the real binary on free ports, real step binaries exporting
//! to it, its stdout read back. The step binaries are the workspace's (`cargo test
//! --workspace` builds them first; alone, build them with `cargo build -p step3-db -p
//! step6-resources`). Needs Postgres, Valkey and Kafka: `make services`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use otel_tail::item::Item;
use reqwest::StatusCode;
use testkit::{Stack, StackOptions, StepBinaries};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

/// A running `otel-tail` and the OTLP/HTTP address it printed.
struct Tail {
    child: Child,
    endpoint: String,
}

impl Tail {
    async fn start(args: &[&str]) -> Tail {
        let mut child = Command::new(env!("CARGO_BIN_EXE_otel-tail"))
            .args([
                "--http-port",
                "0",
                "--grpc-port",
                "0",
                "--quiet-period",
                "700ms",
            ])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("otel-tail starts");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let banner = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .expect("otel-tail prints where it listens")
            .expect("stderr")
            .expect("a line");
        let endpoint = banner
            .split_whitespace()
            .find(|word| word.starts_with("http://"))
            .unwrap_or_else(|| panic!("no address in {banner:?}"))
            .to_owned();
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Tail { child, endpoint }
    }

    /// Ctrl-C, then everything it printed; it must exit 0 within 5 s.
    async fn stop(mut self) -> String {
        let pid = self.child.id().expect("running") as libc::pid_t;
        // SAFETY: kill(2) on the child we spawned and still own (not yet reaped).
        unsafe { libc::kill(pid, libc::SIGINT) };
        let mut stdout = self.child.stdout.take().expect("stdout");
        let mut output = String::new();
        let read = stdout.read_to_string(&mut output);
        tokio::time::timeout(Duration::from_secs(5), read)
            .await
            .expect("otel-tail stops on Ctrl-C")
            .expect("stdout");
        let status = self.child.wait().await.expect("exit status");
        assert!(status.success(), "otel-tail exited with {status}");
        output
    }
}

/// `step<N>`'s binaries, built by the workspace next to this test's own executable.
fn step_binaries(step: &str) -> StepBinaries {
    let dir: PathBuf = std::env::current_exe()
        .expect("test executable")
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>")
        .to_path_buf();
    let binary = |name: &str| {
        let path = dir.join(format!("{step}-{name}"));
        assert!(
            path.exists(),
            "{} is not built: run `cargo test --workspace`, or `cargo build` the step first",
            path.display()
        );
        path
    };
    StepBinaries {
        user_service: binary("user-service"),
        email_service: binary("email-service"),
    }
}

fn exporting_to(tail: &Tail) -> StackOptions {
    StackOptions::default()
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", tail.endpoint.clone())
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .env("OTEL_BLRP_SCHEDULE_DELAY", "100")
        .env("OTEL_METRIC_EXPORT_INTERVAL", "500")
}

/// The depth (indentation) and name of a waterfall line: `  ` per level after the first two.
fn depth_and_name(line: &str) -> (usize, &str) {
    let trimmed = line.trim_start();
    let indent = line.len() - trimmed.len();
    let name_end = trimmed.find("  ").unwrap_or(trimmed.len());
    ((indent - 2) / 2, &trimmed[..name_end])
}

/// Step 3's sign-up: the waterfall shows the seven spans of the chain across both services,
/// each under the one before it, and the consumer's link to the producer.
#[tokio::test]
async fn the_step3_chain_prints_as_one_waterfall() {
    let tail = Tail::start(&["--color", "never", "--no-metrics"]).await;
    let stack = Stack::start(&step_binaries("step3"), exporting_to(&tail)).await;
    let (status, body) = stack.create_user("Ada Lovelace", "ada@example.com").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    stack.wait_for_emails(1, Duration::from_secs(30)).await;
    let topic = stack.topic.name().to_owned();
    stack.stop().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let output = tail.stop().await;

    let block: Vec<&str> = output
        .split("\ntrace ")
        .find(|block| block.contains(" · POST /users · "))
        .unwrap_or_else(|| panic!("no POST /users trace in:\n{output}"))
        .lines()
        .collect();
    assert!(
        block[0].contains("user-service, email-service"),
        "{}",
        block[0]
    );
    // The slides show this very waterfall (`TAIL_DUMP=path`).
    if let Ok(path) = std::env::var("TAIL_DUMP") {
        let text = format!("trace {}\n", block.join("\n"));
        std::fs::write(&path, text).unwrap_or_else(|err| panic!("TAIL_DUMP {path}: {err}"));
    }
    let send = format!("send {topic}");
    let process = format!("process {topic}");
    let chain = [
        "POST /users",
        "INSERT users",
        "SET",
        &send,
        &process,
        "POST",
        "POST /emails",
    ];
    let rows: Vec<(usize, &str, &str)> = block[1..]
        .iter()
        .map(|line| {
            let (depth, name) = depth_and_name(line);
            (depth, name, *line)
        })
        .collect();
    let find = |name: &str| {
        rows.iter()
            .find(|(_, n, _)| *n == name)
            .unwrap_or_else(|| panic!("no {name:?} row in:\n{}", block.join("\n")))
    };
    let (root_depth, _, _) = find("POST /users");
    assert_eq!(*root_depth, 0);
    for name in ["INSERT users", "SET", send.as_str()] {
        assert!(
            find(name).0 > 0,
            "{name} under POST /users:\n{}",
            block.join("\n")
        );
    }
    for pair in [
        [send.as_str(), process.as_str()],
        [process.as_str(), "POST"],
        ["POST", "POST /emails"],
    ] {
        let (parent, child) = (find(pair[0]), find(pair[1]));
        assert!(
            child.0 > parent.0,
            "{} is indented under {}:\n{}",
            pair[1],
            pair[0],
            block.join("\n")
        );
    }
    assert!(find("POST /emails").2.contains("email-service"));
    assert!(find("POST /emails").2.contains("http.route=/emails"));
    assert!(
        find("INSERT users")
            .2
            .contains("db.query.text=INSERT INTO users")
    );
    assert!(
        find(&process).2.contains(&format!("↪ link: {send}")),
        "the consumer's link to the producer: {}",
        find(&process).2
    );
    assert!(
        chain
            .iter()
            .all(|name| rows.iter().any(|(_, n, _)| n == name))
    );
    assert!(!output.contains("\x1b["), "--color never: no escape codes");
}

/// `--json`: every line is an item that reads back to the same line; step 6 sends all three
/// signals, so traces, log records and metrics are all there.
#[tokio::test]
async fn json_output_round_trips() {
    let tail = Tail::start(&["--json"]).await;
    let stack = Stack::start(&step_binaries("step6"), exporting_to(&tail)).await;
    let (status, body) = stack.create_user("Grace Hopper", "grace@example.com").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    stack.wait_for_emails(1, Duration::from_secs(30)).await;
    stack.stop().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let output = tail.stop().await;

    let (mut traces, mut logs, mut metrics) = (0, 0, 0);
    for line in output.lines() {
        let item: Item =
            serde_json::from_str(line).unwrap_or_else(|err| panic!("not an item ({err}): {line}"));
        assert_eq!(
            serde_json::to_string(&item).expect("JSON"),
            line,
            "round trip"
        );
        match item {
            Item::Trace(trace) => {
                traces += 1;
                assert!(!trace.spans.is_empty());
            }
            Item::Log(log) => {
                logs += 1;
                assert!(!log.service.is_empty());
            }
            Item::Metrics(batch) => {
                metrics += 1;
                assert!(!batch.points.is_empty());
            }
        }
    }
    assert!(
        traces > 0 && logs > 0 && metrics > 0,
        "{traces} traces, {logs} logs, {metrics} metric batches"
    );
    assert!(
        output.contains("\"body\":\"user created\""),
        "the sign-up's record is there"
    );
}

/// Malformed, oversized and mistyped requests get their 4xx, and the viewer keeps showing
/// what comes next; a port already taken is a clear error that names `make down`.
#[tokio::test]
async fn bad_input_is_answered_and_survived() {
    let tail = Tail::start(&["--color", "never"]).await;
    let http = reqwest::Client::new();
    let url = format!("{}/v1/traces", tail.endpoint);
    let post = |body: Vec<u8>, content_type: &'static str| {
        http.post(&url)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let garbage = post(
        b"\x0a\xff\xff\xff not protobuf".to_vec(),
        "application/x-protobuf",
    );
    assert_eq!(
        garbage.await.expect("answer").status(),
        StatusCode::BAD_REQUEST
    );
    // Small on the wire, 33 MiB once inflated: over the receiver's 32 MiB limit.
    let mut bomb = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut bomb, &vec![0u8; 33 * 1024 * 1024]).expect("gzip");
    let oversized = http
        .post(&url)
        .header("content-type", "application/x-protobuf")
        .header("content-encoding", "gzip")
        .body(bomb.finish().expect("gzip"))
        .send();
    assert_eq!(
        oversized.await.expect("answer").status(),
        StatusCode::PAYLOAD_TOO_LARGE
    );
    let mistyped = post(b"hello".to_vec(), "text/plain");
    assert_eq!(
        mistyped.await.expect("answer").status(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    let bad_json = post(b"{\"resourceSpans\": 7}".to_vec(), "application/json");
    assert_eq!(
        bad_json.await.expect("answer").status(),
        StatusCode::BAD_REQUEST
    );

    // Still there: a valid OTLP/JSON span is shown.
    let span = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"after-the-storm"}}]},"scopeSpans":[{"spans":[{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7","name":"still alive","kind":2,"startTimeUnixNano":"1000000","endTimeUnixNano":"3000000"}]}]}]}"#;
    let valid = post(span.as_bytes().to_vec(), "application/json");
    assert_eq!(valid.await.expect("answer").status(), StatusCode::OK);

    let port = tail.endpoint.rsplit(':').next().expect("port").to_owned();
    let taken = Command::new(env!("CARGO_BIN_EXE_otel-tail"))
        .args(["--http-port", &port, "--grpc-port", "0"])
        .output()
        .await
        .expect("a second otel-tail runs");
    assert_eq!(taken.status.code(), Some(2), "a port in use is exit code 2");
    let said = String::from_utf8_lossy(&taken.stderr);
    assert!(
        said.contains("already in use") && said.contains("make down"),
        "{said}"
    );

    tokio::time::sleep(Duration::from_millis(1000)).await;
    let output = tail.stop().await;
    assert!(
        output.contains("still alive") && output.contains("after-the-storm"),
        "the viewer kept going:\n{output}"
    );
}
