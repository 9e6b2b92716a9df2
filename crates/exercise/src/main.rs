//! `exercise`: what the Makefile's exercise targets run.
//!
//! ```text
//! exercise prepare N [--force]   make exercises/step<N>-<name>/, the starter (make exercise)
//! exercise check N [TEST…]       step N's contract against the copy, else the solution (make check)
//! exercise diff N                the copy's changes against the solution (make exercise-diff)
//! exercise selftest [N…]         every fresh starter builds and fails its exercise's tests with
//!                                advice, and passes the ones it must keep; with the solution's
//!                                code put back, it passes them all (make test-exercises)
//! ```

use anyhow::{Context, Result, bail};
use exercise::catalog::{EXERCISES, Exercise, exercise};
use exercise::check::{Target, TestRun, advise, run_contract};
use exercise::manifest::Owner;
use exercise::starter::{MadeCopy, TODO_MARK, make_copy, prepare};
use exercise::{copy_dir, dir_name, repo_root, shown, solution_dir};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::Instant;

const USAGE: &str =
    "usage: exercise prepare N [--force] | check N [TEST…] | diff N | selftest [N…]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = repo_root();
    let outcome = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["prepare", step] => step_number(step).and_then(|s| prepare_copy(&root, s, false)),
        ["prepare", step, "--force"] => {
            step_number(step).and_then(|s| prepare_copy(&root, s, true))
        }
        ["check", step, ref filters @ ..] => step_number(step).and_then(|s| {
            let filters: Vec<String> = filters.iter().map(|f| f.to_string()).collect();
            check(&root, s, &filters)
        }),
        ["diff", step] => step_number(step).and_then(|s| diff(&root, s)),
        ["selftest", ref steps @ ..] => steps
            .iter()
            .map(|s| step_number(s))
            .collect::<Result<Vec<_>>>()
            .and_then(|steps| selftest(&root, &steps)),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("==> error: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn step_number(text: &str) -> Result<u32> {
    text.parse()
        .with_context(|| format!("STEP must be a step number, not {text:?}"))
}

fn exercise_of(step: u32) -> Result<&'static Exercise> {
    exercise(step).with_context(|| {
        let steps: Vec<String> = EXERCISES.iter().map(|e| e.step.to_string()).collect();
        format!(
            "step {step} has no exercise (the exercises: STEP={})",
            steps.join(", ")
        )
    })
}

/// `make exercise STEP=n`: the starter in exercises/; an existing copy is kept, or with
/// FORCE=1 moved aside.
fn prepare_copy(root: &Path, step: u32, force: bool) -> Result<bool> {
    let exercise = exercise_of(step)?;
    match make_copy(root, exercise, force)? {
        MadeCopy::Kept { dest } => {
            println!(
                "==> exercise: your copy {}/ exists already, and may hold your work: left as it is.\n    make check STEP={step} grades it; make exercise STEP={step} FORCE=1 starts again from a fresh starter (your copy is kept beside it).",
                shown(root, &dest)
            );
        }
        MadeCopy::Fresh {
            dest,
            solution,
            moved_aside,
            todos,
        } => {
            if let Some(kept) = moved_aside {
                println!(
                    "==> exercise: your previous copy is now {}/",
                    shown(root, &kept)
                );
            }
            let shown_dest = shown(root, &dest);
            println!(
                "==> exercise {step}: {} ({} minutes): your copy of {}/ is {shown_dest}/ (git ignores it)",
                exercise.title,
                exercise.minutes,
                shown(root, &solution)
            );
            println!("    Write the code where it says TODO(exercise {step}):");
            for todo in &todos {
                println!("      {shown_dest}/{}:{}", todo.file, todo.line);
            }
            println!(
                "    The task and hints: {shown_dest}/EXERCISE.md, and the book's chapter \"Step {step}\" (make book).\n    make run STEP={step} runs your copy; make check STEP={step} grades it (a fresh copy fails: that is where you start)."
            );
        }
    }
    Ok(true)
}

/// `make check STEP=n [TEST=…]`.
fn check(root: &Path, step: u32, filters: &[String]) -> Result<bool> {
    let target = Target::find(root, step)?;
    println!("{}", target.headline(root, step));
    let run = run_contract(root, &target, filters, false)?;
    let advice = advise(root, step, &target, exercise(step), &run, filters)?;
    if advice.passed {
        print!("{}", advice.text);
    } else {
        eprint!("{}", advice.text);
    }
    Ok(advice.passed)
}

/// `make exercise-diff STEP=n`: git's diff of the copy's src/ against the solution's.
fn diff(root: &Path, step: u32) -> Result<bool> {
    let solution = solution_dir(root, step)?;
    let copy = copy_dir(root, &solution);
    if !copy.exists() {
        bail!(
            "you have no copy of step {step}: make exercise STEP={step} makes {}/",
            shown(root, &copy)
        );
    }
    println!(
        "==> exercise-diff: the solution {}/src (a/) against your copy {}/src (b/)",
        shown(root, &solution),
        shown(root, &copy)
    );
    let status = Command::new("git")
        .current_dir(root)
        .args(["--no-pager", "diff", "--no-index", "--"])
        .arg(shown(root, &solution.join("src")))
        .arg(shown(root, &copy.join("src")))
        .status()
        .context("cannot run git")?;
    // git diff --no-index: 0 = the same, 1 = differences, anything else = trouble.
    match status.code() {
        Some(0) => println!("==> exercise-diff: your src/ is the solution's, line for line"),
        Some(1) => {}
        _ => bail!("git diff failed ({status})"),
    }
    Ok(true)
}

/// `make test-exercises`: for every exercise, a fresh starter (in target/exercise-selftest/)
/// builds, fails its exercise's tests with advice that names its TODO places, and
/// passes the tests the chapter says must keep passing; and that with the solution's code put
/// back in the copy, all of them pass and the check says "passed".
fn selftest(root: &Path, steps: &[u32]) -> Result<bool> {
    let chosen: Vec<&Exercise> = EXERCISES
        .iter()
        .filter(|e| steps.is_empty() || steps.contains(&e.step))
        .collect();
    let base = root.join("target/exercise-selftest");
    let mut problems = Vec::new();
    let mut summary = Vec::new();
    for exercise in chosen {
        let step = exercise.step;
        let started = Instant::now();
        let solution = solution_dir(root, step)?;
        let dir = base.join(dir_name(&solution));
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(&base)?;
        println!(
            "==> test-exercises: step {step}: a fresh starter in {}/ against its exercise's tests",
            shown(root, &dir)
        );
        let todos = prepare(root, exercise, &solution, &dir, Owner::Selftest)?;
        let target = Target::Copy {
            dir: dir.clone(),
            solution,
        };
        let filters: Vec<String> = exercise
            .failing
            .iter()
            .chain(exercise.kept)
            .map(|t| t.to_string())
            .collect();
        let run = run_contract(root, &target, &filters, true)?;
        let advice = advise(root, step, &target, Some(exercise), &run, &filters)?;
        print!("{}", advice.text);
        let mut found = starter_problems(exercise, &run, &advice.text, todos.len());
        // The attendee's way to green: the solution's code put back into the copy (the files
        // the exercise edits), the same tests pass, and the check says so.
        println!(
            "==> test-exercises: step {step}: the starter with the solution's code put back, the same tests"
        );
        for edit in exercise.edits {
            std::fs::copy(
                target_solution(&target).join(edit.file),
                dir.join(edit.file),
            )
            .with_context(|| format!("putting back {}", edit.file))?;
        }
        let solved = run_contract(root, &target, &filters, true)?;
        let solved_advice = advise(root, step, &target, Some(exercise), &solved, &filters)?;
        print!("{}", solved_advice.text);
        if !solved_advice.passed || solved.passed.len() != filters.len() {
            found.push(format!(
                "with the solution's code put back, {} of {} tests passed (failed: {})",
                solved.passed.len(),
                filters.len(),
                solved.failed.join(", ")
            ));
        }
        let seconds = started.elapsed().as_secs();
        summary.push(format!(
            "  step {step}: starter: {} of {} exercise tests failed, {} of {} kept tests passed, {} TODO places; solved: {} of {} passed ({}m{:02}s)",
            exercise.failing.iter().filter(|t| run.failed.iter().any(|f| f == *t)).count(),
            exercise.failing.len(),
            exercise.kept.iter().filter(|t| run.passed.iter().any(|p| p == *t)).count(),
            exercise.kept.len(),
            todos.len(),
            solved.passed.len(),
            filters.len(),
            seconds / 60,
            seconds % 60
        ));
        problems.extend(found.drain(..).map(|p| format!("step {step}: {p}")));
    }
    println!("==> test-exercises: summary");
    for line in &summary {
        println!("{line}");
    }
    if problems.is_empty() {
        println!(
            "==> test-exercises: every starter builds, fails its exercise's tests, says what to do next, and passes them with the solution's code put back"
        );
        Ok(true)
    } else {
        eprintln!(
            "==> error: {} problem(s) with the exercise starters:",
            problems.len()
        );
        for problem in &problems {
            eprintln!("  {problem}");
        }
        Ok(false)
    }
}

fn target_solution(target: &Target) -> &Path {
    match target {
        Target::Copy { solution, .. } => solution,
        Target::Solution { dir } => dir,
    }
}

/// What is wrong with a fresh starter's check, if anything.
fn starter_problems(exercise: &Exercise, run: &TestRun, advice: &str, todos: usize) -> Vec<String> {
    let step = exercise.step;
    let mut problems = Vec::new();
    if !run.ran {
        problems.push("the starter does not build, or its contract did not run".to_owned());
        return problems;
    }
    let failed: BTreeSet<&str> = run.failed.iter().map(String::as_str).collect();
    let passed: BTreeSet<&str> = run.passed.iter().map(String::as_str).collect();
    for test in exercise.failing {
        if !failed.contains(test) {
            problems.push(format!(
                "{test} should fail on a fresh starter, and did not"
            ));
        }
    }
    for test in exercise.kept {
        if !passed.contains(test) {
            problems.push(format!(
                "{test} should keep passing on a fresh starter, and did not"
            ));
        }
    }
    if todos != exercise.edits.len() {
        problems.push(format!(
            "{todos} {TODO_MARK}{step}) places, for {} edits",
            exercise.edits.len()
        ));
    }
    for must in [
        format!("TODO(exercise {step})"),
        format!("make check STEP={step}"),
        format!("Exercise: {}", exercise.title),
    ] {
        if !advice.contains(&must) {
            problems.push(format!("the advice does not say {must:?}"));
        }
    }
    problems
}
