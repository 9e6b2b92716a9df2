#!/usr/bin/env bash
# `make diff STEP=n`: what step n adds to step n-1, as a learner should read it. First a
# stat (files and lines), then the whole diff of the code, new files shown in full. READMEs
# are left out: they explain the lesson, they are not the lesson.
#
# Usage: scripts/diff-step.sh N        (N >= 2)
# Environment: DIFF_COLOR=always|never (default: colour on a terminal)
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/messages.sh
source "$REPO_ROOT/scripts/messages.sh"

step=${1:-}
available=$(cd "$REPO_ROOT/steps" && ls -d step*-* 2>/dev/null | sed -nE 's/^step([0-9]+)-.*/\1/p' | sort -n | tr '\n' ' ')
if ! [[ $step =~ ^[0-9]+$ ]] || ((step < 2)); then
  die "usage: make diff STEP=n, with n from 2 (available steps: ${available% })"
fi
step_dir() { ls -d "$REPO_ROOT/steps/step$1-"* 2>/dev/null | head -n 1 || true; }
new=$(step_dir "$step")
old=$(step_dir $((step - 1)))
[[ -n $new ]] || die "no steps/step$step-* (available steps: ${available% })"
[[ -n $old ]] || die "no steps/step$((step - 1))-* to compare steps/step$step-* with"

color=${DIFF_COLOR:-}
if [[ -z $color ]]; then
  if [[ -t 1 ]]; then color=always; else color=never; fi
fi

# Compare copies without the READMEs, from the steps/ directory so that paths read
# `step1-plain/src/…` and not the absolute path. `git diff --no-index` shows new files in full
# (plain `diff -r` prints only "Only in …") and gives the stat.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for dir in "$old" "$new"; do
  cp -R "$dir" "$scratch/"
  find "$scratch/$(basename "$dir")" -name README.md -delete
done
cd "$scratch"
a=$(basename "$old")
b=$(basename "$new")
log "make diff STEP=$step: $a → $b (code only; READMEs left out)"
git diff --no-index --stat=100 --color="$color" "$a" "$b" || true
echo
git diff --no-index --color="$color" "$a" "$b" || true
