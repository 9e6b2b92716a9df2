//! Making a starter: a copy of the step's crate with the exercise's `ANCHOR` regions replaced
//! by `TODO(exercise N)` comments and stubs, a manifest of its own (manifest.rs), the
//! repository's `Cargo.lock`, a `.cargo/config.toml` that builds into the repository's target
//! directory (the dependencies are compiled once for both), and an `EXERCISE.md`.

use crate::catalog::{Edit, Exercise};
use crate::manifest::{self, Owner};
use anyhow::{Context, Result, bail};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The marker of a place the attendee writes in, followed by the step number.
pub const TODO_MARK: &str = "TODO(exercise ";

/// A `TODO(exercise N)` line in a copy: where, and what its first line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TodoPlace {
    /// Relative to the copy's folder, e.g. `src/telemetry.rs`.
    pub file: String,
    /// 1-based.
    pub line: usize,
    pub text: String,
}

/// What `make exercise` did.
#[derive(Debug)]
pub enum MadeCopy {
    /// The attendee's copy was there: left as it is (it may hold their work).
    Kept { dest: PathBuf },
    /// A fresh starter in `dest`; with FORCE, the previous copy was moved to `moved_aside`.
    Fresh {
        dest: PathBuf,
        solution: PathBuf,
        moved_aside: Option<PathBuf>,
        todos: Vec<TodoPlace>,
    },
}

/// `make exercise STEP=n [FORCE=1]`: the attendee's copy `exercises/step<n>-<name>/`. An
/// existing copy is never overwritten: kept, or with `force` renamed to
/// `step<n>-<name>.old-<date>-<time>` beside the fresh one.
pub fn make_copy(root: &Path, exercise: &Exercise, force: bool) -> Result<MadeCopy> {
    let solution = crate::solution_dir(root, exercise.step)?;
    let dest = crate::copy_dir(root, &solution);
    let mut moved_aside = None;
    if dest.exists() {
        if !force {
            return Ok(MadeCopy::Kept { dest });
        }
        let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S");
        let mut kept = dest.with_file_name(format!("{}.old-{stamp}", crate::dir_name(&dest)));
        // Two FORCEs within a second: do not overwrite the first one's.
        let mut n = 1;
        while kept.exists() {
            n += 1;
            kept = dest.with_file_name(format!("{}.old-{stamp}-{n}", crate::dir_name(&dest)));
        }
        std::fs::rename(&dest, &kept)
            .with_context(|| format!("moving {} aside", dest.display()))?;
        // The old copy has the new one's package name: built into the shared target directory
        // it would share the new one's compiled units (manifest::Owner). Without its
        // .cargo/config.toml, it builds into a target/ of its own, if ever.
        let config = kept.join(".cargo");
        if config.exists() {
            std::fs::remove_dir_all(&config)
                .with_context(|| format!("removing {}", config.display()))?;
        }
        moved_aside = Some(kept);
    }
    std::fs::create_dir_all(root.join(crate::EXERCISES_DIR))?;
    let todos = prepare(root, exercise, &solution, &dest, Owner::Attendee)?;
    Ok(MadeCopy::Fresh {
        dest,
        solution,
        moved_aside,
        todos,
    })
}

/// Makes the starter of `exercise` from the step's crate `solution` in `dest`, which must not
/// exist. `root` is the repository root (its Cargo.toml and Cargo.lock are copied).
pub fn prepare(
    root: &Path,
    exercise: &Exercise,
    solution: &Path,
    dest: &Path,
    owner: Owner,
) -> Result<Vec<TodoPlace>> {
    if dest.exists() {
        bail!("{} exists already", dest.display());
    }
    let staging = dest.with_extension("partial");
    if staging.exists() {
        std::fs::remove_dir_all(&staging)
            .with_context(|| format!("removing {}", staging.display()))?;
    }
    // Built in a staging folder and renamed at the end: an error half-way leaves no half copy.
    copy_tree(solution, &staging)?;
    let parts = exercise.edits.len();
    for (index, edit) in exercise.edits.iter().enumerate() {
        let path = staging.join(edit.file);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let part = (parts > 1).then_some((index + 1, parts));
        let text = take_out(&text, edit, exercise, part)
            .with_context(|| format!("{} (exercise {})", path.display(), exercise.step))?;
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    let to_root = relative_root(root, dest);
    let step_manifest = read(&staging.join("Cargo.toml"))?;
    let root_manifest = read(&root.join("Cargo.toml"))?;
    let text = manifest::starter_manifest(
        &step_manifest,
        &root_manifest,
        exercise.step,
        &to_root,
        owner,
    )?;
    std::fs::write(staging.join("Cargo.toml"), text)?;
    rename_binaries_in_tests(&staging.join("tests"), exercise.step, owner)?;
    std::fs::copy(root.join("Cargo.lock"), staging.join("Cargo.lock"))
        .context("copying Cargo.lock")?;
    std::fs::create_dir_all(staging.join(".cargo"))?;
    std::fs::write(
        staging.join(".cargo/config.toml"),
        format!(
            "# Build into the repository's target directory, beside the steps: the dependencies are\n\
             # compiled once for both. (CARGO_TARGET_DIR, when set, wins.)\n\
             [build]\ntarget-dir = \"{to_root}/target\"\n"
        ),
    )?;
    let todos = todo_places(&staging, exercise.step)?;
    std::fs::write(
        staging.join("EXERCISE.md"),
        exercise_page(exercise, solution, &todos),
    )?;
    std::fs::rename(&staging, dest)
        .with_context(|| format!("renaming {} to {}", staging.display(), dest.display()))?;
    Ok(todos)
}

/// `text` with the lines between `// ANCHOR: <anchor>` and `// ANCHOR_END: <anchor>` replaced
/// by the task as a `TODO(exercise N)` comment and the stub, at the anchor's indentation. The
/// marker lines stay: a copy whose region is the solution's again is the solution, line for
/// line (`make exercise-diff` shows nothing).
pub fn take_out(
    text: &str,
    edit: &Edit,
    exercise: &Exercise,
    part: Option<(usize, usize)>,
) -> Result<String> {
    let lines: Vec<&str> = text.lines().collect();
    let start_mark = format!("// ANCHOR: {}", edit.anchor);
    let end_mark = format!("// ANCHOR_END: {}", edit.anchor);
    let find = |mark: &str| -> Result<usize> {
        let found: Vec<usize> = (0..lines.len())
            .filter(|&i| lines[i].trim() == mark)
            .collect();
        match found[..] {
            [i] => Ok(i),
            [] => bail!("no `{mark}` line"),
            _ => bail!("`{mark}` is there {} times", found.len()),
        }
    };
    let (start, end) = (find(&start_mark)?, find(&end_mark)?);
    if end <= start {
        bail!("`{end_mark}` comes before `{start_mark}`");
    }
    let indent: String = lines[start]
        .chars()
        .take_while(|c| c.is_whitespace())
        .collect();
    let mut out: Vec<String> = lines[..=start].iter().map(|l| l.to_string()).collect();
    let part = part
        .map(|(i, n)| format!(", part {i} of {n}"))
        .unwrap_or_default();
    out.push(format!("{indent}// {TODO_MARK}{}{part})", exercise.step));
    out.extend(edit.task.lines().map(|line| format!("{indent}// {line}")));
    out.push(format!(
        "{indent}// (The book's \"Step {step}\" chapter has hints. Grade it: make check STEP={step})",
        step = exercise.step
    ));
    out.extend(edit.stub.lines().map(|line| {
        if line.is_empty() {
            String::new()
        } else {
            format!("{indent}{line}")
        }
    }));
    out.extend(lines[end..].iter().map(|l| l.to_string()));
    let mut joined = out.join("\n");
    if text.ends_with('\n') {
        joined.push('\n');
    }
    Ok(joined)
}

/// The `TODO(exercise <step>)` lines left in a copy's `src/`, in file order.
pub fn todo_places(dir: &Path, step: u32) -> Result<Vec<TodoPlace>> {
    let mark = format!("{TODO_MARK}{step}");
    let mut files = Vec::new();
    rust_files(&dir.join("src"), &mut files)?;
    files.sort();
    let mut places = Vec::new();
    for path in files {
        let text = read(&path)?;
        for (index, line) in text.lines().enumerate() {
            if let Some(at) = line.find(&mark) {
                places.push(TodoPlace {
                    file: path
                        .strip_prefix(dir)
                        .unwrap_or(&path)
                        .display()
                        .to_string(),
                    line: index + 1,
                    text: line[at..].trim().to_owned(),
                });
            }
        }
    }
    // Part 1 before part 2, whatever the files' names.
    places.sort_by(|a, b| (&a.text, &a.file, a.line).cmp(&(&b.text, &b.file, b.line)));
    Ok(places)
}

/// The copy's `EXERCISE.md`: the task in short, where to write, how to grade it.
fn exercise_page(exercise: &Exercise, solution: &Path, todos: &[TodoPlace]) -> String {
    let step = exercise.step;
    let mut page = format!(
        "# Exercise {step}: {title} ({minutes} minutes)\n\n\
         This folder is your copy of `steps/{solution}`, made by `make exercise STEP={step}`: the\n\
         step with the lesson's code taken out. It builds and runs as it is (`make run STEP={step}`\n\
         runs this copy), so you can see what is missing first. git ignores it.\n\n\
         Write the code where it says `TODO(exercise {step})`:\n\n",
        title = exercise.title,
        minutes = exercise.minutes,
        solution = crate::dir_name(solution),
    );
    for todo in todos {
        let _ = writeln!(page, "- `{}:{}`", todo.file, todo.line);
    }
    let _ = write!(
        page,
        "\nThe task, hints and the solution: the book's chapter \"Step {step}\", section\n\
         \"Exercise: {title}\" (`make book`, then http://127.0.0.1:3001/step{step}.html).\n\n\
         Grade it with `make check STEP={step}`: step {step}'s contract runs against this copy. A fresh\n\
         copy fails these tests, and passes them when you are done:\n\n",
        title = exercise.title,
    );
    for test in exercise.failing {
        let _ = writeln!(page, "- `{test}`");
    }
    let _ = write!(
        page,
        "\n`make exercise-diff STEP={step}` shows what your copy changes against the solution\n\
         (spoilers). `make exercise STEP={step} FORCE=1` starts again; it keeps this copy beside\n\
         the new one.\n"
    );
    page
}

fn rename_binaries_in_tests(tests: &Path, step: u32, owner: Owner) -> Result<()> {
    let mut files = Vec::new();
    rust_files(tests, &mut files)?;
    for path in files {
        let text = read(&path)?;
        let from = format!("CARGO_BIN_EXE_step{step}-");
        let to = format!("CARGO_BIN_EXE_{}", manifest::binary_name(step, "", owner));
        if text.contains(&from) {
            std::fs::write(&path, text.replace(&from, &to))?;
        }
    }
    Ok(())
}

/// The path from `dest` up to `root`: `../..` when `dest` is inside `root`, else `root` itself
/// (absolute).
fn relative_root(root: &Path, dest: &Path) -> String {
    match dest.strip_prefix(root) {
        Ok(inside) if inside.components().count() > 0 => {
            vec![".."; inside.components().count()].join("/")
        }
        _ => root.display().to_string(),
    }
}

/// Copies a folder, leaving out any `target/` in it.
pub fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type()?.is_dir() {
            if entry.file_name() == "target" {
                continue;
            }
            copy_tree(&source, &target)?;
        } else {
            std::fs::copy(&source, &target)
                .with_context(|| format!("copying {}", source.display()))?;
        }
    }
    Ok(())
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    if !dir.is_dir() {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            rust_files(&path, out)?;
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::EXERCISES;

    const CODE: &str = "fn main() {
    let a = 1;
    // ANCHOR: lesson
    // Why: because.
    do_the_lesson(a);
    // ANCHOR_END: lesson
    done();
}
";

    fn edit(stub: &'static str) -> Edit {
        Edit {
            file: "src/main.rs",
            anchor: "lesson",
            task: "Do the lesson.\nSecond line.",
            stub,
        }
    }

    #[test]
    fn replaces_the_region_with_the_task_and_the_stub() {
        let out = take_out(CODE, &edit("skip(a);"), &EXERCISES[1], None).unwrap();
        assert_eq!(
            out,
            "fn main() {
    let a = 1;
    // ANCHOR: lesson
    // TODO(exercise 2)
    // Do the lesson.
    // Second line.
    // (The book's \"Step 2\" chapter has hints. Grade it: make check STEP=2)
    skip(a);
    // ANCHOR_END: lesson
    done();
}
"
        );
    }

    #[test]
    fn numbers_the_parts() {
        let out = take_out(CODE, &edit(""), &EXERCISES[1], Some((2, 2))).unwrap();
        assert!(
            out.contains("// TODO(exercise 2, part 2 of 2)\n    // Do the lesson."),
            "{out}"
        );
        assert!(!out.contains("do_the_lesson"), "{out}");
    }

    #[test]
    fn a_missing_or_repeated_anchor_is_an_error() {
        let err = take_out("fn x() {}\n", &edit(""), &EXERCISES[0], None).unwrap_err();
        assert!(
            err.to_string().contains("no `// ANCHOR: lesson` line"),
            "{err}"
        );
        let twice = format!("{CODE}// ANCHOR: lesson\n");
        let err = take_out(&twice, &edit(""), &EXERCISES[0], None).unwrap_err();
        assert!(err.to_string().contains("2 times"), "{err}");
    }

    #[test]
    fn relative_root_climbs_out_of_the_copy() {
        let root = Path::new("/repo");
        assert_eq!(
            relative_root(root, Path::new("/repo/exercises/step2-traces")),
            "../.."
        );
        assert_eq!(relative_root(root, Path::new("/tmp/x")), "/repo");
    }
}
