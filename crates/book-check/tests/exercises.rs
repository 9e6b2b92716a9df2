//! The step chapters and the exercise catalog (crates/exercise/src/catalog.rs) say the same
//! thing: each chapter's exercise heading has the catalog's title and minutes, its time line
//! adds up, it names every test a fresh starter fails and the command that makes the starter;
//! and the introduction's total is the sum of the chapters'.

use book_check::repo_root;
use exercise::catalog::EXERCISES;
use regex::Regex;

fn chapter(step: u32) -> String {
    let path = repo_root().join(format!("book/src/step{step}.md"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `(total, reading, running, exercise)` from "Time: about T minutes — reading r, running u, exercise e".
fn time_line(text: &str) -> Option<(u32, u32, u32, u32)> {
    let re = Regex::new(
        r"Time: about (\d+) minutes\*\* — reading (\d+)[^,]*,[\s>]+running (\d+),[\s>]+exercise (\d+)",
    )
    .expect("valid regex");
    let c = re.captures(text)?;
    let n = |i: usize| c[i].parse::<u32>().ok();
    Some((n(1)?, n(2)?, n(3)?, n(4)?))
}

#[test]
fn every_chapter_matches_its_exercise() {
    let mut problems = Vec::new();
    for exercise in EXERCISES {
        let step = exercise.step;
        let text = chapter(step);
        let heading = format!(
            "## Exercise: {} ({} minutes)",
            exercise.title, exercise.minutes
        );
        if !text.lines().any(|line| line == heading) {
            problems.push(format!("step{step}.md has no line {heading:?}"));
        }
        match time_line(&text) {
            Some((total, reading, running, minutes)) => {
                if minutes != exercise.minutes {
                    problems.push(format!(
                        "step{step}.md's time line gives the exercise {minutes} minutes, the catalog {}",
                        exercise.minutes
                    ));
                }
                if reading + running + minutes != total {
                    problems.push(format!(
                        "step{step}.md's time line: {reading} + {running} + {minutes} is not {total}"
                    ));
                }
            }
            None => problems.push(format!("step{step}.md has no \"Time: about …\" line")),
        }
        for test in exercise.failing {
            // `…_{http,grpc}` names both protocols' tests at once.
            let both = test
                .strip_suffix("_http")
                .or_else(|| test.strip_suffix("_grpc"))
                .map(|stem| format!("{stem}_{{http,grpc}}"));
            if !text.contains(test) && !both.is_some_and(|both| text.contains(&both)) {
                problems.push(format!(
                    "step{step}.md does not name {test}, which a fresh starter fails"
                ));
            }
        }
        let command = format!("make exercise STEP={step}");
        if !text.contains(&command) {
            problems.push(format!("step{step}.md does not say `{command}`"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_introduction_adds_the_chapters_up() {
    let intro = std::fs::read_to_string(repo_root().join("book/src/introduction.md")).unwrap();
    let mut sum = 0;
    for exercise in EXERCISES {
        let step = exercise.step;
        let (total, ..) = time_line(&chapter(step)).expect("a time line");
        sum += total;
        let named = format!("step {step} {total}");
        assert!(
            intro
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .contains(&named),
            "the introduction's time per chapter does not say {named:?}"
        );
    }
    let total = format!("({sum} minutes");
    assert!(
        intro.contains(&total),
        "the introduction does not give the total {total:?}"
    );
    let hours = format!("{} h {} min", sum / 60, sum % 60);
    assert!(
        intro.contains(&hours),
        "the introduction does not say {hours:?}"
    );
}
