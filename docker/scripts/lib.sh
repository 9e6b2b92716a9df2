#!/usr/bin/env bash
# Shared by docker/scripts/*.sh (sourced, not run): messages, the Docker checks, compose, HTTP.
# shellcheck shell=bash

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DOCKER_DIR="$REPO_ROOT/docker"
COMPOSE_FILE="$DOCKER_DIR/compose.yaml"

# Every profile, so that down/ps/logs see the services of whichever collector runs.
ALL_PROFILES=otelcol,alloy,pyroscope

# shellcheck source=scripts/messages.sh
source "$REPO_ROOT/scripts/messages.sh"

have() { command -v "$1" >/dev/null 2>&1; }

# require_docker: fails fast, with the way out, when there is no Docker engine or no compose.
require_docker() {
  have docker || die "docker is not installed" \
    "Without Docker: use \`make services\` for the native dependencies; the LGTM stack needs Docker."
  timeout 20 docker info >/dev/null 2>&1 || die "no Docker engine: \`docker info\` fails" \
    "Use \`make services\` for the native dependencies (PostgreSQL, Redis, Kafka); the LGTM stack needs Docker." \
    "If Docker is installed, start its engine (e.g. \`sudo systemctl start docker\`, or Docker Desktop)."
  docker compose version >/dev/null 2>&1 || die "the Docker Compose plugin is missing (\`docker compose version\` fails)" \
    "Install it: https://docs.docker.com/compose/install/"
}

# require_tools TOOL...: the host tools the scripts use.
require_tools() {
  local t
  for t in "$@"; do
    have "$t" || die "$t is not installed" "Install it (Debian/Ubuntu: sudo apt-get install $t)."
  done
}

# compose ARGS...: docker compose on docker/compose.yaml, with COMPOSE_PROFILES as set by the
# caller (default: every profile).
compose() {
  COMPOSE_PROFILES=${COMPOSE_PROFILES:-$ALL_PROFILES} docker compose -f "$COMPOSE_FILE" "$@"
}

# collector_service: the compose service of COLLECTOR (otelcol, the default, or alloy).
collector_service() {
  case ${COLLECTOR:-otelcol} in
  otelcol | otel-collector | collector) echo otel-collector ;;
  alloy) echo alloy ;;
  *) die "unknown COLLECTOR=${COLLECTOR}: use otelcol (the default) or alloy" ;;
  esac
}

# is_port_open PORT: something accepts TCP connections on 127.0.0.1:PORT.
is_port_open() {
  # shellcheck disable=SC2016 # single quotes on purpose: the inner bash expands $0
  timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0"' "$1" 2>/dev/null
}

# http_ok URL: the URL answers 2xx within 5 s.
http_ok() {
  curl -fsS -o /dev/null --max-time 5 "$1" 2>/dev/null
}

# get URL [curl args...]: the body of a GET, or nothing (and status 1) on failure.
get() {
  local url=$1
  shift
  curl -fsS --max-time 10 -G "$@" "$url" 2>/dev/null
}

# Results of checks: pass/fail print one line each and count.
PASSED=0
FAILED=0
FAILURES=()
pass() {
  PASSED=$((PASSED + 1))
  printf '  PASS  %s\n' "$1"
}
fail() {
  FAILED=$((FAILED + 1))
  FAILURES+=("$1")
  printf '  FAIL  %s\n' "$1"
  local line
  for line in "${@:2}"; do printf '        %s\n' "$line"; done
}

# summary: prints the totals; returns 1 if anything failed.
summary() {
  printf '\n==> %d passed, %d failed\n' "$PASSED" "$FAILED"
  if ((FAILED)); then
    printf '    failed: %s\n' "${FAILURES[@]}"
    printf '    See docker/README.md, "No data in Grafana", for what to look at.\n'
    return 1
  fi
}

# random_hex BYTES: lowercase hex of BYTES random bytes.
random_hex() {
  od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'
}
