//! The checks on the repository's own book: every include gives text, every link, image and
//! heading anchor resolves, the generated pages are fresh, and the reference names every
//! environment variable and port the code uses. (`make test-book` also builds the book with
//! mdBook and checks the built pages.)

use book_check::{check_all, repo_root, report};

#[test]
fn the_book_passes_every_check() {
    let problems = check_all(&repo_root());
    assert!(
        problems.is_empty(),
        "the book has {} problem(s):\n{}",
        problems.len(),
        report(&problems)
    );
}
