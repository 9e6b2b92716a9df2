#!/usr/bin/env bash
# The demo stack in docker/compose.yaml: what `make up`, `make down`, `make ps`, `make logs`
# and `make reset` call.
#
# Usage: docker/scripts/stack.sh up|down|reset|ps|logs [SERVICE]
#
# Environment:
#   COLLECTOR=otelcol|alloy   which collector owns 4317/4318 (default otelcol)
#   PYROSCOPE=1               also start Pyroscope
#   UP_TIMEOUT=300            seconds `up` waits for everything to be healthy
#   FOLLOW=0                  `logs` prints and exits instead of following
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

UP_TIMEOUT=${UP_TIMEOUT:-300}

# The dependencies of the service: if something else already listens on their port (e.g. the
# native services of `make services`), `up` uses it and does not start the container.
DEPS=(postgres:5432 valkey:6379 kafka:9092)
# The stack's own ports: these must be free (or already ours).
declare -A STACK_PORTS=(
  [tempo]=3200 [loki]=3100 [mimir]=9009 [grafana]=3000
  [otel-collector]="4317 4318 13133" [alloy]="4317 4318 12345" [pyroscope]=4040
)

# json_string JSON KEY: the first string value of "KEY" in JSON (compose config output).
json_string() {
  sed -n "s/.*\"$2\": *\"\\([^\"]*\\)\".*/\\1/p" <<<"$1" | head -n 1
}

running_services() {
  compose ps --status running --services 2>/dev/null || true
}

# container_state SERVICE: "healthy", "starting", "unhealthy", "running" (no healthcheck),
# "exited", "restarting" or "missing".
container_state() {
  local id
  id=$(compose ps --all -q "$1" 2>/dev/null | head -n 1)
  [[ -n $id ]] || {
    echo missing
    return
  }
  docker inspect -f '{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}' "$id" 2>/dev/null |
    awk '{ if ($1 == "running" && $2 != "") print $2; else print $1 }'
}

# ready SERVICE: prints "ok" when SERVICE is ready, else its state. Services without an
# in-container healthcheck (distroless images) are probed over HTTP from the host.
ready() {
  local svc=$1 state
  state=$(container_state "$svc")
  case $state in
  missing | exited | restarting | dead | unhealthy) echo "$state" && return ;;
  esac
  case $svc in
  mimir) http_ok http://127.0.0.1:9009/ready && echo ok || echo starting ;;
  otel-collector) http_ok http://127.0.0.1:13133/ && echo ok || echo starting ;;
  pyroscope) http_ok http://127.0.0.1:4040/ready && echo ok || echo starting ;;
  *) [[ $state == healthy ]] && echo ok || echo "$state" ;;
  esac
}

cmd_up() {
  require_docker
  require_tools curl
  local collector other profiles
  collector=$(collector_service)
  if [[ $collector == alloy ]]; then
    other=otel-collector
    profiles=alloy
  else
    other=alloy
    profiles=otelcol
  fi
  [[ ${PYROSCOPE:-} == 1 ]] && profiles+=,pyroscope

  local services=(tempo loki mimir grafana "$collector")
  [[ ${PYROSCOPE:-} == 1 ]] && services+=(pyroscope)

  local running
  running=$(running_services)
  # Only one collector may hold 4317/4318: stop the other one if it runs.
  if grep -qx "$other" <<<"$running"; then
    log "stopping $other: $collector takes over 4317/4318"
    compose rm -sf "$other" >/dev/null
    running=$(running_services)
  fi

  local busy=() svc port dep
  for svc in "${services[@]}"; do
    grep -qx "$svc" <<<"$running" && continue
    for port in ${STACK_PORTS[$svc]}; do
      is_port_open "$port" && busy+=("127.0.0.1:$port (needed by $svc)")
    done
  done
  ((${#busy[@]} == 0)) || die "ports of the stack are already in use:" "${busy[@]}" \
    "Stop what listens there (\`ss -ltnp\` shows it), or stop the other stack (\`make down\`)."

  local skipped=()
  for dep in "${DEPS[@]}"; do
    svc=${dep%%:*} port=${dep##*:}
    if ! grep -qx "$svc" <<<"$running" && is_port_open "$port"; then
      skipped+=("$svc")
      log "$svc: something already listens on 127.0.0.1:$port (native service?): using it, not starting the container"
    else
      services+=("$svc")
    fi
  done

  log "starting ${services[*]} (collector: $collector; versions from docker/.env)"
  # compose itself waits for the healthchecks that depends_on names (Tempo, Loki).
  if ! COMPOSE_PROFILES=$profiles compose up -d "${services[@]}"; then
    show_unready "${services[@]}"
    die "docker compose up failed (see above)" "See docker/README.md, \"Troubleshooting\"."
  fi
  wait_healthy "${services[@]}"

  local config role pass
  config=$(compose config --format json 2>/dev/null || true)
  role=$(json_string "$config" GF_AUTH_ANONYMOUS_ORG_ROLE)
  pass=$(json_string "$config" GF_SECURITY_ADMIN_PASSWORD)
  cat <<EOF
==> the stack is up (collector: $collector)
    Grafana        http://127.0.0.1:3000   (anonymous visitors: ${role:-?}; log in as admin / ${pass:-see docker/.env})
    OTLP           grpc 127.0.0.1:4317, http http://127.0.0.1:4318   (the services' default)
    Tempo API      http://127.0.0.1:3200
    Loki API       http://127.0.0.1:3100
    Mimir API      http://127.0.0.1:9009/prometheus
EOF
  [[ $collector == alloy ]] && echo "    Alloy UI       http://127.0.0.1:12345"
  [[ $collector == otel-collector ]] && echo "    Collector      http://127.0.0.1:13133 (health)"
  [[ ${PYROSCOPE:-} == 1 ]] && echo "    Pyroscope      http://127.0.0.1:4040"
  ((${#skipped[@]})) && echo "    (not started, already running natively: ${skipped[*]})"
  cat <<'EOF'
    next: make run            (the services send their telemetry to 127.0.0.1:4318)
          make load           (traffic), then Grafana → Dashboards → Workshop
EOF
}

# show_unready SERVICE...: the last log lines of each SERVICE that is not ready.
show_unready() {
  local svc
  for svc in "$@"; do
    [[ $(ready "$svc") == ok ]] && continue
    printf '    --- %s is %s; last lines of: docker compose logs %s ---\n' "$svc" "$(container_state "$svc")" "$svc" >&2
    compose logs --no-color --tail 25 "$svc" 2>&1 | sed 's/^/    | /' >&2 || true
  done
}

# wait_healthy SERVICE...: waits until every service is ready, with a progress line; fails
# (with the logs of what is not ready) after UP_TIMEOUT seconds or when one exits.
wait_healthy() {
  local start=$SECONDS tty=0 last_print=-100
  [[ -t 1 ]] && tty=1
  while :; do
    local svc state line="" pending=() broken=()
    for svc in "$@"; do
      state=$(ready "$svc")
      line+="$svc:$state "
      [[ $state == ok ]] || pending+=("$svc")
      case $state in exited | dead | unhealthy | missing) broken+=("$svc") ;; esac
    done
    local elapsed=$((SECONDS - start))
    if ((tty)); then
      printf '\r\033[K==> waiting %3ss/%ss: %s' "$elapsed" "$UP_TIMEOUT" "$line"
    elif ((elapsed - last_print >= 10)); then
      printf '==> waiting %3ss/%ss: %s\n' "$elapsed" "$UP_TIMEOUT" "$line"
      last_print=$elapsed
    fi
    if ((${#pending[@]} == 0)); then
      ((tty)) && printf '\n'
      log "all healthy after ${elapsed}s"
      return 0
    fi
    if ((${#broken[@]})) || ((elapsed >= UP_TIMEOUT)); then
      ((tty)) && printf '\n'
      local bad=("${broken[@]}")
      ((${#bad[@]})) || bad=("${pending[@]}")
      printf '==> error: not ready after %ss: %s\n' "$elapsed" "${bad[*]}" >&2
      show_unready "${bad[@]}"
      printf '    See docker/README.md, "Troubleshooting".\n' >&2
      return 1
    fi
    sleep 2
  done
}

cmd_down() {
  require_docker
  log "stopping the stack (data volumes are kept; \`make reset\` removes them)"
  compose down --remove-orphans
}

cmd_reset() {
  require_docker
  log "stopping the stack and removing its volumes (traces, logs, metrics, Grafana state, Postgres data)"
  compose down --remove-orphans --volumes
}

cmd_ps() {
  require_docker
  compose ps --all
}

cmd_logs() {
  require_docker
  local follow=(--follow)
  [[ ${FOLLOW:-1} == 0 ]] && follow=()
  compose logs "${follow[@]}" --tail 200 "$@"
}

case ${1:-} in
up) cmd_up ;;
down) cmd_down ;;
reset) cmd_reset ;;
ps) cmd_ps ;;
logs)
  shift
  cmd_logs "$@"
  ;;
*)
  echo "usage: $0 up|down|reset|ps|logs [SERVICE]" >&2
  exit 2
  ;;
esac
