//! Each check fails on a broken fixture book, and names the file and line to fix. The
//! fixtures are small books (and repositories) written under cargo's test temp directory.

use book_check::{Book, MarkdownOptions, Problem, check_built, generated, headings, inventory};
use std::path::{Path, PathBuf};
use std::process::Command;

struct Fixture {
    dir: PathBuf,
}

impl Fixture {
    /// A directory of its own per test, emptied first.
    fn new(name: &str) -> Self {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("book-check")
            .join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the fixture directory");
        Self { dir }
    }

    /// A book under `book/` with `book.toml` and the given `SUMMARY.md` entries.
    fn book(name: &str, chapters: &[&str]) -> Self {
        let fixture = Self::new(name);
        fixture.file(
            "book/book.toml",
            "[book]\ntitle = \"fixture\"\nsrc = \"src\"\n\n[build]\ncreate-missing = false\n",
        );
        let mut summary = String::from("# Summary\n\n");
        for chapter in chapters {
            summary.push_str(&format!("- [{chapter}]({chapter})\n"));
        }
        fixture.file("book/src/SUMMARY.md", &summary);
        fixture
    }

    fn file(&self, path: &str, text: &str) -> &Self {
        let path = self.dir.join(path);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("create dirs");
        std::fs::write(path, text).expect("write a fixture file");
        self
    }

    fn path(&self, path: &str) -> PathBuf {
        self.dir.join(path)
    }

    fn problems(&self) -> Vec<Problem> {
        Book::load(&self.dir.join("book"))
            .expect("the fixture book loads")
            .check()
    }

    fn git(&self, args: &[&str]) {
        let status = Command::new("git")
            .args(args)
            .current_dir(&self.dir)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .status()
            .expect("run git");
        assert!(status.success(), "git {args:?} failed");
    }
}

/// Exactly one problem, in `file` at `line`, whose message contains `needle`.
#[track_caller]
fn assert_one(problems: &[Problem], file: &Path, line: usize, needle: &str) {
    assert_eq!(
        problems.len(),
        1,
        "expected one problem, got:\n{}",
        book_check::report(problems)
    );
    let problem = &problems[0];
    assert_eq!(problem.file, file, "wrong file in: {problem}");
    assert_eq!(problem.line, line, "wrong line in: {problem}");
    assert!(
        problem.message.contains(needle),
        "expected {needle:?} in: {problem}"
    );
}

const CODE: &str = "fn main() {\n    // ANCHOR: setup\n    let a = 1;\n    // ANCHOR_END: setup\n    // ANCHOR: empty\n    // ANCHOR_END: empty\n    // ANCHOR: open\n    let b = 2;\n}\n";

#[test]
fn a_correct_book_passes() {
    let book = Fixture::book("correct", &["intro.md", "guide/deep.md"]);
    book.file("code/main.rs", CODE)
        .file(
            "book/src/picture.svg",
            "<svg xmlns=\"http://www.w3.org/2000/svg\"/>\n",
        )
        .file(
            "book/src/part.md",
            "See [the guide](guide/deep.md#dont-panic).\n",
        )
        .file(
            "book/src/intro.md",
            "# Intro\n\n\
             ```rust\n{{#include ../../code/main.rs:setup}}\n```\n\n\
             ```rust\n{{#rustdoc_include ../../code/main.rs:setup}}\n```\n\n\
             ```rust\n{{#include ../../code/main.rs:3}}\n```\n\n\
             {{#include part.md}}\n\n\
             Written as `\\{{#include nothing.rs:gone}}`: escaped, so not an include.\n\n\
             ![a picture](picture.svg) and <img src=\"picture.svg\"> and [up](#intro) and \
             [out](https://example.com/missing.md) and <mailto:someone@example.com>.\n",
        )
        .file(
            "book/src/guide/deep.md",
            "# Don't panic\n\n## `make` — twice {#custom}\n\n## Twice\n\n## Twice\n\n\
             [back](../intro.md#intro), [custom](#custom), [second](#twice-1), \
             [picture](../picture.svg).\n",
        );
    let problems = book.problems();
    assert!(problems.is_empty(), "{}", book_check::report(&problems));
}

#[test]
fn include_of_a_missing_file_fails() {
    let book = Fixture::book("missing-file", &["a.md"]);
    book.file(
        "book/src/a.md",
        "# A\n\ntext\n\n```rust\n{{#include ../../code/gone.rs:setup}}\n```\n",
    );
    assert_one(
        &book.problems(),
        &book.path("book/src/a.md"),
        6,
        "cannot read",
    );
}

#[test]
fn include_of_a_missing_anchor_fails() {
    let book = Fixture::book("missing-anchor", &["a.md"]);
    book.file("code/main.rs", CODE).file(
        "book/src/a.md",
        "# A\n\n```rust\n{{#include ../../code/main.rs:stup}}\n```\n",
    );
    assert_one(
        &book.problems(),
        &book.path("book/src/a.md"),
        4,
        "no line with `ANCHOR: stup`",
    );
}

#[test]
fn include_of_an_empty_region_fails() {
    let book = Fixture::book("empty-anchor", &["a.md"]);
    book.file("code/main.rs", CODE).file(
        "book/src/a.md",
        "# A\n\n{{#include ../../code/main.rs:empty}}\n",
    );
    assert_one(&book.problems(), &book.path("book/src/a.md"), 3, "is empty");
}

#[test]
fn include_of_an_unclosed_anchor_fails() {
    let book = Fixture::book("open-anchor", &["a.md"]);
    book.file("code/main.rs", CODE).file(
        "book/src/a.md",
        "# A\n\n{{#include ../../code/main.rs:open}}\n",
    );
    assert_one(
        &book.problems(),
        &book.path("book/src/a.md"),
        3,
        "has no `ANCHOR_END: open`",
    );
}

#[test]
fn include_of_lines_past_the_end_fails() {
    let book = Fixture::book("past-the-end", &["a.md"]);
    book.file("code/main.rs", CODE).file(
        "book/src/a.md",
        "# A\n\n{{#include ../../code/main.rs:40:50}}\n",
    );
    assert_one(
        &book.problems(),
        &book.path("book/src/a.md"),
        3,
        "lines 40–50 of",
    );
}

#[test]
fn rustdoc_include_of_a_missing_anchor_fails() {
    let book = Fixture::book("rustdoc-anchor", &["a.md"]);
    book.file("code/main.rs", CODE).file(
        "book/src/a.md",
        "# A\n\n```rust\n{{#rustdoc_include ../../code/main.rs:nope}}\n```\n",
    );
    assert_one(
        &book.problems(),
        &book.path("book/src/a.md"),
        4,
        "no line with `ANCHOR: nope`",
    );
}

#[test]
fn a_broken_include_inside_an_included_file_names_that_file() {
    let book = Fixture::book("nested", &["a.md"]);
    book.file("book/src/a.md", "# A\n\n{{#include parts/p.md}}\n")
        .file(
            "book/src/parts/p.md",
            "Part.\n\n{{#include ../../../code/none.rs}}\n",
        );
    assert_one(
        &book.problems(),
        &book.path("book/src/parts/p.md"),
        3,
        "cannot read",
    );
}

#[test]
fn a_missing_chapter_in_the_summary_fails() {
    let book = Fixture::book("summary", &["a.md", "gone.md"]);
    book.file("book/src/a.md", "# A\n");
    assert_one(
        &book.problems(),
        &book.path("book/src/SUMMARY.md"),
        4,
        "chapter `gone.md` does not exist",
    );
}

#[test]
fn a_link_to_a_missing_chapter_fails() {
    let book = Fixture::book("link-chapter", &["a.md"]);
    book.file("book/src/a.md", "# A\n\nRead\n[setup](setup.md) first.\n");
    assert_one(
        &book.problems(),
        &book.path("book/src/a.md"),
        4,
        "no chapter setup.md",
    );
}

#[test]
fn a_link_to_a_file_that_is_not_a_chapter_fails() {
    let book = Fixture::book("link-not-chapter", &["a.md"]);
    book.file("book/src/a.md", "# A\n\n[draft](draft.md)\n")
        .file("book/src/draft.md", "# Draft\n");
    assert_one(
        &book.problems(),
        &book.path("book/src/a.md"),
        3,
        "not a chapter in SUMMARY.md",
    );
}

#[test]
fn a_link_to_a_missing_heading_fails() {
    let book = Fixture::book("link-heading", &["a.md", "b.md"]);
    book.file(
        "book/src/a.md",
        "# A\n\nSee [b](b.md#no-data-in-grafana).\n",
    )
    .file(
        "book/src/b.md",
        "# B\n\n## No data in Grafana?\n\n## Other\n",
    );
    // the id is `no-data-in-grafana`: this one passes …
    assert!(
        book.problems().is_empty(),
        "{}",
        book_check::report(&book.problems())
    );
    // … and a wrong one fails, on the same page too
    book.file(
        "book/src/a.md",
        "# A\n\nSee [b](b.md#no-data).\n\nAnd [here](#a-).\n",
    );
    let problems = book.problems();
    assert_eq!(problems.len(), 2, "{}", book_check::report(&problems));
    assert_eq!(problems[0].line, 3, "{}", problems[0]);
    assert!(
        problems[0].message.contains("no heading with id `no-data`"),
        "{}",
        problems[0]
    );
    assert!(
        problems[0].message.contains("#no-data-in-grafana"),
        "a hint: {}",
        problems[0]
    );
    assert_eq!(problems[1].line, 5, "{}", problems[1]);
}

#[test]
fn a_missing_image_fails() {
    let book = Fixture::book("image", &["a.md"]);
    book.file("book/src/a.md", "# A\n\n![plot](generated/plot.svg)\n");
    assert_one(
        &book.problems(),
        &book.path("book/src/a.md"),
        3,
        "no such file",
    );
    book.file(
        "book/src/a.md",
        "# A\n\n<p>\n<img src=\"gone.png\">\n</p>\n",
    );
    assert_one(
        &book.problems(),
        &book.path("book/src/a.md"),
        4,
        "no such file",
    );
}

#[test]
fn a_link_outside_the_book_fails() {
    let book = Fixture::book("outside", &["a.md"]);
    book.file(
        "book/src/a.md",
        "# A\n\n[the code](../../steps/x/src/main.rs)\n",
    )
    .file("steps/x/src/main.rs", "fn main() {}\n");
    assert_one(
        &book.problems(),
        &book.path("book/src/a.md"),
        3,
        "points outside book/src",
    );
}

#[test]
fn links_of_included_markdown_are_relative_to_the_chapter() {
    let book = Fixture::book("fragment-link", &["guide/a.md", "b.md"]);
    // The fragment sits next to b.md, but its text becomes part of guide/a.md: `b.md` must
    // be written `../b.md`.
    book.file("book/src/guide/a.md", "# A\n\n{{#include ../part.md}}\n")
        .file("book/src/part.md", "Intro.\n\nSee [b](b.md).\n")
        .file("book/src/b.md", "# B\n");
    assert_one(
        &book.problems(),
        &book.path("book/src/part.md"),
        3,
        "so relative to guide/a.md",
    );
}

#[test]
fn heading_ids_are_mdbooks() {
    let options = MarkdownOptions::from_book_toml("");
    let ids = headings::ids(
        "# Don't `panic` -- now!\n\n## Twice\n\n## Twice\n\n## Named {#mine}\n\nTerm\n: definition\n",
        options,
    );
    for id in ["dont-panic--now", "twice", "twice-1", "mine", "term"] {
        assert!(ids.contains(id), "{id} not in {ids:?}");
    }
    // without smart punctuation `--` stays two hyphens
    let plain = MarkdownOptions::from_book_toml("[output.html]\nsmart-punctuation = false\n");
    assert!(headings::ids("# a -- b\n", plain).contains("a----b"));
    assert!(headings::ids("# a -- b\n", options).contains("a--b"));
}

#[test]
fn a_built_page_with_an_unexpanded_include_fails() {
    let fixture = Fixture::new("built");
    fixture
        .file(
            "src/a.md",
            "Write `\\{{#include file.rs:anchor}}` to include a region.\n",
        )
        .file(
            "build/a.html",
            "<p>Write <code>{{#include file.rs:anchor}}</code> to include a region.</p>\n",
        )
        .file(
            "build/b.html",
            "<p>x</p>\n<p>{{#include ../code/gone.rs}}</p>\n",
        );
    assert_one(
        &check_built(&fixture.path("build"), &fixture.path("src")),
        &fixture.path("build/b.html"),
        2,
        "was not expanded",
    );
    assert_eq!(
        check_built(&fixture.path("nothing"), &fixture.path("src")).len(),
        1
    );
}

#[test]
fn an_undocumented_variable_or_port_fails() {
    let repo = Fixture::new("inventory");
    repo.file(
        "steps/step1-a/src/config.rs",
        "fn f() {\n    let a = text(\"DATABASE_URL\", \"x\");\n    let b = parsed(\"NEW_KNOB\", \"1\");\n    let c = parsed(\"USER_SERVICE_ADDR\", \"127.0.0.1:8080\");\n}\n",
    )
    .file("scripts/run.sh", "x=${NEW_TIMEOUT:-5}\ny=${CARGO_HOME:-~/.cargo}\n")
    .file("Makefile", "PORT ?= 1313\nrun:\n\techo $(WHO) $(PORT)\n");
    let reference = repo.path("book/src/reference.md");
    let text = "| `DATABASE_URL` | … |\n| `USER_SERVICE_ADDR` | … |\n| `PORT=1313` | |\n| `8080` | user-service |\n";
    let env = inventory::env_vars(&repo.dir);
    let problems = inventory::missing(&reference, text, &env, "environment variable");
    let names: Vec<&str> = problems
        .iter()
        .map(|p| p.message.split('`').nth(1).unwrap_or(""))
        .collect();
    assert_eq!(
        names,
        ["NEW_KNOB", "NEW_TIMEOUT", "WHO"],
        "{}",
        book_check::report(&problems)
    );
    assert!(
        problems[0]
            .message
            .contains("steps/step1-a/src/config.rs:3"),
        "{}",
        problems[0]
    );
    let ports = inventory::ports(&repo.dir);
    let problems = inventory::missing(&reference, text, &ports, "port");
    assert_one(&problems, &reference, 0, "port `1313`");
}

/// A repository with what the generators read: a Makefile with `help`, a step, bench runs.
fn generator_repo(name: &str) -> Fixture {
    let repo = Fixture::new(name);
    repo.file(
        "Makefile",
        "help:\n\t@echo 'Targets:'\n\t@echo '  run              Run the step <n>'\n\t@echo\n\t@echo 'Variables:'\n\t@echo '  STEP=n           the step'\n",
    )
    .file(
        "steps/step1-a/src/metrics.rs",
        "fn m() {\n    meter.u64_counter(\"users.created\")\n        .with_unit(\"{user}\")\n        .with_description(\"Users signed up.\")\n        .build();\n}\n",
    )
    .file(
        "bench/results/2026-01-01-aaaaaaa/README.md",
        "# Bench\n\n| | |\n|---|---|\n| date | 2026-01-01 10:00 UTC |\n| command | `make bench` |\n\n## Summary: GET\n\nRatios.\n\n| step | req/s |\n|---|--:|\n| step 1 | 100 |\n\n![plot](cpu-per-request.svg)\n",
    )
    .file("bench/results/2026-01-01-aaaaaaa/cpu-per-request.svg", "<svg/>\n");
    repo.git(&["init", "-q"]);
    repo.git(&["add", "."]);
    repo
}

#[test]
fn a_stale_generated_page_fails() {
    let repo = generator_repo("generated");
    generated::write(&repo.dir).expect("generate");
    assert!(
        generated::stale(&repo.dir).is_empty(),
        "fresh after writing"
    );
    let targets =
        std::fs::read_to_string(repo.path("book/src/generated/make-targets.md")).expect("written");
    assert!(
        targets.contains("| `make run` | Run the step &lt;n&gt; |"),
        "{targets}"
    );

    // A new target in the Makefile: make-targets.md is stale.
    repo.file(
        "Makefile",
        "help:\n\t@echo 'Targets:'\n\t@echo '  run              Run the step <n>'\n\t@echo '  book             Serve the book'\n\t@echo\n\t@echo 'Variables:'\n\t@echo '  STEP=n           the step'\n",
    );
    assert_one(
        &generated::stale(&repo.dir),
        &repo.path("book/src/generated/make-targets.md"),
        6,
        "run `make book-gen`",
    );
    generated::write(&repo.dir).expect("generate");

    // A newer committed run makes the bench summary stale; one git does not track does not.
    let newer = "bench/results/2026-02-01-bbbbbbb";
    repo.file(
        &format!("{newer}/README.md"),
        &std::fs::read_to_string(repo.path("bench/results/2026-01-01-aaaaaaa/README.md"))
            .expect("readme")
            .replace("2026-01-01 10:00", "2026-02-01 10:00"),
    )
    .file(&format!("{newer}/cpu-per-request.svg"), "<svg></svg>\n");
    assert!(
        generated::stale(&repo.dir).is_empty(),
        "an untracked run is not the latest committed"
    );
    repo.git(&["add", newer]);
    let problems = generated::stale(&repo.dir);
    assert_eq!(problems.len(), 2, "{}", book_check::report(&problems));
    assert!(
        problems.iter().all(|p| p.message.contains("stale")),
        "{}",
        book_check::report(&problems)
    );

    // A file nothing generates.
    generated::write(&repo.dir).expect("generate");
    repo.file("book/src/generated/old.md", "left over\n");
    assert_one(
        &generated::stale(&repo.dir),
        &repo.path("book/src/generated/old.md"),
        0,
        "nothing generates this file",
    );
}
