# shellcheck shell=bash
# Progress and error messages shared by the repository's scripts (sourced, not run).

log() { printf '==> %s\n' "$*"; }
warn() { printf '==> warning: %s\n' "$*" >&2; }
# die MESSAGE [DETAIL...]: the message, each detail on an indented line, exit 1.
die() {
  printf '==> error: %s\n' "$1" >&2
  shift
  local line
  for line in "$@"; do printf '    %s\n' "$line" >&2; done
  exit 1
}
