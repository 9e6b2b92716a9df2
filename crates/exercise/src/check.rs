//! `make check STEP=n`: run step n's contract (`tests/contract.rs`, the test kit's tests for
//! that step) against the attendee's copy if there is one, else against the solution; show
//! cargo's output as it comes, then say what passed and what to do next.

use crate::catalog::Exercise;
use crate::starter::{TodoPlace, todo_places};
use crate::{copy_dir, shown, solution_dir};
use anyhow::{Context, Result};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What a check runs against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The attendee's copy, `exercises/step<n>-<name>/`.
    Copy { dir: PathBuf, solution: PathBuf },
    /// The step's own crate, `steps/step<n>-<name>/`.
    Solution { dir: PathBuf },
}

impl Target {
    /// The copy if the attendee made one, else the solution.
    pub fn find(root: &Path, step: u32) -> Result<Self> {
        let solution = solution_dir(root, step)?;
        let copy = copy_dir(root, &solution);
        Ok(if copy.join("Cargo.toml").is_file() {
            Target::Copy {
                dir: copy,
                solution,
            }
        } else {
            Target::Solution { dir: solution }
        })
    }

    pub fn dir(&self) -> &Path {
        match self {
            Target::Copy { dir, .. } | Target::Solution { dir } => dir,
        }
    }

    /// The line that says, before anything runs, what is being graded.
    pub fn headline(&self, root: &Path, step: u32) -> String {
        match self {
            Target::Copy { dir, solution } => format!(
                "==> check: step {step}'s contract against your copy in {}/ (the solution is {}/)",
                shown(root, dir),
                shown(root, solution)
            ),
            Target::Solution { dir } => format!(
                "==> check: step {step}'s contract against the solution in {}/ (you have no copy in exercises/: make exercise STEP={step} makes one)",
                shown(root, dir)
            ),
        }
    }

    /// `cargo test` of the contract: in the copy's folder (its own workspace and
    /// `.cargo/config.toml`), or `-p <step>` in the repository with the committed lock file.
    pub fn command(&self, root: &Path, filters: &[String], exact: bool) -> Command {
        let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        match self {
            Target::Copy { dir, .. } => {
                command
                    .current_dir(dir)
                    .args(["test", "--test", "contract"]);
            }
            Target::Solution { dir } => {
                command.current_dir(root).args([
                    "test",
                    "-p",
                    &crate::dir_name(dir),
                    "--test",
                    "contract",
                    "--locked",
                ]);
            }
        }
        command.arg("--").args(filters);
        if exact {
            command.arg("--exact");
        }
        command
    }
}

/// What `cargo test` said, read from libtest's lines.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TestRun {
    pub passed: Vec<String>,
    pub failed: Vec<String>,
    /// A `test result:` line came: the tests were built and ran.
    pub ran: bool,
}

impl TestRun {
    /// Reads one line of libtest's output (`test name ... ok|FAILED`, `test result: …`).
    pub fn read_line(&mut self, line: &str) {
        if line.starts_with("test result: ") {
            self.ran = true;
        } else if let Some(rest) = line.strip_prefix("test ") {
            if let Some(name) = rest.strip_suffix(" ... ok") {
                self.passed.push(name.to_owned());
            } else if let Some(name) = rest.strip_suffix(" ... FAILED") {
                self.failed.push(name.to_owned());
            }
        }
    }
}

/// Runs the contract, copying cargo's output through as it comes, and reads the results.
pub fn run_contract(
    root: &Path,
    target: &Target,
    filters: &[String],
    exact: bool,
) -> Result<TestRun> {
    let mut child = target
        .command(root, filters, exact)
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot run cargo")?;
    let mut run = TestRun::default();
    if let Some(stdout) = child.stdout.take() {
        let mut out = std::io::stdout().lock();
        for line in BufReader::new(stdout).lines() {
            let line = line.context("reading cargo test's output")?;
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
            run.read_line(&line);
        }
    }
    child.wait().context("waiting for cargo test")?;
    Ok(run)
}

/// The verdict and what to do next.
#[derive(Debug)]
pub struct Advice {
    pub passed: bool,
    pub text: String,
}

/// What a check's results mean for the attendee, and what to do next.
pub fn advise(
    root: &Path,
    step: u32,
    target: &Target,
    exercise: Option<&Exercise>,
    run: &TestRun,
    filters: &[String],
) -> Result<Advice> {
    if run.ran && run.passed.is_empty() && run.failed.is_empty() {
        return Ok(no_test_matched(step, filters));
    }
    let scope = Scope {
        step,
        exercise,
        run,
        filters,
    };
    Ok(match target {
        Target::Solution { dir } => scope.solution(&shown(root, dir)),
        Target::Copy { dir, .. } => scope.copy(&shown(root, dir), &todo_places(dir, step)?),
    })
}

/// One check's results, and what it ran.
struct Scope<'a> {
    step: u32,
    exercise: Option<&'a Exercise>,
    run: &'a TestRun,
    filters: &'a [String],
}

impl Scope<'_> {
    fn total(&self) -> usize {
        self.run.passed.len() + self.run.failed.len()
    }

    /// " (only those matching TEST=…)" when the attendee chose tests.
    fn chosen(&self) -> String {
        if self.filters.is_empty() {
            String::new()
        } else {
            format!(" (only those matching TEST={})", self.filters.join(" "))
        }
    }

    fn failed_list(&self, text: &mut String, whose: &str) {
        let _ = writeln!(
            text,
            "==> check: {} of {} tests failed in {whose}{}:",
            self.run.failed.len(),
            self.total(),
            self.chosen()
        );
        for name in &self.run.failed {
            let _ = writeln!(text, "      {name}");
        }
    }

    fn solution(&self, dir: &str) -> Advice {
        let step = self.step;
        let mut text = String::new();
        if !self.run.ran {
            let _ = writeln!(
                text,
                "==> check: the solution in {dir}/ did not build, or its tests did not run: cargo's error is above.\n    That is a bug of the workshop, not yours: please report it."
            );
            return Advice {
                passed: false,
                text,
            };
        }
        if self.run.failed.is_empty() {
            let _ = writeln!(
                text,
                "==> check: passed: the solution in {dir}/ passes step {step}'s contract{}, {} tests.",
                self.chosen(),
                self.total()
            );
            if self.exercise.is_some() {
                let _ = writeln!(
                    text,
                    "    To do the exercise: make exercise STEP={step} makes your copy in exercises/; make check STEP={step} then grades your copy."
                );
            }
            return Advice { passed: true, text };
        }
        self.failed_list(&mut text, &format!("the solution in {dir}/"));
        let _ = writeln!(
            text,
            "    The solution should pass. Are Postgres, Valkey and Kafka up? make services-status says. If they are, run the first failing test alone (make check STEP={step} TEST={}); if it still fails, it is a bug of the workshop: please report it with its output.",
            self.run.failed[0]
        );
        Advice {
            passed: false,
            text,
        }
    }

    fn copy(&self, dir: &str, todos: &[TodoPlace]) -> Advice {
        let step = self.step;
        let mut text = String::new();
        if !self.run.ran {
            let _ = writeln!(
                text,
                "==> check: your copy in {dir}/ does not build: the compiler's first error is above."
            );
            let _ = writeln!(
                text,
                "==> next: fix it where the error points (`cargo build` in {dir}/ shows the errors again, faster), then make check STEP={step} again."
            );
            todo_list(&mut text, dir, todos, step);
            return Advice {
                passed: false,
                text,
            };
        }
        if self.run.failed.is_empty() {
            let _ = writeln!(
                text,
                "==> check: passed: your copy in {dir}/ passes step {step}'s contract{}, {} tests.",
                self.chosen(),
                self.total()
            );
            if self.filters.is_empty() {
                let _ = writeln!(
                    text,
                    "==> next: compare your code with the solution: make exercise-diff STEP={step}. Then on to the next chapter."
                );
            } else {
                let _ = writeln!(
                    text,
                    "==> next: the whole contract: make check STEP={step} (without TEST)."
                );
            }
            if !todos.is_empty() {
                let _ = writeln!(
                    text,
                    "    ({} TODO(exercise {step}) comment(s) are still in your copy: remove them when you are done.)",
                    todos.len()
                );
            }
            return Advice { passed: true, text };
        }
        self.failed_list(&mut text, &format!("your copy in {dir}/"));
        let _ = writeln!(
            text,
            "    Each one's assertion is above, after `panicked at`."
        );
        let chapter = chapter(step, self.exercise);
        if todos.is_empty() {
            let _ = writeln!(
                text,
                "==> next: no TODO(exercise {step}) is left in your copy, and these tests still fail. Read the first one's assertion above, then the hints in {chapter}, one at a time."
            );
        } else {
            let _ = writeln!(
                text,
                "==> next: write the code the TODO(exercise {step}) comments ask for; the task, hints and solution are in {chapter}."
            );
            todo_list(&mut text, dir, todos, step);
        }
        let expected: BTreeSet<&str> = self
            .exercise
            .map(|e| e.failing.iter().copied().collect())
            .unwrap_or_default();
        let others: Vec<&str> = self
            .run
            .failed
            .iter()
            .map(String::as_str)
            .filter(|name| !expected.contains(name))
            .collect();
        if !others.is_empty() && self.exercise.is_some() {
            let _ = writeln!(
                text,
                "    Not the exercise's own tests, and failing too: {}. `make exercise-diff STEP={step}` lists everything your copy changes in the step.",
                others.join(", ")
            );
        }
        let _ = writeln!(
            text,
            "    Then make check STEP={step} again; one test at a time: make check STEP={step} TEST={}",
            self.run.failed[0]
        );
        Advice {
            passed: false,
            text,
        }
    }
}

fn chapter(step: u32, exercise: Option<&Exercise>) -> String {
    match exercise {
        Some(exercise) => format!(
            "the book's chapter \"Step {step}\", section \"Exercise: {}\" (make book, then http://127.0.0.1:3001/step{step}.html)",
            exercise.title
        ),
        None => format!("the book's chapter \"Step {step}\""),
    }
}

fn todo_list(text: &mut String, dir: &str, todos: &[TodoPlace], step: u32) {
    if todos.is_empty() {
        return;
    }
    let _ = writeln!(
        text,
        "    {} place(s) still say TODO(exercise {step}):",
        todos.len()
    );
    for todo in todos {
        let _ = writeln!(text, "      {dir}/{}:{}", todo.file, todo.line);
    }
}

fn no_test_matched(step: u32, filters: &[String]) -> Advice {
    Advice {
        passed: false,
        text: format!(
            "==> check: no test of step {step}'s contract matches TEST={}. The names: cargo test -p <the step's crate> --test contract -- --list\n",
            filters.join(" ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::exercise;

    fn run(passed: &[&str], failed: &[&str]) -> TestRun {
        TestRun {
            passed: passed.iter().map(|s| s.to_string()).collect(),
            failed: failed.iter().map(|s| s.to_string()).collect(),
            ran: true,
        }
    }

    fn copy_with_todos(todos: &[&str]) -> (PathBuf, Target) {
        let root = std::env::temp_dir().join(format!(
            "exercise-advice-{}-{}",
            std::process::id(),
            unique_suffix()
        ));
        let dir = root.join("exercises/step2-traces");
        std::fs::create_dir_all(dir.join("src")).unwrap();
        let body: String = todos
            .iter()
            .map(|t| format!("    // TODO(exercise 2): {t}\n"))
            .collect();
        std::fs::write(
            dir.join("src/telemetry.rs"),
            format!("fn x() {{\n{body}}}\n"),
        )
        .unwrap();
        let target = Target::Copy {
            dir,
            solution: root.join("steps/step2-traces"),
        };
        (root, target)
    }

    fn unique_suffix() -> u128 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    }

    #[test]
    fn reads_libtest_lines() {
        let mut run = TestRun::default();
        for line in [
            "running 3 tests",
            "test a_test ... ok",
            "test b_test ... FAILED",
            "test c_test has been running for over 60 seconds",
            "test result: FAILED. 1 passed; 1 failed; 0 ignored",
        ] {
            run.read_line(line);
        }
        assert_eq!(run.passed, ["a_test"]);
        assert_eq!(run.failed, ["b_test"]);
        assert!(run.ran);
    }

    #[test]
    fn a_fresh_starter_is_told_where_to_write_and_where_the_hints_are() {
        let (root, target) = copy_with_todos(&["install a propagator"]);
        let failed = exercise(2).unwrap().failing;
        let advice = advise(&root, 2, &target, exercise(2), &run(&["x"], failed), &[]).unwrap();
        assert!(!advice.passed);
        let text = advice.text;
        assert!(
            text.contains("2 of 3 tests failed in your copy in exercises/step2-traces/"),
            "{text}"
        );
        assert!(
            text.contains("exercises/step2-traces/src/telemetry.rs:2"),
            "{text}"
        );
        assert!(
            text.contains("\"Exercise: continue the caller's trace\""),
            "{text}"
        );
        assert!(
            text.contains("make check STEP=2 TEST=trace_context_and_child_spans_http"),
            "{text}"
        );
        assert!(!text.contains("Not the exercise's own tests"), "{text}");
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn other_failures_and_no_todo_left_are_said() {
        let (root, target) = copy_with_todos(&[]);
        let advice = advise(
            &root,
            2,
            &target,
            exercise(2),
            &run(
                &[],
                &["trace_context_and_child_spans_http", "demo_endpoints_work"],
            ),
            &[],
        )
        .unwrap();
        let text = advice.text;
        assert!(text.contains("no TODO(exercise 2) is left"), "{text}");
        assert!(text.contains("failing too: demo_endpoints_work."), "{text}");
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn a_copy_that_does_not_build_is_told_so() {
        let (root, target) = copy_with_todos(&["x"]);
        let advice = advise(&root, 2, &target, exercise(2), &TestRun::default(), &[]).unwrap();
        assert!(!advice.passed);
        assert!(advice.text.contains("does not build"), "{}", advice.text);
        assert!(
            advice.text.contains("src/telemetry.rs:2"),
            "{}",
            advice.text
        );
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn a_passing_copy_and_a_passing_solution() {
        let (root, target) = copy_with_todos(&[]);
        let advice = advise(&root, 2, &target, exercise(2), &run(&["a", "b"], &[]), &[]).unwrap();
        assert!(advice.passed);
        assert!(advice.text.contains("passed: your copy"), "{}", advice.text);
        assert!(
            advice.text.contains("make exercise-diff STEP=2"),
            "{}",
            advice.text
        );
        let solution = Target::Solution {
            dir: root.join("steps/step2-traces"),
        };
        let advice = advise(&root, 2, &solution, exercise(2), &run(&["a"], &[]), &[]).unwrap();
        assert!(advice.passed);
        assert!(
            advice.text.contains("the solution in steps/step2-traces/"),
            "{}",
            advice.text
        );
        assert!(
            advice.text.contains("make exercise STEP=2"),
            "{}",
            advice.text
        );
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn a_filter_that_matches_nothing_fails() {
        let (root, target) = copy_with_todos(&[]);
        let filters = vec!["no_such_test".to_owned()];
        let advice = advise(&root, 2, &target, exercise(2), &run(&[], &[]), &filters).unwrap();
        assert!(!advice.passed);
        assert!(
            advice.text.contains("matches TEST=no_such_test"),
            "{}",
            advice.text
        );
        std::fs::remove_dir_all(root).unwrap();
    }
}
