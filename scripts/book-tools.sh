#!/usr/bin/env bash
# Makes sure the workshop book's tools are on the machine (what `make book*` need):
#
#   mdBook $MDBOOK_VERSION   `cargo install mdbook --version … --locked` into ~/.cargo/bin: a
#                            release build, ≈8½ min on 2 cores, once; skipped when
#                            `mdbook --version` already prints that version.
#   mermaid.min.js           copied into book/theme/ (git-ignored) from the slide deck's npm
#                            packages (slides/node_modules, `npm ci` first if they are missing),
#                            so that the book draws its ```mermaid diagrams offline, with the
#                            deck's mermaid version; book/theme/mermaid-init.js (committed) draws
#                            them.
#
# Idempotent: prints nothing and changes nothing when both are there and current.
#
# Environment (optional):
#   MDBOOK_INSTALL_TIMEOUT   seconds to wait for `cargo install mdbook` (3600)
set -euo pipefail
# shellcheck source=scripts/messages.sh
source "$(dirname "${BASH_SOURCE[0]}")/messages.sh"

# The newest 0.5.x on crates.io when the book was started (checked 2026-12-01). book.toml uses
# 0.5's keys ([build] build-dir, extra-watch-dirs; [output.html] additional-js, fold).
MDBOOK_VERSION=0.5.4
MDBOOK_INSTALL_TIMEOUT=${MDBOOK_INSTALL_TIMEOUT:-3600}

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MERMAID_SRC="$REPO_ROOT/slides/node_modules/mermaid/dist/mermaid.min.js"
MERMAID_DST="$REPO_ROOT/book/theme/mermaid.min.js"
INSTALL_LOG="$REPO_ROOT/target/book-tools/mdbook-install.log"

# cargo install puts mdbook into ~/.cargo/bin: look there first (the Makefile does too).
CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
PATH="$CARGO_BIN:$PATH"
have() { command -v "$1" >/dev/null 2>&1; }

# --- mdBook ----------------------------------------------------------------------------------

if [[ $(mdbook --version 2>/dev/null) != "mdbook v$MDBOOK_VERSION" ]]; then
  have cargo || die "book: cargo not found, and it is needed to install mdBook" \
    "Install Rust with rustup (https://rustup.rs), or add ~/.cargo/bin to PATH."
  found=$(mdbook --version 2>/dev/null || true)
  mkdir -p "$(dirname "$INSTALL_LOG")"
  log "book: installing mdBook $MDBOOK_VERSION${found:+ (found $found)} with cargo: ≈8½ min on 2 cores, once (log: ${INSTALL_LOG#"$REPO_ROOT"/})…"
  start=$SECONDS
  cargo install mdbook --version "$MDBOOK_VERSION" --locked >"$INSTALL_LOG" 2>&1 &
  pid=$!
  # A progress line every 30 s: the crate being compiled.
  next_report=30
  while kill -0 "$pid" 2>/dev/null; do
    elapsed=$((SECONDS - start))
    if ((elapsed >= MDBOOK_INSTALL_TIMEOUT)); then
      kill "$pid" 2>/dev/null || true
      die "book: cargo install mdbook did not finish within ${MDBOOK_INSTALL_TIMEOUT}s (log: $INSTALL_LOG)"
    fi
    if ((elapsed >= next_report)); then
      last=$(grep -aoE '(Compiling|Downloaded|Finished|Installing) [^ ]+( v[^ ]+)?' "$INSTALL_LOG" | tail -n 1 || true)
      log "book: still installing mdBook: $((elapsed / 60))m$((elapsed % 60))s${last:+, $last}"
      next_report=$((next_report + 30))
    fi
    sleep 2
  done
  status=0
  wait "$pid" || status=$?
  if ((status != 0)); then
    tail -n 30 "$INSTALL_LOG" | sed 's/^/    | /' >&2
    die "book: cargo install mdbook --version $MDBOOK_VERSION --locked failed (exit $status, log: $INSTALL_LOG)"
  fi
  version=$(mdbook --version 2>/dev/null || true)
  [[ $version == "mdbook v$MDBOOK_VERSION" ]] ||
    die "book: installed mdBook $MDBOOK_VERSION, but \`mdbook --version\` says '${version:-nothing}'" \
      "Is another mdbook earlier on PATH than $CARGO_BIN?"
  log "book: mdBook $MDBOOK_VERSION installed in $(((SECONDS - start) / 60))m$(((SECONDS - start) % 60))s"
fi

# --- mermaid ---------------------------------------------------------------------------------

if [[ ! -f $MERMAID_SRC ]]; then
  if have npm; then
    log "book: npm ci in slides/ (the book takes mermaid from the deck's packages)…"
    (cd "$REPO_ROOT/slides" && npm ci --no-audit --no-fund)
  else
    # The deck's own way: installs node and npm (and the deck's other tools), then npm ci.
    make --no-print-directory -C "$REPO_ROOT" slides-deps
  fi
  [[ -f $MERMAID_SRC ]] || die "book: ${MERMAID_SRC#"$REPO_ROOT"/} is still missing after npm ci" \
    "Is mermaid still in slides/package.json?"
fi
if ! cmp -s "$MERMAID_SRC" "$MERMAID_DST"; then
  mkdir -p "$(dirname "$MERMAID_DST")"
  cp "$MERMAID_SRC" "$MERMAID_DST"
  log "book: copied mermaid $(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' "$REPO_ROOT/slides/node_modules/mermaid/package.json" | head -n 1) into book/theme/"
fi
