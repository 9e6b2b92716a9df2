//! The ids mdBook 0.5 gives a page's headings (`mdbook-html`, `html/tree.rs`
//! `add_header_links`, and `utils.rs` `id_from_content` / `unique_id`): a heading's
//! `{#custom-id}` as written; otherwise its text, lower-cased, letters, digits, `_` and `-`
//! kept, white space turned into `-`, everything else dropped, and `-1`, `-2`, … appended to
//! repeats. Definition-list terms (`dt`) get ids the same way. Raw HTML headings keep
//! whatever `id` they were written with.

use crate::MarkdownOptions;
use pulldown_cmark::{Event, Parser, Tag, TagEnd};
use regex::Regex;
use std::collections::HashSet;
use std::sync::LazyLock;

static HTML_ID: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"\bid\s*=\s*"([^"]+)""#).expect("valid regex"));

/// mdBook's `id_from_content`.
pub fn id_from_content(content: &str) -> String {
    content
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|ch| {
            if ch.is_alphanumeric() || ch == '_' || ch == '-' {
                Some(ch)
            } else if ch.is_whitespace() {
                Some('-')
            } else {
                None
            }
        })
        .collect()
}

/// mdBook's `unique_id`.
fn unique_id(id: &str, used: &mut HashSet<String>) -> String {
    if used.insert(id.to_owned()) {
        return id.to_owned();
    }
    let mut counter = 1u32;
    loop {
        let candidate = format!("{id}-{counter}");
        if used.insert(candidate.clone()) {
            return candidate;
        }
        counter += 1;
    }
}

/// Every id a link may point at in the page rendered from `markdown` (already expanded).
pub fn ids(markdown: &str, options: MarkdownOptions) -> HashSet<String> {
    let mut generated = HashSet::new();
    let mut all = HashSet::new();
    // (custom id, text so far) of the heading or term being read.
    let mut current: Option<(Option<String>, String)> = None;
    for event in Parser::new_ext(markdown, options.cmark()) {
        match event {
            Event::Start(Tag::Heading { id, .. }) => {
                current = Some((id.map(|id| id.to_string()), String::new()));
            }
            Event::Start(Tag::DefinitionListTitle) => current = Some((None, String::new())),
            Event::End(TagEnd::Heading(_) | TagEnd::DefinitionListTitle) => {
                if let Some((custom, text)) = current.take() {
                    let id = match custom {
                        Some(id) => id,
                        None => unique_id(&id_from_content(&text), &mut generated),
                    };
                    all.insert(id);
                }
            }
            Event::Text(text) | Event::Code(text) => {
                if let Some((_, heading)) = current.as_mut() {
                    heading.push_str(&text);
                }
            }
            Event::Html(html) | Event::InlineHtml(html) => {
                for cap in HTML_ID.captures_iter(&html) {
                    all.insert(cap[1].to_owned());
                }
            }
            _ => {}
        }
    }
    all
}
