#!/usr/bin/env bash
# Run one step of the workshop: both binaries of the package in steps/step<N>-*/.
#
# Usage: scripts/run-step.sh N      (what `make run STEP=N` calls)
#
# 1. checks that steps/step<N>-* exists (else lists the steps there are),
# 2. makes the dependencies reachable (scripts/services.sh up),
# 3. builds the package (cargo build -p step<N>-… --bins), or your copy of it in
#    exercises/step<N>-…/ if `make exercise STEP=N` made one (binaries exercise<N>-…),
# 4. starts step<N>-email-service in the background and step<N>-user-service, and stops
#    both together (SIGTERM, then waits) on Ctrl-C, or as soon as one of them exits.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO_ROOT"
exercises_dir=$REPO_ROOT/exercises

CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
if ! command -v cargo >/dev/null 2>&1 && [[ -x $CARGO_BIN/cargo ]]; then
  PATH="$CARGO_BIN:$PATH"
fi

log() { printf '==> %s\n' "$*"; }

list_steps() {
  local dir name
  shopt -s nullglob
  for dir in steps/step*-*/; do
    name=$(basename "$dir")
    [[ $name =~ ^step([0-9]+)- ]] && printf '  make run STEP=%-3s # %s\n' "${BASH_REMATCH[1]}" "$name"
  done | sort -V -k3
}

step=${1:-}
shopt -s nullglob
dirs=()
[[ $step =~ ^[0-9]+$ ]] && dirs=(steps/step"$step"-*/)
if ((${#dirs[@]} != 1)) || [[ ! -f ${dirs[0]}Cargo.toml ]]; then
  if [[ -z $step ]]; then
    printf '==> error: no step given (usage: scripts/run-step.sh N, or make run STEP=N)\n' >&2
  else
    printf '==> error: unknown step %s: there is no steps/step%s-*/ package\n' "'$step'" "$step" >&2
  fi
  printf 'Available steps:\n' >&2
  list_steps >&2
  exit 2
fi

package=$(basename "${dirs[0]}")
user_bin="step$step-user-service"
email_bin="step$step-email-service"
build_dir=$REPO_ROOT
running=$package
# Your copy of the step (`make exercise STEP=N`), if you made one, runs instead of the solution.
copy="$exercises_dir/$package"
if [[ -f $copy/Cargo.toml ]]; then
  log "running your copy in exercises/$package/ (made by make exercise STEP=$step), not steps/$package/: move or delete it to run the solution"
  user_bin="exercise$step-user-service"
  email_bin="exercise$step-email-service"
  build_dir=$copy
  running="your copy, exercises/$package"
fi

"$REPO_ROOT/scripts/services.sh" up

if [[ $build_dir == "$REPO_ROOT" ]]; then
  log "building $package (cargo build -p $package --bins)…"
  cargo build -p "$package" --bins
else
  log "building your copy (cargo build --bins in exercises/$package/)…"
  (cd "$build_dir" && cargo build --bins)
fi

# Where cargo put the binaries (honours CARGO_TARGET_DIR and .cargo/config.toml).
target_dir=$(cd "$build_dir" && cargo metadata --format-version 1 --no-deps |
  sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
bin_dir="${target_dir:-$REPO_ROOT/target}/debug"
for bin in "$user_bin" "$email_bin"; do
  [[ -x $bin_dir/$bin ]] || {
    printf '==> error: %s was not built: %s/Cargo.toml must declare [[bin]] name = "%s"\n' \
      "$bin_dir/$bin" "$package" "$bin" >&2
    exit 1
  }
done

# Metrics (step 4 on) are exported every 60 s by default (the SDK's OTEL_METRIC_EXPORT_INTERVAL):
# in a workshop, every 5 s, so that a panel moves while you watch it. Set it yourself to
# override; the Grafana dashboards' rate windows work with both (docker/README.md).
export OTEL_METRIC_EXPORT_INTERVAL="${OTEL_METRIC_EXPORT_INTERVAL:-5000}"
log "OTEL_METRIC_EXPORT_INTERVAL=$OTEL_METRIC_EXPORT_INTERVAL ms (metrics export interval, from step 4 on)"

pids=()
stopping=0

stop_all() {
  local pid i
  ((${#pids[@]})) || return 0
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  # Graceful shutdown gets 10 s, then SIGKILL.
  for ((i = 0; i < 100; i++)); do
    local alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      printf '==> pid %s did not stop within 10s: SIGKILL\n' "$pid" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  wait "${pids[@]}" 2>/dev/null || true
  pids=()
}

on_signal() {
  stopping=1
  printf '\n'
  log "stopping $user_bin and $email_bin…"
  stop_all
  log "stopped"
  exit "$1"
}

trap 'on_signal 0' INT
trap 'on_signal 143' TERM
trap 'stop_all' EXIT

log "starting $email_bin (background) and $user_bin"
"$bin_dir/$email_bin" &
pids+=($!)
"$bin_dir/$user_bin" &
pids+=($!)

cat <<EOF
==> step $step ($running) is running; Ctrl-C stops both services.
    user-service:  http://127.0.0.1:8080
    email-service: http://127.0.0.1:8081
    try:
      curl -s -X POST http://127.0.0.1:8080/users -H 'content-type: application/json' \\
           -d '{"name":"Ada Lovelace","email":"ada@example.com"}'
      curl -s http://127.0.0.1:8080/users/1
EOF

# `wait -n` returns when either service exits, or at once when a trapped signal arrives.
status=0
wait -n "${pids[@]}" || status=$?
if ((!stopping)); then
  log "a service exited (status $status): stopping the other one"
  stop_all
  exit "$status"
fi
