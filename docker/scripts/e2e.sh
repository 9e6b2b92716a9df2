#!/usr/bin/env bash
# `make e2e [STEP=n]`: runs a step (default: the most advanced) against the running stack,
# sends load for E2E_LOAD seconds, stops the services (which flushes their telemetry), then
# checks through the backends' HTTP APIs that what the step exports arrived: traces, span
# metrics and their exemplars, the service graph, the app's metrics (step >= 4), logs and
# trace-log correlation (step >= 5), the resource's namespace and environment in all three
# backends (step >= 6). PASS/FAIL per check; exits 1 if any check fails.
# Checks that a step cannot pass yet are listed as "not checked", with the step that adds
# them: they are neither passes nor failures.
#
# Usage: docker/scripts/e2e.sh [STEP]
# Environment: E2E_LOAD=30 (seconds of load), E2E_START_TIMEOUT=1800 (build + start),
#              E2E_TIMEOUT=120 (seconds to wait for the data in the backends)
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

E2E_LOAD=${E2E_LOAD:-30}
E2E_START_TIMEOUT=${E2E_START_TIMEOUT:-1800}
E2E_TIMEOUT=${E2E_TIMEOUT:-120}
TEMPO=http://127.0.0.1:3200
MIMIR=http://127.0.0.1:9009/prometheus
LOKI=http://127.0.0.1:3100
APP=http://127.0.0.1:8080

require_docker
require_tools curl jq

cd "$REPO_ROOT"
step=${1:-}
if [[ -z $step ]]; then
  step=$(find steps -maxdepth 1 -name 'step*-*' -type d | sed -nE 's#^steps/step([0-9]+)-.*#\1#p' | sort -n | tail -n 1)
fi
[[ $step =~ ^[0-9]+$ ]] || die "STEP must be a number (got '$step')"
((step >= 2)) || die "step $step exports no telemetry (OpenTelemetry comes with step 2): use STEP=2 or later"

# The stack must be up: the collector on 4318 and the three backends.
missing=()
is_port_open 4318 || missing+=("collector (127.0.0.1:4318)")
http_ok "$TEMPO/ready" || missing+=("Tempo ($TEMPO/ready)")
http_ok http://127.0.0.1:9009/ready || missing+=("Mimir (http://127.0.0.1:9009/ready)")
http_ok "$LOKI/ready" || missing+=("Loki ($LOKI/ready)")
((${#missing[@]} == 0)) || die "the stack is not ready: ${missing[*]}" "Start it with \`make up\` (and see \`make ps\`)."
for port in 8080 8081; do
  is_port_open "$port" && die "something already listens on 127.0.0.1:$port" \
    "Stop the step that is running (Ctrl-C in its terminal): e2e starts its own."
done

log_file=$(mktemp -t e2e-step"$step".XXXXXX.log)
log "e2e of step $step; the services' output goes to $log_file"

# Telemetry comes fast: export every 1 s (spans) and 5 s (metrics) instead of 5 s and 60 s.
OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 OTEL_BSP_SCHEDULE_DELAY=1000 OTEL_BLRP_SCHEDULE_DELAY=1000 \
  OTEL_METRIC_EXPORT_INTERVAL=5000 bash scripts/run-step.sh "$step" >"$log_file" 2>&1 &
run_pid=$!

stop_step() {
  if kill -0 "$run_pid" 2>/dev/null; then
    kill -TERM "$run_pid" 2>/dev/null || true
    local i
    for ((i = 0; i < 150; i++)); do
      kill -0 "$run_pid" 2>/dev/null || break
      sleep 0.1
    done
  fi
  wait "$run_pid" 2>/dev/null || true
}
trap stop_step EXIT

log "building and starting step $step (the first build takes a while)…"
start=$SECONDS
next=15
until http_ok "$APP/healthz"; do
  if ! kill -0 "$run_pid" 2>/dev/null; then
    printf '==> error: step %s exited before answering on %s; last lines of %s:\n' "$step" "$APP" "$log_file" >&2
    tail -n 30 "$log_file" | sed 's/^/    | /' >&2
    exit 1
  fi
  if ((SECONDS - start >= E2E_START_TIMEOUT)); then
    die "step $step does not answer on $APP/healthz after ${E2E_START_TIMEOUT}s (see $log_file)"
  fi
  if ((SECONDS - start >= next)); then
    log "still waiting for $APP/healthz ($((SECONDS - start))s): $(tail -n 1 "$log_file" | cut -c1-100)"
    next=$((next + 15))
  fi
  sleep 1
done
log "step $step answers after $((SECONDS - start))s; sending ${E2E_LOAD}s of load (make load)"

t0=$(($(date +%s) - 60))
make --no-print-directory load URL="$APP" DURATION="${E2E_LOAD}s" ||
  fail "make load ran without errors" "see its output above"
# Give the consumer a moment to deliver the last welcome emails, then stop: shutdown flushes.
sleep 3
log "stopping step $step (its shutdown flushes the last spans, metrics and logs)"
stop_step
trap - EXIT

t1=$(($(date +%s) + 60))

# --- queries --------------------------------------------------------------------------------

LAST=
tempo_search() { # TRACEQL: at least one trace matches
  LAST="GET $TEMPO/api/search?q=$1"
  get "$TEMPO/api/search" --data-urlencode "q=$1" --data-urlencode "start=$t0" --data-urlencode "end=$t1" \
    --data-urlencode "limit=5" | jq -e '(.traces // []) | length > 0' >/dev/null
}
tempo_trace() { # TRACE_ID: Tempo returns it
  LAST="GET $TEMPO/api/v2/traces/$1"
  get "$TEMPO/api/v2/traces/$1" >/dev/null
}
mimir_query() { # PROMQL: a non-empty result
  LAST="GET $MIMIR/api/v1/query?query=$1"
  get "$MIMIR/api/v1/query" --data-urlencode "query=$1" | jq -e '.data.result | length > 0' >/dev/null
}
loki_query() { # LOGQL [LIMIT]: the JSON answer of a range query over the run
  LAST="GET $LOKI/loki/api/v1/query_range?query=$1"
  get "$LOKI/loki/api/v1/query_range" --data-urlencode "query=$1" --data-urlencode "limit=${2:-20}" \
    --data-urlencode "start=${t0}000000000" --data-urlencode "end=${t1}000000000"
}

exemplar_trace_exists() {
  local id
  LAST="GET $MIMIR/api/v1/query_exemplars?query=traces_spanmetrics_latency_bucket{service=\"user-service\"}"
  id=$(get "$MIMIR/api/v1/query_exemplars" --data-urlencode 'query=traces_spanmetrics_latency_bucket{service="user-service"}' \
    --data-urlencode "start=$t0" --data-urlencode "end=$t1" |
    jq -r '[.data[]?.exemplars[]?.labels | (.trace_id // .traceID) | select(. != null)] | first // empty') || return 1
  [[ -n $id ]] || return 1
  tempo_trace "$id"
}
logs_exist() {
  loki_query '{service_name="user-service"}' 5 | jq -e '[.data.result[].values[]] | length > 0' >/dev/null
}
# app_metrics_explain: why the app's metrics of user-service are not in Mimir, from what Mimir
# has (printed under the failure).
app_metrics_explain() {
  local names
  names=$(get "$MIMIR/api/v1/query" --data-urlencode 'query=count by (__name__) ({service_name="user-service"})' |
    jq -r '[.data.result[].metric.__name__] | sort | join(" ")') || names=
  if [[ -n $names ]]; then
    echo "Mimir has these metrics with service_name=\"user-service\": $names"
    echo "So metrics arrive, under other names or labels than docker/known-metrics.txt lists (the step-4 contract):"
    echo "mimir.yaml must keep otel_metric_suffixes_enabled: true; the step must set http.route and http.request.method."
    return
  fi
  # job is "<service.namespace>/user-service" once the resource has a namespace (step 6).
  names=$(get "$MIMIR/api/v1/query" --data-urlencode 'query=count by (__name__) ({job=~"(.+/)?user-service"})' |
    jq -r '[.data.result[].metric.__name__] | sort | join(" ")') || names=
  if [[ -n $names ]]; then
    echo "Mimir has metrics with job=\"[<namespace>/]user-service\" but none with service_name: mimir.yaml's"
    echo "promote_otel_resource_attributes must list service.name (the dashboards filter on service_name). Metrics: $names"
    return
  fi
  echo "Mimir has no series of user-service at all: its metrics never arrived."
  echo "Step $step exports them every 5 s here (OTEL_METRIC_EXPORT_INTERVAL=5000); its output: $log_file"
  echo "Refused pushes show in \`make logs SERVICE=mimir\` and \`make logs SERVICE=otel-collector\` (or alloy)."
}
# Loki keeps an OTLP record's trace_id as structured metadata (not a label): `| trace_id != ""`
# filters on it after the stream selector. query_range returns structured metadata among each
# result's "stream" labels (one result per distinct set); only a request with the header
# X-Loki-Response-Encoding-Flags: categorize-labels (not sent here) gets it in each value's
# third element instead (Loki 3.7 pkg/util/marshal/query.go encodeStream). Both are read.
log_trace_exists() {
  local id
  id=$(loki_query '{service_name="user-service"} | trace_id != ""' 20 |
    jq -r '[.data.result[] | (.stream.trace_id // (.values[][2]?.structuredMetadata.trace_id?)) | select(. != null and . != "")] | first // empty') || return 1
  [[ -n $id ]] || {
    LAST="no log line of user-service carries a trace_id ({service_name=\"user-service\"} | trace_id != \"\")"
    return 1
  }
  tempo_trace "$id"
}

# Step 6: one Resource per process (steps/step6-resources, fn resource): service.namespace
# "workshop" and deployment.environment.name "development" unless OTEL_RESOURCE_ATTRIBUTES
# says otherwise, service.instance.id, host.*, process.*. In Loki the first two are index
# labels (loki.yaml), the others structured metadata (known-log-fields.txt).
resource_logs_exist() {
  loki_query '{service_name="user-service", service_namespace="workshop", deployment_environment_name="development"} | service_instance_id != ""' 5 |
    jq -e '[.data.result[].values[]] | length > 0' >/dev/null
}
# resource_logs_explain: what Loki has of user-service's resource.
resource_logs_explain() {
  local streams
  streams=$(loki_query '{service_name="user-service"}' 20 |
    jq -r '[.data.result[].stream | "service_namespace=\(.service_namespace // "-") deployment_environment_name=\(.deployment_environment_name // "-") service_instance_id=\(.service_instance_id // "-")"] | unique | join("; ")') || streams=
  if [[ -z $streams ]]; then
    echo "Loki has no log line of user-service at all (see the step-5 check \"Loki: logs of user-service\")."
    return
  fi
  echo "What Loki has of user-service's resource (labels and structured metadata, - = missing): $streams"
  echo "service.namespace and deployment.environment.name must be index_label attributes in loki.yaml (limits_config.otlp_config);"
  echo "service.instance.id is structured metadata (any resource attribute not listed there)."
}
# target_info_explain: what Mimir's target_info of user-service has, when the check fails.
target_info_explain() {
  local answer labels
  answer=$(get "$MIMIR/api/v1/query" --data-urlencode 'query=target_info{job=~"(.+/)?user-service"}') || answer=
  labels=$(jq -r '[.data.result[].metric | keys[]] | unique | join(" ")' <<<"$answer" 2>/dev/null) || labels=
  if [[ -z $labels ]]; then
    echo "Mimir has no target_info of user-service (job user-service or <namespace>/user-service): its metrics did not arrive"
    echo "(see the check of its HTTP metrics), or the resource has nothing but service.name/namespace/instance.id."
  elif [[ " $labels " != *" service_namespace "* ]]; then
    echo "target_info of user-service has no service_namespace; its labels: $labels"
    echo "Either the step sets no service.namespace (step 6's fn resource does: \"workshop\", unless OTEL_RESOURCE_ATTRIBUTES changes it),"
    echo "or mimir.yaml lacks otel_keep_identifying_resource_attributes: true (target_info then has job and instance instead)."
  else
    echo "target_info of user-service has other values (job, service_namespace, deployment_environment_name):"
    jq -r '.data.result[].metric | "  \(.job) \(.service_namespace // "-") \(.deployment_environment_name // "-")"' <<<"$answer"
  fi
}

# --- the checks -----------------------------------------------------------------------------

names=() steps=() cmds=() explains=()
check() { # MIN_STEP NAME CMD...
  steps+=("$1")
  names+=("$2")
  cmds+=("${*:3}")
  explains+=("")
}
# explain FUNCTION: on failure of the check added last, FUNCTION's output lines say why.
explain() { explains[${#explains[@]} - 1]=$1; }
check 2 "Tempo: traces of user-service" tempo_search '{ resource.service.name = "user-service" && kind = server }'
check 2 "Tempo: traces of email-service" tempo_search '{ resource.service.name = "email-service" && kind = server }'
check 2 "Mimir: span metrics of user-service (traces_spanmetrics_calls_total)" \
  mimir_query 'traces_spanmetrics_calls_total{service="user-service", span_kind="SPAN_KIND_SERVER"}'
check 2 "Mimir: span-metrics exemplar → a trace Tempo has" exemplar_trace_exists
check 3 "Tempo: one trace across both services (user-service >> email-service)" \
  tempo_search '{ resource.service.name = "user-service" } >> { resource.service.name = "email-service" }'
check 3 "Mimir: service graph edge user-service → email-service" \
  mimir_query 'traces_service_graph_request_total{client="user-service", server="email-service"}'
# The database nodes are named by the peer.service the collector/Alloy set (otel-collector.yaml,
# transform/service_graph): without it both would be "127.0.0.1".
check 3 "Mimir: service graph edge user-service → postgresql (connection_type=database)" \
  mimir_query 'traces_service_graph_request_total{client="user-service", server="postgresql", connection_type="database"}'
check 3 "Mimir: service graph edge user-service → redis (connection_type=database)" \
  mimir_query 'traces_service_graph_request_total{client="user-service", server="redis", connection_type="database"}'
# The app's own metrics (step 4), as Mimir names them (docker/known-metrics.txt): the requests
# of the load's POST /users, on the label the dashboards filter on (service_name).
check 4 "Mimir: the app's HTTP metrics of user-service (http_server_request_duration_seconds_count)" \
  mimir_query 'http_server_request_duration_seconds_count{service_name="user-service", http_route="/users", http_request_method="POST"}'
explain app_metrics_explain
check 5 "Loki: logs of user-service" logs_exist
check 5 "Loki → Tempo: a log line's trace_id is a trace in Tempo" log_trace_exists
# Step 6's resource in each backend (docker/README.md, "Resources in each backend"). Mimir:
# target_info carries the resource (service_name/service_namespace thanks to mimir.yaml's
# otel_keep_identifying_resource_attributes); every app series the promoted labels, and job
# becomes "<namespace>/<name>".
check 6 "Mimir: target_info of user-service in namespace workshop, environment development" \
  mimir_query 'target_info{service_name="user-service", service_namespace="workshop", deployment_environment_name="development"}'
explain target_info_explain
check 6 "Mimir: app metrics of user-service with the promoted service_namespace and job=\"workshop/user-service\"" \
  mimir_query 'http_server_request_duration_seconds_count{job="workshop/user-service", service_name="user-service", service_namespace="workshop", deployment_environment_name="development"}'
# Tempo: the span metrics' dimensions (tempo.yaml), and TraceQL on resource attributes.
check 6 "Mimir: span metrics of user-service with Tempo's dimensions service_namespace, deployment_environment_name" \
  mimir_query 'traces_spanmetrics_calls_total{service="user-service", service_namespace="workshop", deployment_environment_name="development"}'
check 6 "Tempo: traces of user-service by resource.service.namespace" \
  tempo_search '{ resource.service.namespace = "workshop" && resource.service.name = "user-service" }'
check 6 "Loki: logs of user-service by the labels service_namespace, deployment_environment_name (service_instance_id: metadata)" \
  resource_logs_exist
explain resource_logs_explain

echo
log "checking the backends (up to ${E2E_TIMEOUT}s for the data to arrive)"
pending=()
for i in "${!names[@]}"; do
  if ((step >= steps[i])); then
    pending+=("$i")
  else
    printf '  --    not checked at step %s: %s (comes with step %s)\n' "$step" "${names[i]}" "${steps[i]}"
  fi
done

wait_start=$SECONDS
deadline=$((SECONDS + E2E_TIMEOUT))
next=$((SECONDS + 15))
declare -A last_query=()
while ((${#pending[@]})); do
  still=()
  for i in "${pending[@]}"; do
    LAST=
    # cmds[i] is "FUNCTION [ARGUMENT]": every check takes at most one argument.
    read -r fn arg <<<"${cmds[i]}"
    if "$fn" ${arg:+"$arg"}; then
      pass "${names[i]} ($((SECONDS - wait_start))s)"
    else
      still+=("$i")
      last_query[$i]=$LAST
    fi
  done
  pending=("${still[@]}")
  ((${#pending[@]})) || break
  if ((SECONDS >= deadline)); then
    for i in "${pending[@]}"; do
      details=()
      [[ -z ${explains[i]} ]] || mapfile -t details < <("${explains[i]}")
      fail "${names[i]}" "nothing after ${E2E_TIMEOUT}s: ${last_query[$i]}" "${details[@]}"
    done
    break
  fi
  if ((SECONDS >= next)); then
    waiting=()
    for i in "${pending[@]}"; do waiting+=("${names[i]%% (*}"); done
    log "still waiting ($((SECONDS - wait_start))s of ${E2E_TIMEOUT}s) for ${#pending[@]}: $(printf '%s; ' "${waiting[@]}" | sed 's/; $//')"
    next=$((next + 15))
  fi
  sleep 5
done

summary
