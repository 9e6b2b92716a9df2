//! Static checks of the demo stack under `docker/`, for machines without a Docker engine.
//!
//! Each check is a function that takes parsed files and returns the problems it found, one
//! readable sentence each (an empty list means the check passes). Every check has a unit test
//! that feeds it a broken input and expects the problem; `tests/stack.rs` runs them all on the
//! real files.
//!
//! - [`envfile`]: the `docker/.env` file (versions, settings);
//! - [`compose`]: references inside `compose.yaml` (services, volumes, variables, ports, images);
//! - [`collector`]: the OpenTelemetry Collector's pipelines and receivers;
//! - [`backends`]: Tempo, Loki and Mimir configs against compose and their format breaks;
//! - [`alloy`]: a small parser of Alloy's configuration language, and its references;
//! - [`endpoints`]: exporter and datasource URLs must point at a compose service and a port it
//!   listens on;
//! - [`grafana`]: datasource UIDs, `$` escaping, dashboards and their queries (metric and
//!   label names from `docker/known-metrics.txt`, rate windows; LogQL queries and the
//!   Loki links against `docker/known-log-fields.txt`; the `$variables` the queries use exist
//!   and every variable is used; a filter on an optional resource label keeps the series
//!   without it when its variable is "All");
//! - [`promql`]: metric names, label names and ranges used by a PromQL expression;
//! - [`logql`]: a structural LogQL reader, and the check of a query's stream labels and
//!   fields against `docker/known-log-fields.txt` (what Loki makes of OTLP log records);
//! - [`tempo`]: the metric names Tempo's metrics-generator really produces (from its source),
//!   and the histogram buckets behind a latency panel;
//! - [`service_graph`]: the collector and Alloy name the service graph's peers
//!   (`peer.service`) in their traces path, and Tempo reads that name;
//! - [`resources`]: what Mimir, Tempo and Loki make of the OTLP resource (`job`/`instance`,
//!   promoted labels, `target_info`, span-metrics dimensions, Loki labels and structured
//!   metadata), hence which labels each metric has and which ones a series may lack.

pub mod alloy;
pub mod backends;
pub mod collector;
pub mod compose;
pub mod endpoints;
pub mod envfile;
pub mod grafana;
pub mod logql;
pub mod promql;
pub mod resources;
pub mod service_graph;
pub mod tempo;

use std::path::{Path, PathBuf};

/// The `docker/` directory of this repository.
pub fn docker_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docker")
}

/// Reads a YAML file into a generic value.
pub fn read_yaml(path: &Path) -> Result<serde_yaml_ng::Value, String> {
    let text = read_text(path)?;
    serde_yaml_ng::from_str(&text).map_err(|e| format!("{}: invalid YAML: {e}", path.display()))
}

/// Reads a JSON file into a generic value.
pub fn read_json(path: &Path) -> Result<serde_json::Value, String> {
    let text = read_text(path)?;
    serde_json::from_str(&text).map_err(|e| format!("{}: invalid JSON: {e}", path.display()))
}

/// Reads a text file, with the path in the error.
pub fn read_text(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))
}

/// Looks up a path of mapping keys in a YAML value.
pub fn yaml_get<'a>(
    value: &'a serde_yaml_ng::Value,
    path: &[&str],
) -> Option<&'a serde_yaml_ng::Value> {
    path.iter().try_fold(value, |v, key| v.get(*key))
}

/// The string keys of a YAML mapping (empty if `value` is not a mapping).
pub fn yaml_keys(value: Option<&serde_yaml_ng::Value>) -> Vec<String> {
    value
        .and_then(|v| v.as_mapping())
        .map(|m| {
            m.keys()
                .filter_map(|k| k.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The strings of a YAML sequence of strings (empty if it is not one).
pub fn yaml_strings(value: Option<&serde_yaml_ng::Value>) -> Vec<String> {
    value
        .and_then(|v| v.as_sequence())
        .map(|s| {
            s.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Formats a list of problems for an assertion message.
pub fn report(problems: &[String]) -> String {
    problems.iter().map(|p| format!("  - {p}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_file(name: &str, text: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!("stack-check-{}-{name}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn broken_yaml_and_json_fail() {
        let ok = temp_file("ok.yaml", "a:\n  b: [1, 2]\n");
        assert!(read_yaml(&ok).is_ok());
        for (name, text) in [
            ("dup.yaml", "a: 1\na: 2\n"),
            ("indent.yaml", "a:\n  b: 1\n c: 2\n"),
            ("tab.yaml", "a:\n\tb: 1\n"),
        ] {
            let path = temp_file(name, text);
            assert!(
                read_yaml(&path).unwrap_err().contains("invalid YAML"),
                "{name}"
            );
            std::fs::remove_file(path).unwrap();
        }
        let bad = temp_file("bad.json", "{\"a\": [1, 2,]}");
        assert!(read_json(&bad).unwrap_err().contains("invalid JSON"));
        assert!(
            read_text(Path::new("/nonexistent/stack-check"))
                .unwrap_err()
                .contains("cannot read")
        );
        for p in [ok, bad] {
            std::fs::remove_file(p).unwrap();
        }
    }
}
