//! `SUMMARY.md`: the chapters of the book, in order. mdBook renders these files and no
//! others (a `.md` file that is not listed is neither rendered nor reachable).

use crate::{Problem, line_of, normalize};
use pulldown_cmark::{Event, Parser, Tag};
use std::path::{Path, PathBuf};

/// The chapters `src/SUMMARY.md` links to (relative to `src`), and a problem for each link
/// whose file does not exist. A draft chapter (`[Title]()`) has no file and is skipped.
pub fn chapters(src: &Path) -> Result<(Vec<PathBuf>, Vec<Problem>), String> {
    let summary = src.join("SUMMARY.md");
    let text = std::fs::read_to_string(&summary)
        .map_err(|e| format!("{}: {e}", crate::display_path(&summary)))?;
    let mut chapters = Vec::new();
    let mut problems = Vec::new();
    for (event, range) in Parser::new(&text).into_offset_iter() {
        let Event::Start(Tag::Link { dest_url, .. }) = event else {
            continue;
        };
        let dest = dest_url.trim();
        if dest.is_empty() {
            continue;
        }
        let line = line_of(&text, range.start);
        if dest.contains("://") || dest.contains('#') {
            problems.push(Problem::new(
                &summary,
                line,
                format!("`{dest}`: SUMMARY.md links chapters, which are files under src/"),
            ));
            continue;
        }
        let relative = normalize(Path::new(&crate::links::percent_decode(dest)));
        if !src.join(&relative).is_file() {
            problems.push(Problem::new(
                &summary,
                line,
                format!("chapter `{dest}` does not exist"),
            ));
            continue;
        }
        if !chapters.contains(&relative) {
            chapters.push(relative);
        }
    }
    Ok((chapters, problems))
}
