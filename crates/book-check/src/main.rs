//! `book-check`: the book's checks from the command line.
//!
//! ```text
//! book-check check            every check of book/ (what tests/book.rs runs), one line per problem
//! book-check generate         write book/src/generated/ again (`make book-gen`)
//! book-check built DIR        a built book: no page still holds an unexpanded {{#include …}}
//!                             (one the sources show escaped, \{{#include …}}, is fine)
//! ```

use book_check::{check_all, check_built, generated, repo_root};
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let repo = repo_root();
    let problems = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["check"] => check_all(&repo),
        ["built", dir] => check_built(&PathBuf::from(dir), &repo.join("book/src")),
        ["generate"] => match generated::write(&repo) {
            Ok(changed) if changed.is_empty() => {
                println!("==> book: generated pages up to date ({})", generated::DIR);
                return ExitCode::SUCCESS;
            }
            Ok(changed) => {
                for path in changed {
                    println!("==> book: wrote {}", path.display());
                }
                return ExitCode::SUCCESS;
            }
            Err(e) => {
                eprintln!("==> error: {e}");
                return ExitCode::FAILURE;
            }
        },
        _ => {
            eprintln!("usage: book-check check | generate | built BUILD_DIR");
            return ExitCode::from(2);
        }
    };
    if problems.is_empty() {
        println!("==> book: every check passed");
        ExitCode::SUCCESS
    } else {
        eprintln!("==> error: the book has {} problem(s):", problems.len());
        eprint!("{}", book_check::report(&problems));
        ExitCode::FAILURE
    }
}
