//! The starter's `Cargo.toml`: the step's manifest, renamed so that nothing clashes with the
//! step in the shared target directory, and made a workspace of its own with the repository's
//! pinned versions, profiles and patches (so that it never touches the repository's
//! `Cargo.lock`, and its dependencies are the ones the steps were tested with).

use anyhow::{Result, bail};
use regex::Regex;

/// Whose copy a starter is. Two copies must never share a package name: every copy builds
/// into the repository's target directory, and cargo hashes a workspace's own package without
/// its path, so two copies named alike would share their compiled units — one would run the
/// other's binaries, built from the other's sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// `make exercise`: `exercises/step<n>-<name>/`.
    Attendee,
    /// `make test-exercises`: `target/exercise-selftest/step<n>-<name>/`.
    Selftest,
}

impl Owner {
    fn word(self) -> &'static str {
        match self {
            Owner::Attendee => "exercise",
            Owner::Selftest => "selftest",
        }
    }
}

/// The starter's package name: `step2-exercise` (the library keeps the step's crate name,
/// `step2_traces`, so that the code's `use step2_traces::…` lines stay as they are).
pub fn package_name(step: u32, owner: Owner) -> String {
    format!("step{step}-{}", owner.word())
}

/// The starter's binaries: `exercise2-user-service`, where the step has `step2-user-service`
/// (binaries land in the shared `target/debug/`, where the step's would be overwritten).
pub fn binary_name(step: u32, service: &str, owner: Owner) -> String {
    format!("{}{step}-{service}", owner.word())
}

/// `step_manifest` (the step's Cargo.toml) made the starter's. `root_manifest` is the
/// repository's; `to_root` the path from the starter's folder to the repository root
/// (`../..`), which every `path = "…"` of the copied workspace tables is made relative to.
pub fn starter_manifest(
    step_manifest: &str,
    root_manifest: &str,
    step: u32,
    to_root: &str,
    owner: Owner,
) -> Result<String> {
    let name = Regex::new(r#"(?m)^name = "([^"]+)"\s*$"#).expect("valid regex");
    let Some(package) = name.captures(step_manifest).map(|c| c[1].to_owned()) else {
        bail!("the step's Cargo.toml has no `name = \"…\"` line");
    };
    let mut text = name
        .replace(
            step_manifest,
            format!("name = \"{}\"", package_name(step, owner)).as_str(),
        )
        .into_owned();
    let description = Regex::new(r#"(?m)^description = .*$"#).expect("valid regex");
    text = description
        .replace(
            &text,
            format!(
                "description = \"Your copy of step {step} ({package}): made by `make exercise STEP={step}`, graded by `make check STEP={step}`\""
            )
            .as_str(),
        )
        .into_owned();
    for service in ["user-service", "email-service"] {
        let from = format!("\"step{step}-{service}\"");
        if !text.contains(&from) {
            bail!("the step's Cargo.toml names no binary {from}");
        }
        text = text.replace(&from, &format!("\"{}\"", binary_name(step, service, owner)));
    }
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&format!(
        "\n# The library keeps the step's name: the code says `use {lib}::…`.\n[lib]\nname = \"{lib}\"\npath = \"src/lib.rs\"\n",
        lib = package.replace('-', "_"),
    ));
    text.push_str(&workspace_tables(root_manifest, to_root));
    Ok(text)
}

/// The repository's `[workspace.package]`, `[workspace.dependencies]`, `[profile.*]` and
/// `[patch.*]` tables, under a `[workspace]` of the starter's own.
fn workspace_tables(root_manifest: &str, to_root: &str) -> String {
    let path = Regex::new(r#"path = "([^"]+)""#).expect("valid regex");
    let mut out = String::from(
        "\n# ---- Below: the repository's Cargo.toml, copied by `make exercise`. This copy is a\n\
         # workspace of its own, so that building it never changes the repository's Cargo.lock;\n\
         # the versions, profiles and patches are the ones the steps are tested with.\n\
         [workspace]\nresolver = \"3\"\n",
    );
    let mut keep = false;
    for line in root_manifest.lines() {
        if let Some(header) = line.strip_prefix('[') {
            keep = header.starts_with("workspace.")
                || header.starts_with("profile.")
                || header.starts_with("patch.");
            if keep {
                out.push('\n');
            }
        }
        if keep {
            let line = path.replace_all(line, |c: &regex::Captures| {
                format!("path = \"{to_root}/{}\"", &c[1])
            });
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const STEP: &str = r#"[package]
name = "step2-traces"
version = "0.1.0"
description = "Step 2: traces"
default-run = "step2-user-service"
edition.workspace = true

[[bin]]
name = "step2-user-service"
path = "src/bin/user-service.rs"

[[bin]]
name = "step2-email-service"
path = "src/bin/email-service.rs"

[dev-dependencies]
testkit.workspace = true
"#;

    const ROOT: &str = r#"[workspace]
resolver = "3"
members = ["steps/*", "crates/*"]

[workspace.package]
edition = "2024"

[workspace.dependencies]
tokio = "1"
testkit = { path = "crates/testkit" }

[profile.dev]
debug = "line-tables-only"

[patch.crates-io]
rdkafka-sys = { path = "vendor/rdkafka-sys" }
"#;

    #[test]
    fn renames_the_package_and_binaries_and_keeps_the_library_name() {
        let text = starter_manifest(STEP, ROOT, 2, "../..", Owner::Attendee).unwrap();
        assert!(text.contains("name = \"step2-exercise\"\n"), "{text}");
        assert!(
            text.contains("default-run = \"exercise2-user-service\""),
            "{text}"
        );
        assert!(
            text.contains("name = \"exercise2-email-service\""),
            "{text}"
        );
        assert!(!text.contains("\"step2-user-service\""), "{text}");
        assert!(text.contains("[lib]\nname = \"step2_traces\""), "{text}");
        assert!(text.contains("make exercise STEP=2"), "{text}");
    }

    #[test]
    fn the_selftest_copies_have_names_of_their_own() {
        let text = starter_manifest(STEP, ROOT, 2, "../..", Owner::Selftest).unwrap();
        assert!(text.contains("name = \"step2-selftest\"\n"), "{text}");
        assert!(
            text.contains("name = \"selftest2-email-service\""),
            "{text}"
        );
        assert!(!text.contains("exercise2-"), "{text}");
    }

    #[test]
    fn carries_the_workspace_tables_with_paths_from_the_copy() {
        let text = starter_manifest(STEP, ROOT, 2, "../..", Owner::Attendee).unwrap();
        assert!(text.contains("[workspace]\nresolver = \"3\"\n"), "{text}");
        assert!(!text.contains("members"), "{text}");
        assert!(
            text.contains("testkit = { path = \"../../crates/testkit\" }"),
            "{text}"
        );
        assert!(
            text.contains("rdkafka-sys = { path = \"../../vendor/rdkafka-sys\" }"),
            "{text}"
        );
        assert!(text.contains("[profile.dev]\ndebug"), "{text}");
        assert!(
            text.contains("[workspace.package]\nedition = \"2024\""),
            "{text}"
        );
    }

    #[test]
    fn a_step_without_the_binaries_is_an_error() {
        let manifest = STEP.replace("step2-email-service", "email");
        let err = starter_manifest(&manifest, ROOT, 2, "../..", Owner::Attendee).unwrap_err();
        assert!(err.to_string().contains("step2-email-service"), "{err}");
    }
}
