//! Internal links and images. mdBook turns `other.md#x` into `other.html#x` and copies every
//! file under `src/` that is not Markdown; it checks nothing. So a link must point at
//!
//! - a chapter `SUMMARY.md` lists (another `.md` file is not rendered), and, with `#x`, a
//!   heading id that page really has ([`crate::headings`]);
//! - `#x` alone: a heading of the same page;
//! - anything else (an image, a file to download): a file under `src/` (what is outside is
//!   not in the built book).
//!
//! Links with a scheme (`https:`, `mailto:`) are not followed: the check runs offline.

use crate::includes::Expansion;
use crate::{Book, MarkdownOptions, Problem, line_of, normalize};
use pulldown_cmark::{Event, LinkType, Parser, Tag};
use regex::Regex;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

static HTML_TARGET: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"\b(href|src)\s*=\s*"([^"]*)""#).expect("valid regex"));
static SCHEME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z][A-Za-z0-9+.-]*:").expect("valid regex"));

/// A link or image target written in a Markdown text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub line: usize,
    pub image: bool,
    pub dest: String,
}

/// Every link and image target of a Markdown text (Markdown syntax and raw HTML `href`/`src`),
/// with its line.
pub fn targets(text: &str, options: MarkdownOptions) -> Vec<Target> {
    let mut found = Vec::new();
    for (event, range) in Parser::new_ext(text, options.cmark()).into_offset_iter() {
        let line = line_of(text, range.start);
        match event {
            // an email autolink (`<someone@example.com>`) has no scheme in its target
            Event::Start(Tag::Link {
                link_type,
                dest_url,
                ..
            }) if link_type != LinkType::Email => found.push(Target {
                line,
                image: false,
                dest: dest_url.to_string(),
            }),
            Event::Start(Tag::Image { dest_url, .. }) => found.push(Target {
                line,
                image: true,
                dest: dest_url.to_string(),
            }),
            Event::Html(html) | Event::InlineHtml(html) => {
                for cap in HTML_TARGET.captures_iter(&html) {
                    let before = &html[..cap.get(0).expect("match").start()];
                    found.push(Target {
                        line: line + before.matches('\n').count(),
                        image: &cap[1] == "src",
                        dest: cap[2].to_owned(),
                    });
                }
            }
            _ => {}
        }
    }
    found
}

/// `%20` → ` ` (and any other `%XX`); text that is not valid UTF-8 afterwards is kept as is.
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| text.to_owned())
}

fn hex(byte: u8) -> Option<u8> {
    (byte as char).to_digit(16).map(|d| d as u8)
}

/// Checks the links of one chapter: its own text and the Markdown it includes.
pub fn check(
    book: &Book,
    chapter: &Path,
    expansion: &Expansion,
    ids: &BTreeMap<PathBuf, HashSet<String>>,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut texts = vec![(expansion.file.clone(), expansion.source.clone(), 1, None)];
    for fragment in &expansion.fragments {
        texts.push((
            fragment.included.path.clone(),
            fragment.included.text.clone(),
            fragment.included.first_line,
            Some(fragment.from.clone()),
        ));
    }
    for (file, text, first_line, from) in texts {
        for target in targets(&text, book.options) {
            if let Some(message) = check_target(book, chapter, &target, ids) {
                let message = match &from {
                    Some((by, line)) => format!(
                        "{message} (included by {}:{line}, so relative to {})",
                        crate::display_path(by),
                        chapter.display()
                    ),
                    None => message,
                };
                problems.push(Problem::new(&file, target.line + first_line - 1, message));
            }
        }
    }
    problems
}

/// `None` when the target resolves, else what is wrong with it.
fn check_target(
    book: &Book,
    chapter: &Path,
    target: &Target,
    ids: &BTreeMap<PathBuf, HashSet<String>>,
) -> Option<String> {
    let dest = target.dest.trim();
    let what = if target.image { "image" } else { "link" };
    if dest.is_empty() {
        return Some(format!("{what} with an empty target"));
    }
    if SCHEME.is_match(dest) || dest.starts_with("//") {
        return None;
    }
    let (path_part, fragment) = match dest.split_once('#') {
        Some((path, fragment)) => (path, Some(percent_decode(fragment))),
        None => (dest, None),
    };
    let path_part = path_part.split('?').next().unwrap_or("");
    let page = if path_part.is_empty() {
        chapter.to_path_buf()
    } else {
        let chapter_dir = chapter.parent().unwrap_or(Path::new(""));
        let resolved = normalize(&chapter_dir.join(percent_decode(path_part)));
        if resolved.starts_with("..") || resolved.is_absolute() {
            return Some(format!(
                "{what} `{dest}` points outside book/src: the built book does not have it (link to the repository on GitHub, or copy the file into book/src)"
            ));
        }
        let is_page = matches!(
            resolved.extension().and_then(|e| e.to_str()),
            Some("md" | "html")
        );
        if !is_page {
            let on_disk = book.src.join(&resolved);
            if on_disk.is_dir() {
                return Some(format!(
                    "{what} `{dest}` is a directory; mdBook serves files only"
                ));
            }
            if !on_disk.is_file() {
                return Some(format!(
                    "{what} `{dest}`: no such file {}",
                    crate::display_path(&on_disk)
                ));
            }
            return None;
        }
        let as_md = resolved.with_extension("md");
        if !book.chapters.contains(&as_md) {
            return Some(if book.src.join(&as_md).is_file() {
                format!(
                    "{what} `{dest}`: {} is not a chapter in SUMMARY.md, so mdBook does not render it",
                    as_md.display()
                )
            } else {
                format!("{what} `{dest}`: no chapter {}", as_md.display())
            });
        }
        as_md
    };
    let fragment = fragment.filter(|f| !f.is_empty())?;
    let page_ids = ids.get(&page)?;
    if page_ids.contains(&fragment) {
        return None;
    }
    let mut known: Vec<&String> = page_ids.iter().collect();
    known.sort();
    let close: Vec<String> = known
        .iter()
        .filter(|id| {
            let a = id.as_str();
            a.contains(fragment.as_str())
                || fragment.contains(a)
                || a.split('-').next() == fragment.split('-').next()
        })
        .take(5)
        .map(|id| format!("#{id}"))
        .collect();
    let hint = if close.is_empty() {
        format!("{} has {} heading ids", page.display(), page_ids.len())
    } else {
        format!("did you mean {}?", close.join(", "))
    };
    Some(format!(
        "{what} `{dest}`: {} has no heading with id `{fragment}` ({hint})",
        page.display()
    ))
}
