//! The book's graded exercises.
//!
//! `make exercise STEP=n` makes the attendee's copy of step n, a *starter*: the step's crate
//! with the lesson's code taken out (catalog.rs says which `ANCHOR` regions), in
//! `exercises/step<n>-<name>/`, which git ignores. It builds and runs as it is, so the attendee
//! first sees what is missing (no parent span, no metrics, no log records…), and each place to
//! write says `TODO(exercise n)` with the task. `make check STEP=n` runs step n's contract
//! against that copy if it exists, otherwise against the solution (`steps/step<n>-<name>/`),
//! says which, and ends with what to do next.
//!
//! Why not `todo!()` in the holes: a `todo!()` panics where it is reached, so the step-2, 5 and
//! 6 starters could not even start, and step 4's would drop every request: the "see the gap
//! first" part of each exercise would be a backtrace.

pub mod catalog;
pub mod check;
pub mod manifest;
pub mod starter;

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

/// Where the attendees' copies go, under the repository root (in .gitignore).
pub const EXERCISES_DIR: &str = "exercises";

/// The repository root: this crate is `crates/exercise`.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// `steps/step<n>-<name>/`: the step's crate, which is the exercise's solution.
pub fn solution_dir(root: &Path, step: u32) -> Result<PathBuf> {
    let steps = root.join("steps");
    let prefix = format!("step{step}-");
    let mut found = Vec::new();
    for entry in
        std::fs::read_dir(&steps).with_context(|| format!("reading {}", steps.display()))?
    {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.starts_with(&prefix) && path.join("Cargo.toml").is_file() {
            found.push(path);
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => bail!("there is no step {step}: no steps/{prefix}*/ crate"),
        _ => bail!("more than one steps/{prefix}*/ crate: {found:?}"),
    }
}

/// `exercises/step<n>-<name>/`, the attendee's copy, named like the solution's folder.
pub fn copy_dir(root: &Path, solution: &Path) -> PathBuf {
    root.join(EXERCISES_DIR).join(dir_name(solution))
}

/// The last component of a path, as text (`step2-traces`).
pub fn dir_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `path` relative to `root` when it is inside it (for messages), else as it is.
pub fn shown(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}
