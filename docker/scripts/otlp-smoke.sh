#!/usr/bin/env bash
# `make otlp-smoke`: sends one span, one metric point and one log record to the collector
# with curl (OTLP/HTTP JSON on 127.0.0.1:4318, as seed 000's test-alloy-* targets do), then
# asks Tempo, Mimir and Loki for them. Prints PASS/FAIL per check; exits 1 if any fails.
#
# Environment: SMOKE_TIMEOUT=90 (seconds to wait for each backend; span metrics need the
# metrics-generator's 15 s collection interval plus Mimir's ingestion).
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SMOKE_TIMEOUT=${SMOKE_TIMEOUT:-90}
OTLP=http://127.0.0.1:4318
TEMPO=http://127.0.0.1:3200
MIMIR=http://127.0.0.1:9009/prometheus
LOKI=http://127.0.0.1:3100

require_docker
require_tools curl jq od

is_port_open 4318 ||
  die "nothing listens on 127.0.0.1:4318: start the stack first (make up)"

run=$(date +%s)-$RANDOM
trace_id=$(random_hex 16)
span_id=$(random_hex 8)
now_ns=$(date +%s%N)
start_ns=$((now_ns - 250000000))
service=otlp-smoke
resource='{"attributes":[{"key":"service.name","value":{"stringValue":"'$service'"}}]}'
run_attr='{"key":"smoke.run","value":{"stringValue":"'$run'"}}'

log "run $run: trace_id $trace_id, service.name $service"

# post SIGNAL BODY: POST to /v1/SIGNAL; PASS if the collector answers 2xx.
post() {
  local code
  code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 -H 'Content-Type: application/json' \
    -X POST "$OTLP/v1/$1" -d "$2" 2>/dev/null) || code=000
  if [[ $code == 2* ]]; then
    pass "collector accepted 1 ${1%s} (HTTP $code)"
  else
    fail "collector accepted 1 ${1%s}" "POST $OTLP/v1/$1 answered HTTP $code" "is the stack up? (make ps, make logs SERVICE=otel-collector)"
  fi
}

echo "==> sending to $OTLP"
post traces '{"resourceSpans":[{"resource":'"$resource"',"scopeSpans":[{"scope":{"name":"otlp-smoke"},"spans":[{
  "traceId":"'"$trace_id"'","spanId":"'"$span_id"'","name":"GET /smoke","kind":2,
  "startTimeUnixNano":"'"$start_ns"'","endTimeUnixNano":"'"$now_ns"'",
  "attributes":['"$run_attr"',{"key":"http.request.method","value":{"stringValue":"GET"}},{"key":"http.response.status_code","value":{"intValue":"200"}}],
  "status":{"code":1}}]}]}]}'
post metrics '{"resourceMetrics":[{"resource":'"$resource"',"scopeMetrics":[{"scope":{"name":"otlp-smoke"},"metrics":[{
  "name":"workshop.smoke","description":"otlp-smoke test gauge",
  "gauge":{"dataPoints":[{"asDouble":42,"timeUnixNano":"'"$now_ns"'","attributes":['"$run_attr"']}]}}]}]}]}'
post logs '{"resourceLogs":[{"resource":'"$resource"',"scopeLogs":[{"scope":{"name":"otlp-smoke"},"logRecords":[{
  "timeUnixNano":"'"$now_ns"'","observedTimeUnixNano":"'"$now_ns"'","severityNumber":9,"severityText":"INFO",
  "body":{"stringValue":"otlp smoke test '"$run"'"},"traceId":"'"$trace_id"'","spanId":"'"$span_id"'",
  "attributes":['"$run_attr"']}]}]}]}'

# eventually NAME CMD...: retries CMD every 3 s for SMOKE_TIMEOUT seconds; PASS or FAIL.
eventually() {
  local name=$1 start=$SECONDS
  shift
  while :; do
    if "$@"; then
      pass "$name ($((SECONDS - start))s)"
      return 0
    fi
    if ((SECONDS - start >= SMOKE_TIMEOUT)); then
      fail "$name" "not found after ${SMOKE_TIMEOUT}s: $LAST_QUERY"
      return 0
    fi
    sleep 3
  done
}

LAST_QUERY=
tempo_has_trace() {
  LAST_QUERY="GET $TEMPO/api/v2/traces/$trace_id"
  get "$TEMPO/api/v2/traces/$trace_id" >/dev/null
}
mimir_has() {
  LAST_QUERY="$MIMIR/api/v1/query?query=$1"
  get "$MIMIR/api/v1/query" --data-urlencode "query=$1" | jq -e '.data.result | length > 0' >/dev/null
}
loki_has() {
  local now
  now=$(date +%s)
  LAST_QUERY="$LOKI/loki/api/v1/query_range?query=$1"
  get "$LOKI/loki/api/v1/query_range" --data-urlencode "query=$1" \
    --data-urlencode "start=$(((now - 600) * 1000000000))" --data-urlencode "end=$(((now + 60) * 1000000000))" \
    --data-urlencode "limit=10" | jq -e '[.data.result[].values[]] | length > 0' >/dev/null
}

echo "==> asking the backends (up to ${SMOKE_TIMEOUT}s each)"
eventually "Tempo has the trace $trace_id" tempo_has_trace
eventually "Mimir has the metric point (workshop_smoke{smoke_run=\"$run\"})" mimir_has "workshop_smoke{smoke_run=\"$run\"}"
eventually "Loki has the log line, with trace_id as structured metadata" loki_has "{service_name=\"$service\"} | trace_id=\"$trace_id\""
eventually "Tempo's span metrics reached Mimir (traces_spanmetrics_calls_total{service=\"$service\"})" \
  mimir_has "traces_spanmetrics_calls_total{service=\"$service\"}"

summary
