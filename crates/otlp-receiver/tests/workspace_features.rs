//! Guard: nothing in the workspace may enable opentelemetry-otlp's `http-json` feature.
//!
//! Cargo unifies features across everything one build compiles. If any crate
//! (this one's dev-dependencies included) enabled `http-json`, then under
//! `cargo test --workspace` the step binaries would get it too, and
//! `SpanExporter::builder().build()` with no `OTEL_EXPORTER_OTLP_*PROTOCOL`
//! variable set would switch to http/json (opentelemetry-otlp 0.33.1,
//! `Protocol::feature_default`: http-json > http-proto > grpc-tonic). The tests
//! would then silently exercise another protocol than the binaries users run.
//! `tests/sdk.rs` covers OTLP/JSON without the feature, through a relay.

use std::process::Command;

/// Asks Cargo for the features it resolves for opentelemetry-otlp in a build of
/// the whole workspace with all features, dev-dependencies included (the
/// superset of what `cargo test --workspace` compiles). `cargo tree` rather
/// than `cargo metadata`: it resolves for the host only, so it needs no
/// download of other platforms' crates, and takes well under a second.
#[test]
fn workspace_does_not_enable_otlp_http_json() {
    // Both are set by `cargo test` when it runs the test; reading them at run
    // time (not `env!`) checks the tree the test runs in.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let dir =
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into());
    let output = Command::new(cargo)
        .current_dir(dir)
        .args([
            "tree",
            "--locked", // never rewrite Cargo.lock from a test
            "--workspace",
            "--all-features",
            "--edges=normal,build,dev",
            "--invert=opentelemetry-otlp",
            "--depth=0",
            "--prefix=none",
            "--format={p}|{f}",
        ])
        .output()
        .expect("run cargo tree");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "cargo tree failed: {}{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );

    // One line per distinct build of the crate: "opentelemetry-otlp v0.33.1|feat,feat".
    let builds: Vec<(&str, Vec<&str>)> = stdout
        .lines()
        .filter_map(|line| line.split_once('|'))
        .filter(|(package, _)| package.starts_with("opentelemetry-otlp v"))
        .map(|(package, features)| (package, features.split(',').collect()))
        .collect();
    // Guards the guard: the output must be in the format parsed above.
    assert!(
        !builds.is_empty() && builds.iter().all(|(_, f)| f.contains(&"http-proto")),
        "unexpected cargo tree output:\n{stdout}"
    );
    for (package, features) in &builds {
        assert!(
            !features.contains(&"http-json"),
            "{package} is built with `http-json` ({}). Remove it: it changes the default \
             OTLP protocol of the step binaries under `cargo test --workspace`. \
             Run `cargo tree -e features -i opentelemetry-otlp` to see who enables it.",
            features.join(",")
        );
    }
}
