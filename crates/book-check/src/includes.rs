//! `{{#include}}`, `{{#rustdoc_include}}` and `{{#playground}}`: found, resolved and expanded
//! exactly as mdBook 0.5's `links` preprocessor does (`mdbook-driver`,
//! `builtin_preprocessors/links.rs` and `links/take_lines.rs`), but every way of including
//! nothing is a problem:
//!
//! - the file cannot be read (mdBook logs an error, leaves the raw `{{#include …}}` in the
//!   page and still succeeds);
//! - the anchor is not in the file, or has no `ANCHOR_END` (mdBook includes nothing, or the
//!   rest of the file, without a word);
//! - the region or the line range is empty, or past the end of the file.
//!
//! Directives are textual: mdBook replaces them wherever they are, code blocks included, and
//! again inside what they included (paths then relative to the included file). `\{{#include
//! …}}` is the escape: mdBook drops the backslash and includes nothing.

use crate::{MarkdownOptions, Problem, display_path, line_of, normalize};
use pulldown_cmark::{Event, Parser, Tag};
use regex::Regex;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

/// mdBook's `MAX_LINK_NESTED_DEPTH`.
const MAX_DEPTH: usize = 10;

/// mdBook's `find_links` pattern, unchanged.
static LINK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?x)              # insignificant whitespace mode
        \\\{\{\#.*\}\}      # match escaped link
        |                   # or
        \{\{\s*             # link opening parens and whitespace
        \#([a-zA-Z0-9_]+)   # link type
        \s+                 # separating whitespace
        ([^}]+)             # link target path and space separated properties
        \}\}                # link closing parens",
    )
    .expect("valid regex")
});
static ANCHOR_START: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"ANCHOR:\s*(?P<anchor_name>[\w_-]+)").expect("valid regex"));
static ANCHOR_END: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"ANCHOR_END:\s*(?P<anchor_name>[\w_-]+)").expect("valid regex"));

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// `\{{#…}}`: printed without the backslash.
    Escaped,
    /// `{{#title …}}`: sets the page title, prints nothing.
    Title,
    Include,
    RustdocInclude,
    Playground,
}

/// Which part of the file an include takes (mdBook's `RangeOrAnchor`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// Lines `start..end` (0-based, end exclusive; `None`: to the end). The whole file is
    /// `start: 0, end: None`.
    Lines {
        start: usize,
        end: Option<usize>,
    },
    Anchor(String),
}

/// One `{{#…}}` in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    pub kind: Kind,
    pub path: String,
    pub selector: Selector,
    /// Byte range in the text.
    pub range: Range<usize>,
    /// The directive as written.
    pub text: String,
}

/// Every directive mdBook would act on in `text`, in order.
pub fn find(text: &str) -> Vec<Directive> {
    let mut found = Vec::new();
    for cap in LINK.captures_iter(text) {
        let whole = cap.get(0).expect("match");
        let (kind, arg) = match (cap.get(1), cap.get(2)) {
            (Some(kind), Some(rest)) => {
                let kind = match kind.as_str() {
                    "title" => Kind::Title,
                    "include" => Kind::Include,
                    "rustdoc_include" => Kind::RustdocInclude,
                    "playground" | "playpen" => Kind::Playground,
                    _ => continue, // mdBook leaves unknown `{{#x …}}` as they are
                };
                let arg = if kind == Kind::Title {
                    ""
                } else {
                    match rest.as_str().split_whitespace().next() {
                        Some(arg) => arg,
                        None => continue,
                    }
                };
                (kind, arg)
            }
            _ if whole.as_str().starts_with('\\') => (Kind::Escaped, ""),
            _ => continue,
        };
        let (path, selector) = match kind {
            Kind::Include | Kind::RustdocInclude => {
                let mut parts = arg.splitn(2, ':');
                let path = parts.next().unwrap_or("").to_owned();
                (path, parse_selector(parts.next()))
            }
            _ => (
                arg.to_owned(),
                Selector::Lines {
                    start: 0,
                    end: None,
                },
            ),
        };
        found.push(Directive {
            kind,
            path,
            selector,
            range: whole.range(),
            text: whole.as_str().to_owned(),
        });
    }
    found
}

/// mdBook's `parse_range_or_anchor`: `:5` one line, `:5:` from line 5, `:5:9` lines 5–9,
/// `::9` up to line 9, `:name` an anchor.
fn parse_selector(part: Option<&str>) -> Selector {
    let mut parts = part.unwrap_or("").splitn(3, ':').fuse();
    let first = parts.next();
    let start = match first {
        Some(value) if value.parse::<usize>().is_ok() => {
            Some(value.parse::<usize>().unwrap_or(0).saturating_sub(1))
        }
        Some("") | None => None,
        Some(anchor) => return Selector::Anchor(anchor.to_owned()),
    };
    let end = parts.next().map(|s| s.parse::<usize>());
    match (start, end) {
        (Some(start), Some(Ok(end))) => Selector::Lines {
            start,
            end: Some(end),
        },
        (Some(start), Some(Err(_))) => Selector::Lines { start, end: None },
        (Some(start), None) => Selector::Lines {
            start,
            end: Some(start + 1),
        },
        (None, Some(Ok(end))) => Selector::Lines {
            start: 0,
            end: Some(end),
        },
        (None, None) | (None, Some(Err(_))) => Selector::Lines {
            start: 0,
            end: None,
        },
    }
}

/// What an anchored include finds in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    /// 1-based line of the `ANCHOR: name` line, if any.
    pub start_line: Option<usize>,
    pub closed: bool,
    /// The text mdBook includes (its `take_anchored_lines`): the region without any anchor
    /// marker lines.
    pub text: String,
}

/// mdBook's `take_anchored_lines`, also saying whether the anchor was there and closed.
pub fn region(content: &str, anchor: &str) -> Region {
    let mut retained = Vec::new();
    let mut start_line = None;
    let mut closed = false;
    for (index, line) in content.lines().enumerate() {
        if start_line.is_some() {
            match ANCHOR_END.captures(line) {
                Some(cap) => {
                    if &cap["anchor_name"] == anchor {
                        closed = true;
                        break;
                    }
                }
                None => {
                    if !ANCHOR_START.is_match(line) {
                        retained.push(line);
                    }
                }
            }
        } else if let Some(cap) = ANCHOR_START.captures(line)
            && &cap["anchor_name"] == anchor
        {
            start_line = Some(index + 1);
        }
    }
    Region {
        start_line,
        closed,
        text: retained.join("\n"),
    }
}

/// A file (or part of one) that a directive includes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Included {
    pub path: PathBuf,
    pub text: String,
    /// 1-based line of the file where `text` starts.
    pub first_line: usize,
}

/// Reads what `directive` (found in a file of directory `dir`) includes, or says why it
/// includes nothing.
pub fn resolve(dir: &Path, directive: &Directive) -> Result<Included, String> {
    let shown = &directive.text;
    let path = normalize(&dir.join(&directive.path));
    let content = std::fs::read_to_string(&path)
        .map_err(|e| format!("`{shown}`: cannot read {}: {e}", display_path(&path)))?;
    let (text, first_line) = match (&directive.kind, &directive.selector) {
        (Kind::Include | Kind::RustdocInclude, Selector::Anchor(name)) => {
            let found = region(&content, name);
            let Some(start_line) = found.start_line else {
                return Err(format!(
                    "`{shown}`: no line with `ANCHOR: {name}` in {} (mdBook would include nothing)",
                    display_path(&path)
                ));
            };
            if !found.closed {
                return Err(format!(
                    "`{shown}`: `ANCHOR: {name}` (line {start_line} of {}) has no `ANCHOR_END: {name}` (mdBook would include the rest of the file)",
                    display_path(&path)
                ));
            }
            if found.text.trim().is_empty() {
                return Err(format!(
                    "`{shown}`: the region `{name}` (line {start_line} of {}) is empty",
                    display_path(&path)
                ));
            }
            (found.text, start_line + 1)
        }
        (_, Selector::Lines { start, end }) => {
            let lines = content.lines().skip(*start);
            let text = match end {
                Some(end) => lines
                    .take(end.saturating_sub(*start))
                    .collect::<Vec<_>>()
                    .join("\n"),
                None => lines.collect::<Vec<_>>().join("\n"),
            };
            if text.trim().is_empty() {
                let count = content.lines().count();
                let what = match (start, end) {
                    (0, None) => "the file".to_owned(),
                    (s, Some(e)) if *e == s + 1 => format!("line {}", s + 1),
                    (s, Some(e)) => format!("lines {}–{e}", s + 1),
                    (s, None) => format!("lines {}–end", s + 1),
                };
                return Err(format!(
                    "`{shown}`: {what} of {} is empty (it has {count} lines)",
                    display_path(&path)
                ));
            }
            (text, start + 1)
        }
        (_, Selector::Anchor(_)) => unreachable!("only includes have anchors"),
    };
    Ok(Included {
        path,
        text,
        first_line,
    })
}

/// A Markdown file included outside a code block: its text becomes part of the chapter, so
/// its links are checked as the chapter's (relative to the chapter, as mdBook inlines them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    pub included: Included,
    /// Where it was included: the file and line of the directive.
    pub from: (PathBuf, usize),
}

/// A chapter after the `links` preprocessor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expansion {
    /// The chapter's own file and text.
    pub file: PathBuf,
    pub source: String,
    /// The text mdBook renders.
    pub text: String,
    pub fragments: Vec<Fragment>,
}

/// Expands every directive of chapter `file` (text `source`), recording a problem for each
/// that would include nothing.
pub fn expand(
    file: &Path,
    source: &str,
    options: MarkdownOptions,
    problems: &mut Vec<Problem>,
) -> Expansion {
    let mut fragments = Vec::new();
    let text = expand_in(file, source, options, 0, false, problems, &mut fragments);
    Expansion {
        file: file.to_path_buf(),
        source: source.to_owned(),
        text,
        fragments,
    }
}

fn expand_in(
    file: &Path,
    text: &str,
    options: MarkdownOptions,
    depth: usize,
    in_code: bool,
    problems: &mut Vec<Problem>,
    fragments: &mut Vec<Fragment>,
) -> String {
    let dir = file.parent().unwrap_or(Path::new("."));
    let code = if in_code {
        Vec::new()
    } else {
        code_ranges(text, options)
    };
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for directive in find(text) {
        out.push_str(&text[last..directive.range.start]);
        last = directive.range.end;
        let line = line_of(text, directive.range.start);
        match directive.kind {
            Kind::Escaped => {
                out.push_str(&directive.text[1..]);
                continue;
            }
            Kind::Title => continue,
            _ => {}
        }
        match resolve(dir, &directive) {
            Err(message) => {
                problems.push(Problem::new(file, line, message));
                out.push_str(&directive.text);
            }
            Ok(included) => {
                let inside_code = in_code
                    || directive.kind != Kind::Include
                    || code.iter().any(|r| r.contains(&directive.range.start));
                if depth + 1 >= MAX_DEPTH {
                    problems.push(Problem::new(
                        file,
                        line,
                        format!(
                            "`{}`: includes nested {MAX_DEPTH} deep (a cycle?)",
                            directive.text
                        ),
                    ));
                    out.push_str(&included.text);
                    continue;
                }
                let nested = expand_in(
                    &included.path,
                    &included.text,
                    options,
                    depth + 1,
                    inside_code,
                    problems,
                    fragments,
                );
                let markdown = included.path.extension().is_some_and(|e| e == "md");
                if markdown && !inside_code {
                    fragments.push(Fragment {
                        included,
                        from: (file.to_path_buf(), line),
                    });
                }
                out.push_str(&nested);
            }
        }
    }
    out.push_str(&text[last..]);
    out
}

/// Byte ranges of the code blocks and code spans of a Markdown text.
pub fn code_ranges(text: &str, options: MarkdownOptions) -> Vec<Range<usize>> {
    Parser::new_ext(text, options.cmark())
        .into_offset_iter()
        .filter_map(|(event, range)| match event {
            Event::Start(Tag::CodeBlock(_)) | Event::Code(_) => Some(range),
            _ => None,
        })
        .collect()
}
