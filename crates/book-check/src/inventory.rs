//! What the project reads and opens, found in its sources, so that the reference chapter can
//! be checked against it: every environment variable and every port must be named there (as
//! `` `NAME` `` or `` `NAME=…` ``, and `` `PORT` ``). The descriptions stay hand-written; the
//! list of names comes from the code.
//!
//! Environment variables:
//!
//! - Rust (`steps/*/src`, `crates/*/src`): `std::env::var("X")`, `var_os("X")`, the test
//!   kit's `env_or("X", …)`, clap's `env = "X"`, and the services' `text("X", …)` /
//!   `parsed("X", …)` in `config.rs`;
//! - the Makefile: `X ?= …`, and `$(X)` / `$${X:-…}` that the Makefile does not set itself
//!   (`make load DURATION=…`);
//! - the scripts (`scripts/*.sh`, `docker/scripts/*.sh`): `${X:-default}`.
//!
//! Ports: the 127.0.0.1 ports `docker/compose.yaml` publishes, the services' default listen
//! addresses (the highest step's `config.rs`), the native services (`scripts/services.sh`),
//! `make tail`'s defaults and the Makefile's `*_PORT`.

use crate::{Problem, line_of};
use regex::Regex;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

/// Variables every program sees, or that the scripts pass to each other: not documented.
pub const NOT_DOCUMENTED: &[(&str, &str)] = &[
    ("PATH", "the shell's"),
    ("HOME", "the shell's"),
    ("CARGO_HOME", "rustup's, only to find ~/.cargo/bin"),
    ("CARGO_MANIFEST_DIR", "set by cargo"),
    (
        "MAKELEVEL",
        "set by make (the bench reads it to write `make bench` as its command)",
    ),
    ("MAKEFILE_LIST", "make's own"),
    ("CI", ".ci/run sets it for itself"),
    (
        "COMPOSE_PROFILES",
        "docker compose's, set by docker/scripts/stack.sh",
    ),
    (
        "SERVICES_APT_UPDATED",
        ".ci/run tells scripts/services.sh that apt-get update ran",
    ),
];

static RUST_ENV: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?:env::var(?:_os)?|\benv_or)\(\s*"([A-Z][A-Z0-9_]*)"|\benv\s*=\s*"([A-Z][A-Z0-9_]*)""#,
    )
    .expect("valid regex")
});
static CONFIG_ENV: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"\b(?:text|parsed)\(\s*"([A-Z][A-Z0-9_]*)""#).expect("valid regex")
});
static MAKE_SET: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?m)^([A-Z][A-Z0-9_]*)\s*(\?=|:=|\+=|=)").expect("valid regex"));
static MAKE_USE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\$\(([A-Z][A-Z0-9_]*)\)|\$\$\{([A-Z][A-Z0-9_]*):-").expect("valid regex")
});
static SHELL_DEFAULT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\$\{([A-Z][A-Z0-9_]*):-").expect("valid regex"));
static PUBLISHED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#""127\.0\.0\.1:(\d+):\d+""#).expect("valid regex"));
static ADDRESS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"127\.0\.0\.1:(\d+)").expect("valid regex"));
static SCRIPT_PORT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?m)^[A-Z_]*PORT=(\d+)").expect("valid regex"));
static MAKE_PORT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?m)^[A-Z_]*PORT\s*\?=\s*(\d+)").expect("valid regex"));
static CLAP_PORT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"default_value_t\s*=\s*(\d+),\s*env\s*=\s*"[A-Z_]*PORT""#).expect("valid regex")
});

/// A name and where it was first seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub name: String,
    pub file: PathBuf,
    pub line: usize,
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn sorted_dirs(parent: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(parent)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    dirs
}

fn files_with_ext(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == ext))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

fn note(found: &mut BTreeMap<String, Seen>, name: &str, file: &Path, text: &str, offset: usize) {
    found.entry(name.to_owned()).or_insert_with(|| Seen {
        name: name.to_owned(),
        file: file.to_path_buf(),
        line: line_of(text, offset),
    });
}

/// The steps' directories, highest number last.
pub fn step_dirs(repo: &Path) -> Vec<PathBuf> {
    let mut steps: Vec<(u32, PathBuf)> = sorted_dirs(&repo.join("steps"))
        .into_iter()
        .filter_map(|dir| {
            let name = dir.file_name()?.to_str()?;
            let number = name.strip_prefix("step")?.split('-').next()?.parse().ok()?;
            Some((number, dir))
        })
        .collect();
    steps.sort();
    steps.into_iter().map(|(_, dir)| dir).collect()
}

/// Every environment variable the project reads, but [`NOT_DOCUMENTED`].
pub fn env_vars(repo: &Path) -> Vec<Seen> {
    let mut found = BTreeMap::new();
    let mut sources = Vec::new();
    for parent in ["steps", "crates"] {
        for dir in sorted_dirs(&repo.join(parent)) {
            // this crate's own sources name the patterns it looks for
            if dir.ends_with("crates/book-check") {
                continue;
            }
            rust_files(&dir.join("src"), &mut sources);
        }
    }
    for file in &sources {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for cap in RUST_ENV.captures_iter(&text) {
            let name = cap.get(1).or(cap.get(2)).expect("a group matched");
            note(&mut found, name.as_str(), file, &text, name.start());
        }
        if file.file_name().is_some_and(|n| n == "config.rs") {
            for cap in CONFIG_ENV.captures_iter(&text) {
                let name = cap.get(1).expect("group");
                note(&mut found, name.as_str(), file, &text, name.start());
            }
        }
    }
    let makefile = repo.join("Makefile");
    if let Ok(text) = std::fs::read_to_string(&makefile) {
        let set: BTreeMap<&str, &str> = MAKE_SET
            .captures_iter(&text)
            .map(|c| {
                (
                    c.get(1).expect("group").as_str(),
                    c.get(2).expect("group").as_str(),
                )
            })
            .collect();
        for cap in MAKE_SET.captures_iter(&text) {
            if &cap[2] == "?=" {
                let name = cap.get(1).expect("group");
                note(&mut found, name.as_str(), &makefile, &text, name.start());
            }
        }
        for cap in MAKE_USE.captures_iter(&text) {
            let name = cap.get(1).or(cap.get(2)).expect("a group matched");
            if !set.contains_key(name.as_str()) {
                note(&mut found, name.as_str(), &makefile, &text, name.start());
            }
        }
    }
    for dir in ["scripts", "docker/scripts"] {
        for file in files_with_ext(&repo.join(dir), "sh") {
            let Ok(text) = std::fs::read_to_string(&file) else {
                continue;
            };
            for cap in SHELL_DEFAULT.captures_iter(&text) {
                let name = cap.get(1).expect("group");
                note(&mut found, name.as_str(), &file, &text, name.start());
            }
        }
    }
    found
        .into_values()
        .filter(|seen| !NOT_DOCUMENTED.iter().any(|(name, _)| *name == seen.name))
        .collect()
}

/// Every port the project publishes, listens on or connects to by default.
pub fn ports(repo: &Path) -> Vec<Seen> {
    let mut found = BTreeMap::new();
    let mut scan = |file: PathBuf, pattern: &Regex| {
        let Ok(text) = std::fs::read_to_string(&file) else {
            return;
        };
        for cap in pattern.captures_iter(&text) {
            let port = cap.get(1).expect("group");
            note(&mut found, port.as_str(), &file, &text, port.start());
        }
    };
    scan(repo.join("docker/compose.yaml"), &PUBLISHED);
    if let Some(step) = step_dirs(repo).last() {
        scan(step.join("src/config.rs"), &ADDRESS);
    }
    scan(repo.join("scripts/services.sh"), &SCRIPT_PORT);
    scan(repo.join("Makefile"), &MAKE_PORT);
    scan(repo.join("crates/tail/src/cli.rs"), &CLAP_PORT);
    let mut ports: Vec<Seen> = found.into_values().collect();
    ports.sort_by_key(|seen| seen.name.parse::<u32>().unwrap_or(u32::MAX));
    ports
}

/// A problem for each name `reference` (the text of `reference_file`) does not mention in
/// backticks.
pub fn missing(reference_file: &Path, reference: &str, names: &[Seen], kind: &str) -> Vec<Problem> {
    names
        .iter()
        .filter(|seen| {
            !reference.contains(&format!("`{}`", seen.name))
                && !reference.contains(&format!("`{}=", seen.name))
        })
        .map(|seen| {
            Problem::new(
                reference_file,
                0,
                format!(
                    "{kind} `{}` ({}:{}) is not in the reference: add it, in backticks, to its table",
                    seen.name,
                    crate::display_path(&seen.file),
                    seen.line
                ),
            )
        })
        .collect()
}
