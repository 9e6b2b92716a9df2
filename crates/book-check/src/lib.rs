//! Checks of the workshop book (`book/`), for what mdBook itself lets through.
//!
//! mdBook 0.5 builds a book whose `{{#include file:anchor}}` names a missing anchor: it includes
//! nothing, silently. A missing file is an `ERROR` line in its log, and the page then shows the
//! raw `{{#include …}}`, but the build still succeeds. Links and heading anchors are not
//! checked at all. So:
//!
//! - [`summary`]: `SUMMARY.md` lists the chapters, and each one exists;
//! - [`includes`]: every `{{#include}}`, `{{#rustdoc_include}}` and `{{#playground}}` in a
//!   chapter (and in the files it includes) names a readable file, and an include gives
//!   non-empty text: the anchor exists and is closed, its region is not empty, a line range is
//!   inside the file;
//! - [`links`]: every internal link (`[x](other.md#heading)`, `[x](#heading)`) and image, in
//!   Markdown or raw HTML, resolves to a chapter (or a file under `book/src`, which is all
//!   mdBook copies) and to a heading id mdBook really generates ([`headings`]);
//! - [`inventory`]: every environment variable and port the project reads or opens is in the
//!   reference chapter;
//! - [`generated`]: the generated pages under `book/src/generated/` are what their sources
//!   make now (`make book-gen` rewrites them).
//!
//! Each check returns [`Problem`]s, which name the file and line to fix.

pub mod generated;
pub mod headings;
pub mod includes;
pub mod inventory;
pub mod links;
pub mod summary;

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Component, Path, PathBuf};

/// One thing to fix: where, and what.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    pub file: PathBuf,
    /// 1-based; 0 when the problem is about the whole file.
    pub line: usize,
    pub message: String,
}

impl Problem {
    pub fn new(file: impl Into<PathBuf>, line: usize, message: impl Into<String>) -> Self {
        Self {
            file: file.into(),
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = display_path(&self.file);
        if self.line > 0 {
            write!(f, "{}:{}: {}", file, self.line, self.message)
        } else {
            write!(f, "{}: {}", file, self.message)
        }
    }
}

/// The repository root (this crate lives in `crates/book-check`).
pub fn repo_root() -> PathBuf {
    normalize(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
}

/// A path relative to the repository root when it is inside it, for messages.
pub fn display_path(path: &Path) -> String {
    let root = repo_root();
    path.strip_prefix(&root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// `a/b/../c` → `a/c`, without touching the file system (the target may not exist).
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                let can_pop = matches!(out.components().next_back(), Some(Component::Normal(_)));
                if can_pop {
                    out.pop();
                } else {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// 1-based line number of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The Markdown options of `[output.html]` that change what mdBook renders (and so which
/// heading ids it makes). mdBook 0.5's defaults: all on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarkdownOptions {
    pub smart_punctuation: bool,
    pub definition_lists: bool,
    pub admonitions: bool,
}

impl MarkdownOptions {
    /// Reads the three switches from `book.toml` (a line `smart-punctuation = false`, …);
    /// what is not there keeps mdBook's default, `true`.
    pub fn from_book_toml(text: &str) -> Self {
        let off = |key: &str| {
            text.lines().any(|line| {
                let line = line.split('#').next().unwrap_or("").replace(' ', "");
                line == format!("{key}=false")
            })
        };
        Self {
            smart_punctuation: !off("smart-punctuation"),
            definition_lists: !off("definition-lists"),
            admonitions: !off("admonitions"),
        }
    }

    /// The pulldown-cmark options mdBook 0.5 parses with (`mdbook_markdown::new_cmark_parser`).
    pub fn cmark(&self) -> pulldown_cmark::Options {
        use pulldown_cmark::Options;
        let mut opts = Options::ENABLE_TABLES
            | Options::ENABLE_FOOTNOTES
            | Options::ENABLE_STRIKETHROUGH
            | Options::ENABLE_TASKLISTS
            | Options::ENABLE_HEADING_ATTRIBUTES;
        if self.smart_punctuation {
            opts |= Options::ENABLE_SMART_PUNCTUATION;
        }
        if self.definition_lists {
            opts |= Options::ENABLE_DEFINITION_LIST;
        }
        if self.admonitions {
            opts |= Options::ENABLE_GFM;
        }
        opts
    }
}

/// A book on disk: its directory, `src/`, the chapters `SUMMARY.md` lists.
#[derive(Debug, Clone)]
pub struct Book {
    pub dir: PathBuf,
    pub src: PathBuf,
    /// Chapter paths relative to `src`, in `SUMMARY.md`'s order.
    pub chapters: Vec<PathBuf>,
    pub options: MarkdownOptions,
    /// Problems found while reading `SUMMARY.md`.
    pub summary_problems: Vec<Problem>,
}

impl Book {
    /// Reads `book.toml` (for `src` and the Markdown options) and `SUMMARY.md`.
    pub fn load(dir: &Path) -> Result<Self, String> {
        let dir = normalize(dir);
        let toml_path = dir.join("book.toml");
        let toml = std::fs::read_to_string(&toml_path)
            .map_err(|e| format!("{}: {e}", display_path(&toml_path)))?;
        let src_name = toml
            .lines()
            .find_map(|line| {
                let line = line.trim();
                let rest = line.strip_prefix("src")?.trim_start().strip_prefix('=')?;
                Some(rest.trim().trim_matches('"').to_owned())
            })
            .unwrap_or_else(|| "src".to_owned());
        let src = dir.join(src_name);
        let (chapters, summary_problems) = summary::chapters(&src)?;
        Ok(Self {
            dir,
            src,
            chapters,
            options: MarkdownOptions::from_book_toml(&toml),
            summary_problems,
        })
    }

    /// Every check on the book's sources: the summary, the includes, the links and anchors.
    pub fn check(&self) -> Vec<Problem> {
        let mut problems = self.summary_problems.clone();
        let mut pages = BTreeMap::new();
        for chapter in &self.chapters {
            let path = self.src.join(chapter);
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue; // summary::chapters reported it
            };
            let expansion = includes::expand(&path, &text, self.options, &mut problems);
            pages.insert(chapter.clone(), expansion);
        }
        let ids: BTreeMap<PathBuf, HashSet<String>> = pages
            .iter()
            .map(|(chapter, expansion)| {
                (
                    chapter.clone(),
                    headings::ids(&expansion.text, self.options),
                )
            })
            .collect();
        for (chapter, expansion) in &pages {
            problems.extend(links::check(self, chapter, expansion, &ids));
        }
        problems.sort();
        problems.dedup();
        problems
    }
}

/// Every check of the repository's book: its sources ([`Book::check`]), the generated pages
/// ([`generated::stale`]) and the reference chapter against the code ([`inventory`]).
pub fn check_all(repo: &Path) -> Vec<Problem> {
    let book_dir = repo.join("book");
    let mut problems = match Book::load(&book_dir) {
        Ok(book) => book.check(),
        Err(e) => vec![Problem::new(&book_dir, 0, e)],
    };
    problems.extend(generated::stale(repo));
    let reference = book_dir.join("src/reference.md");
    match std::fs::read_to_string(&reference) {
        Ok(text) => {
            let env = inventory::env_vars(repo);
            problems.extend(inventory::missing(
                &reference,
                &text,
                &env,
                "environment variable",
            ));
            let ports = inventory::ports(repo);
            problems.extend(inventory::missing(&reference, &text, &ports, "port"));
        }
        Err(e) => problems.push(Problem::new(&reference, 0, e.to_string())),
    }
    problems
}

/// A built book (`mdbook build`'s output): a page that still holds `{{#include …}}` (or
/// another directive) is one mdBook could not expand — unless the sources under `src` wrote it
/// escaped (`\{{#include …}}`), to show the syntax.
pub fn check_built(build_dir: &Path, src: &Path) -> Vec<Problem> {
    let mut shown = HashSet::new();
    let mut sources = Vec::new();
    files_with_ext(src, "md", &mut sources);
    for source in sources {
        if let Ok(text) = std::fs::read_to_string(&source) {
            for directive in includes::find(&text) {
                if directive.kind == includes::Kind::Escaped {
                    shown.insert(directive.text[1..].to_owned());
                }
            }
        }
    }
    let mut problems = Vec::new();
    let mut pages = Vec::new();
    files_with_ext(build_dir, "html", &mut pages);
    if pages.is_empty() {
        problems.push(Problem::new(
            build_dir,
            0,
            "no HTML page: was the book built?",
        ));
    }
    for page in pages {
        let Ok(text) = std::fs::read_to_string(&page) else {
            continue;
        };
        for directive in includes::find(&text) {
            let expandable = matches!(
                directive.kind,
                includes::Kind::Include
                    | includes::Kind::RustdocInclude
                    | includes::Kind::Playground
            );
            if expandable && !shown.contains(&directive.text) {
                problems.push(Problem::new(
                    &page,
                    line_of(&text, directive.range.start),
                    format!("`{}` was not expanded by mdBook", directive.text),
                ));
            }
        }
    }
    problems
}

fn files_with_ext(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            files_with_ext(&path, ext, out);
        } else if path.extension().is_some_and(|e| e == ext) {
            out.push(path);
        }
    }
}

/// Formats problems one per line, for a panic message or the command line.
pub fn report(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  {p}\n"))
        .collect::<String>()
}
