//! Starters made from the real steps, without building them (`make test-exercises` builds and
//! runs them): every catalog entry finds its anchors, takes the solution's code out, leaves
//! its TODO places, and makes a manifest cargo reads; and `make exercise` never loses a copy.

use exercise::catalog::{EXERCISES, exercise};
use exercise::manifest::Owner;
use exercise::starter::{MadeCopy, TODO_MARK, copy_tree, make_copy, prepare, todo_places};
use exercise::{repo_root, solution_dir};
use std::path::{Path, PathBuf};
use std::process::Command;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("exercise-test-{}-{name}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The lines between `// ANCHOR: name` and its end in the solution's file.
fn region(text: &str, anchor: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.trim() == format!("// ANCHOR: {anchor}"))
        .expect("start");
    let end = lines
        .iter()
        .position(|l| l.trim() == format!("// ANCHOR_END: {anchor}"))
        .expect("end");
    lines[start + 1..end].join("\n")
}

#[test]
fn every_exercise_makes_a_starter_from_its_step() {
    let root = repo_root();
    let base = scratch("all");
    for exercise in EXERCISES {
        let step = exercise.step;
        let solution = solution_dir(&root, step).unwrap();
        let dest = base.join(format!("step{step}"));
        let todos = prepare(&root, exercise, &solution, &dest, Owner::Attendee)
            .unwrap_or_else(|e| panic!("step {step}: {e:#}"));
        assert_eq!(todos.len(), exercise.edits.len(), "step {step}: {todos:?}");
        assert_eq!(todos, todo_places(&dest, step).unwrap());
        for edit in exercise.edits {
            let original = std::fs::read_to_string(solution.join(edit.file)).unwrap();
            let starter = std::fs::read_to_string(dest.join(edit.file)).unwrap();
            let taken = region(&original, edit.anchor);
            assert!(
                !starter.contains(&taken),
                "step {step}: {} still holds the solution's {}",
                edit.file,
                edit.anchor
            );
            assert!(starter.contains(TODO_MARK), "step {step}: {}", edit.file);
            // The markers stay, so that the solution put back is the solution, line for line.
            assert!(starter.contains(&format!("// ANCHOR: {}\n", edit.anchor)));
            assert!(starter.contains(&format!("// ANCHOR_END: {}\n", edit.anchor)));
        }
        // The binaries are renamed everywhere the tests name them.
        let contract = std::fs::read_to_string(dest.join("tests/contract.rs")).unwrap();
        assert!(contract.contains(&format!("CARGO_BIN_EXE_exercise{step}-user-service")));
        assert!(!contract.contains(&format!("CARGO_BIN_EXE_step{step}-")));
        // Outside the repository, the target directory is named absolutely.
        let config = std::fs::read_to_string(dest.join(".cargo/config.toml")).unwrap();
        assert!(
            config.contains(&format!("target-dir = \"{}/target\"", root.display())),
            "{config}"
        );
        let page = std::fs::read_to_string(dest.join("EXERCISE.md")).unwrap();
        for test in exercise.failing {
            assert!(page.contains(test), "step {step}: EXERCISE.md lacks {test}");
        }
        assert!(dest.join("Cargo.lock").is_file());
        assert_cargo_reads(&dest, step);
    }
    std::fs::remove_dir_all(base).unwrap();
}

/// `cargo metadata` reads the starter's manifest as a workspace of its own.
fn assert_cargo_reads(dest: &Path, step: u32) {
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(dest)
        .args([
            "metadata",
            "--no-deps",
            "--offline",
            "--format-version",
            "1",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "step {step}: cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("\"name\":\"step{step}-exercise\"")),
        "{stdout}"
    );
    assert!(stdout.contains(&format!("\"name\":\"exercise{step}-email-service\"")));
    let root = dest.display().to_string();
    assert!(
        stdout.contains(&format!("\"workspace_root\":\"{root}\"")),
        "{stdout}"
    );
}

/// A repository with what `make exercise STEP=1` reads: the root manifest and lock, step 1.
fn small_repo() -> PathBuf {
    let real = repo_root();
    let root = scratch("repo");
    for file in ["Cargo.toml", "Cargo.lock"] {
        std::fs::copy(real.join(file), root.join(file)).unwrap();
    }
    let solution = solution_dir(&real, 1).unwrap();
    copy_tree(
        &solution,
        &root.join("steps").join(solution.file_name().unwrap()),
    )
    .unwrap();
    root
}

#[test]
fn make_exercise_never_loses_a_copy() {
    let root = small_repo();
    let exercise = exercise(1).unwrap();
    let MadeCopy::Fresh {
        dest, moved_aside, ..
    } = make_copy(&root, exercise, false).unwrap()
    else {
        panic!("a first copy should be made");
    };
    assert_eq!(dest, root.join("exercises/step1-plain"));
    assert_eq!(moved_aside, None);
    // Its config climbs out of exercises/step1-plain to the repository's target/.
    let config = std::fs::read_to_string(dest.join(".cargo/config.toml")).unwrap();
    assert!(config.contains("target-dir = \"../../target\""), "{config}");
    let work = dest.join("src/my-work.rs");
    std::fs::write(&work, "// the attendee's work\n").unwrap();

    // Again, without FORCE: nothing changes.
    match make_copy(&root, exercise, false).unwrap() {
        MadeCopy::Kept { dest: kept } => assert_eq!(kept, dest),
        other => panic!("an existing copy must be kept, got {other:?}"),
    }
    assert!(work.is_file(), "the attendee's work is gone");

    // With FORCE: a fresh copy, and the old one beside it, work included.
    let MadeCopy::Fresh { moved_aside, .. } = make_copy(&root, exercise, true).unwrap() else {
        panic!("FORCE makes a fresh copy");
    };
    let old = moved_aside.expect("the old copy is moved aside");
    assert!(old.join("src/my-work.rs").is_file(), "{}", old.display());
    // It no longer builds into the shared target directory, where it would share the new
    // copy's compiled units.
    assert!(!old.join(".cargo/config.toml").exists());
    assert!(
        old.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("step1-plain.old-")
    );
    assert!(!dest.join("src/my-work.rs").exists());
    // A second FORCE in the same second keeps both old copies.
    let MadeCopy::Fresh { moved_aside, .. } = make_copy(&root, exercise, true).unwrap() else {
        panic!("FORCE makes a fresh copy");
    };
    assert_ne!(moved_aside.as_ref(), Some(&old));
    assert!(old.join("src/my-work.rs").is_file());
    std::fs::remove_dir_all(root).unwrap();
}
