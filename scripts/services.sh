#!/usr/bin/env bash
# Make the service's dependencies reachable on 127.0.0.1, without Docker if need be:
#
#   PostgreSQL :5432   (Debian package `postgresql`, started with pg_ctlcluster)
#   Redis      :6379   (Debian package `redis-server`; Valkey-compatible)
#   Kafka      :9092   (tansu, a Kafka-protocol broker, installed with `cargo install`)
#
# Whatever already listens on a port is used as it is. If a Docker engine runs and
# docker/compose.yaml exists, the containers are used instead.
#
# Usage: scripts/services.sh [up|status|stop-kafka]
#   up          (default) start what is missing, installing it first if need be
#   status      one line per service; exits 1 if any is not reachable
#   stop-kafka  stop the tansu broker this script started (pid in .services/tansu.pid)
#
# Environment (all optional):
#   SERVICES_TIMEOUT        seconds to wait for a port after starting a service (60)
#   TANSU_INSTALL_TIMEOUT   seconds to wait for `cargo install tansu`, ours or one already running (3600)
#   TANSU_RUST_LOG          RUST_LOG given to the broker (warn)
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SERVICES_DIR="$REPO_ROOT/.services"
COMPOSE_FILE="$REPO_ROOT/docker/compose.yaml"

HOST=127.0.0.1 # never `localhost`: tansu listens on IPv4 only
PG_PORT=5432
REDIS_PORT=6379
KAFKA_PORT=9092
# The service's default DATABASE_URL is postgres://postgres:postgres@127.0.0.1:5432/users
# (it creates the `users` database itself); we check the same credentials on `postgres`.
PG_CHECK_URL="postgres://postgres:postgres@$HOST:$PG_PORT/postgres"

TANSU_VERSION=0.6.0
# A debug build without debug info: 4 min instead of 10.5 on 2 cores (release, the default of
# `cargo install`), a 109 MB binary, and fast enough for the tests, the workshop and the
# bench's request rates (every contract test passes against it in the same time).
TANSU_INSTALL=(env CARGO_PROFILE_DEV_DEBUG=0 cargo install "tansu@$TANSU_VERSION" --locked --features dynostore --debug)
TANSU_DIR="$SERVICES_DIR/tansu"
TANSU_LOG="$SERVICES_DIR/tansu.log"
TANSU_PID="$SERVICES_DIR/tansu.pid"
TANSU_INSTALL_LOG="$SERVICES_DIR/tansu-install.log"

SERVICES_TIMEOUT=${SERVICES_TIMEOUT:-60}
TANSU_INSTALL_TIMEOUT=${TANSU_INSTALL_TIMEOUT:-3600}

CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
case ":$PATH:" in
*":$CARGO_BIN:"*) ;;
*) [[ -d $CARGO_BIN ]] && PATH="$PATH:$CARGO_BIN" ;;
esac

APT_UPDATED=${SERVICES_APT_UPDATED:-}

# --- small helpers ---------------------------------------------------------------------

# shellcheck source=scripts/messages.sh
source "$(dirname "${BASH_SOURCE[0]}")/messages.sh"

# Prints the last lines of a log file, indented, to stderr.
show_log_tail() {
  local file=$1 lines=${2:-30}
  if [[ -r $file ]]; then
    printf '    --- last %s lines of %s ---\n' "$lines" "$file" >&2
    tail -n "$lines" "$file" | sed 's/^/    | /' >&2
  else
    printf '    (no log at %s)\n' "$file" >&2
  fi
}

# is_port_open HOST PORT: true if something accepts TCP connections there.
is_port_open() {
  # shellcheck disable=SC2016 # single quotes on purpose: the inner bash expands $0 $1
  timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null
}

# wait_for_port NAME HOST PORT TIMEOUT LOG [PID]: waits until HOST:PORT accepts
# connections, printing a progress line every 5 s. Fails early if PID dies. On failure,
# prints what went wrong and the tail of LOG, and returns 1.
wait_for_port() {
  local name=$1 host=$2 port=$3 timeout_s=$4 logfile=$5 pid=${6:-}
  local start=$SECONDS next_report=5
  while ! is_port_open "$host" "$port"; do
    local elapsed=$((SECONDS - start))
    if [[ -n $pid ]] && ! process_alive "$pid"; then
      printf '==> error: %s exited before listening on %s:%s (see %s)\n' \
        "$name" "$host" "$port" "$logfile" >&2
      show_log_tail "$logfile"
      return 1
    fi
    if ((elapsed >= timeout_s)); then
      printf '==> error: %s is not listening on %s:%s after %ss (see %s)\n' \
        "$name" "$host" "$port" "$timeout_s" "$logfile" >&2
      show_log_tail "$logfile"
      return 1
    fi
    if ((elapsed >= next_report)); then
      log "$name: waiting for $host:$port… (${elapsed}s/${timeout_s}s)"
      next_report=$((next_report + 5))
    fi
    sleep 0.5
  done
  log "$name: listening on $host:$port"
}

have() { command -v "$1" >/dev/null 2>&1; }

# process_alive PID: true if PID runs (a zombie, dead but not yet reaped, does not count).
process_alive() {
  local stat
  [[ -r /proc/$1/stat ]] || return 1
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat%% *} != Z ]]
}

# as_root CMD...: runs CMD as root (directly, or with sudo).
as_root() {
  if ((EUID == 0)); then
    "$@"
  elif have sudo; then
    sudo "$@"
  else
    die "'$*' needs root, and sudo is not installed" \
      "Run this script as root, or install sudo, or run that command as root yourself."
  fi
}

# as_postgres CMD...: runs CMD as the `postgres` OS user (local peer authentication).
as_postgres() {
  if ((EUID == 0)); then
    runuser -u postgres -- "$@"
  elif have sudo; then
    sudo -u postgres "$@"
  else
    die "'$*' must run as the postgres user, and sudo is not installed" \
      "Run this script as root, or run that command as the postgres user yourself."
  fi
}

is_installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# install_debian_packages PKG...: installs the packages that are missing
# (apt-get update at most once per run).
install_debian_packages() {
  local missing=() pkg
  for pkg in "$@"; do
    is_installed "$pkg" || missing+=("$pkg")
  done
  ((${#missing[@]})) || return 0
  have apt-get || die "cannot install ${missing[*]}: apt-get not found (this script knows Debian/Ubuntu)" \
    "Install the equivalent packages with your package manager, or use Docker (make up)."
  if ((EUID != 0)) && ! have sudo; then
    die "installing ${missing[*]} needs root, and sudo is not installed" \
      "As root, run: apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
  fi
  if [[ -z $APT_UPDATED ]]; then
    log "apt-get update…"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    APT_UPDATED=1
  fi
  log "installing ${missing[*]} (apt-get)…"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# --- PostgreSQL ------------------------------------------------------------------------

# Prints psql's error and returns 1 if the service's default credentials do not work.
postgres_login_ok() {
  PGCONNECT_TIMEOUT=5 psql "$PG_CHECK_URL" -XAtqc 'select 1' >/dev/null
}

ensure_psql() {
  have psql && return 0
  log "postgres: installing the psql client (apt-get)…"
  install_debian_packages postgresql-client
}

postgres_credentials_help() {
  die "postgres: 127.0.0.1:$PG_PORT answers, but the service's default credentials do not work" \
    "The service connects with DATABASE_URL=postgres://postgres:postgres@127.0.0.1:$PG_PORT/users" \
    "(it creates the database itself). This script leaves an existing server's settings alone." \
    "Fix it yourself, either:" \
    "  - give the postgres role that password:" \
    "      sudo -u postgres psql -c \"ALTER USER postgres PASSWORD 'postgres'\"" \
    "    and make sure pg_hba.conf allows password (scram-sha-256/md5) or trust logins from" \
    "    127.0.0.1/32 (then: pg_ctlcluster <version> main reload);" \
    "  - or export DATABASE_URL with credentials that work (a role allowed to CREATE DATABASE)."
}

ensure_postgres() {
  if is_port_open "$HOST" "$PG_PORT"; then
    log "postgres: already reachable on $HOST:$PG_PORT"
    ensure_psql
    postgres_login_ok || postgres_credentials_help
    log "postgres: login as postgres/postgres works"
    return 0
  fi

  if ! have pg_ctlcluster || ! compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null; then
    log "postgres: installing postgresql (apt-get)…"
    install_debian_packages postgresql postgresql-client
    # The package's postinst may have started it already.
    if is_port_open "$HOST" "$PG_PORT"; then
      log "postgres: started by the package install"
    fi
  fi

  if ! is_port_open "$HOST" "$PG_PORT"; then
    local version
    version=$(find /etc/postgresql -mindepth 2 -maxdepth 2 -name main -printf '%P\n' 2>/dev/null |
      cut -d/ -f1 | sort -V | tail -n 1)
    if [[ -z $version ]]; then
      version=$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n 1)
      log "postgres: creating cluster $version/main…"
      as_root pg_createcluster "$version" main
    fi
    local pg_log="/var/log/postgresql/postgresql-$version-main.log"
    log "postgres: starting cluster $version/main (log: $pg_log)…"
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start ||
      {
        show_log_tail "$pg_log"
        die "postgres: 'pg_ctlcluster $version main start' failed (log: $pg_log)" \
          "Check the log above; is another server using port $PG_PORT on another address?"
      }
    wait_for_port postgres "$HOST" "$PG_PORT" "$SERVICES_TIMEOUT" "$pg_log" ||
      die "postgres: not reachable on $HOST:$PG_PORT (log: $pg_log)" \
        "Check listen_addresses/port in /etc/postgresql/$version/main/postgresql.conf."
  fi

  # We installed or started this server: make the service's default URL work.
  ensure_psql
  if ! postgres_login_ok 2>/dev/null; then
    log "postgres: setting the postgres role's password to 'postgres' (the service's default)"
    as_postgres psql -XqAtc "ALTER USER postgres PASSWORD 'postgres'" >/dev/null
    postgres_login_ok || postgres_credentials_help
  fi
  log "postgres: login as postgres/postgres works"
}

# --- Redis -----------------------------------------------------------------------------

# Prints the first line Redis answers to PING (`+PONG` when all is well).
redis_ping() {
  # shellcheck disable=SC2016 # single quotes on purpose: the inner bash expands $0 $1
  timeout 3 bash -c '
    exec 3<>"/dev/tcp/$0/$1" || exit 1
    printf "PING\r\n" >&3
    IFS= read -r line <&3 && printf "%s\n" "$line"
  ' "$HOST" "$REDIS_PORT" 2>/dev/null | tr -d '\r' || true
}

check_redis_answers() {
  local answer
  answer=$(redis_ping)
  case $answer in
  +PONG) log "redis: answers PING" ;;
  -NOAUTH*)
    die "redis: $HOST:$REDIS_PORT requires a password ($answer)" \
      "The service uses REDIS_URL=redis://127.0.0.1:$REDIS_PORT (no password)." \
      "Export REDIS_URL=redis://:PASSWORD@127.0.0.1:$REDIS_PORT, or disable requirepass."
    ;;
  *)
    die "redis: something listens on $HOST:$REDIS_PORT but does not answer PING (got: '${answer:-nothing}')" \
      "Find it with: ss -ltnp 'sport = :$REDIS_PORT'"
    ;;
  esac
}

ensure_redis() {
  if is_port_open "$HOST" "$REDIS_PORT"; then
    log "redis: already reachable on $HOST:$REDIS_PORT"
    check_redis_answers
    return 0
  fi

  if ! have redis-server; then
    log "redis: installing redis-server (apt-get)…"
    install_debian_packages redis-server
    if is_port_open "$HOST" "$REDIS_PORT"; then
      log "redis: started by the package install"
      check_redis_answers
      return 0
    fi
  fi

  local dir logfile
  if ((EUID == 0)); then
    dir=/var/lib/redis
    logfile=/var/log/redis/ci.log
  else
    dir="$SERVICES_DIR/redis"
    logfile="$SERVICES_DIR/redis.log"
  fi
  mkdir -p "$dir" "$(dirname "$logfile")"
  log "redis: starting redis-server (log: $logfile)…"
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" \
    --save "" --appendonly no --dir "$dir" --logfile "$logfile" ||
    {
      show_log_tail "$logfile"
      die "redis: redis-server failed to start (log: $logfile)"
    }
  wait_for_port redis "$HOST" "$REDIS_PORT" "$SERVICES_TIMEOUT" "$logfile" ||
    die "redis: not reachable on $HOST:$REDIS_PORT (log: $logfile)"
  check_redis_answers
}

# --- Kafka (tansu) ---------------------------------------------------------------------

# Sends a Kafka ApiVersions v0 request (correlation id 1) and checks that the answer
# carries correlation id 1: proves that a Kafka-protocol broker listens, with bash only.
kafka_answers() {
  local reply
  # shellcheck disable=SC2016 # single quotes on purpose: the inner bash expands $0 $1
  reply=$(timeout 3 bash -c '
    exec 3<>"/dev/tcp/$0/$1" || exit 1
    printf "\x00\x00\x00\x0a\x00\x12\x00\x00\x00\x00\x00\x01\xff\xff" >&3
    head -c 8 <&3 | od -An -tx1 | tr -d " \n"
  ' "$HOST" "$KAFKA_PORT" 2>/dev/null) || true
  [[ ${#reply} -eq 16 && ${reply:8} == 00000001 ]]
}

check_kafka_answers() {
  kafka_answers && { log "kafka: answers ApiVersions"; return 0; }
  die "kafka: something listens on $HOST:$KAFKA_PORT but does not speak the Kafka protocol" \
    "Find it with: ss -ltnp 'sport = :$KAFKA_PORT'; tansu's log, if we started it: $TANSU_LOG"
}

find_tansu() {
  if have tansu; then
    command -v tansu
  elif [[ -x $CARGO_BIN/tansu ]]; then
    printf '%s\n' "$CARGO_BIN/tansu"
  else
    return 1
  fi
}

# Prints the pid of a running `cargo install tansu…` (someone else's, or ours), if any.
cargo_install_tansu_pid() {
  local pattern='^([^ ]*/)?cargo install ([^ ]+ )*tansu'
  if have pgrep; then
    pgrep -f -- "$pattern" | head -n 1
  else
    local f cmd
    for f in /proc/[0-9]*/cmdline; do
      cmd=$(tr '\0' ' ' <"$f" 2>/dev/null) || continue
      if [[ $cmd =~ $pattern ]]; then
        f=${f#/proc/}
        printf '%s\n' "${f%/cmdline}"
        return 0
      fi
    done
  fi
}

# wait_for_pid PID WHAT LOG: waits for PID to exit, with a progress line every 30 s.
wait_for_pid() {
  local pid=$1 what=$2 logfile=${3:-} start=$SECONDS next_report=30
  while process_alive "$pid"; do
    local elapsed=$((SECONDS - start))
    if ((elapsed >= TANSU_INSTALL_TIMEOUT)); then
      die "kafka: gave up waiting for $what (pid $pid) after ${elapsed}s" \
        "Wait for it to finish, or stop it and run: ${TANSU_INSTALL[*]}"
    fi
    if ((elapsed >= next_report)); then
      local last=""
      if [[ -n $logfile && -r $logfile ]]; then
        last=$(grep -aoE '(Compiling|Building|Finished|Installing) [^ ]+( v[^ ]+)?' "$logfile" | tail -n 1 || true)
      fi
      log "kafka: still waiting for $what (pid $pid): $((elapsed / 60))m$((elapsed % 60))s${last:+, $last}"
      next_report=$((next_report + 30))
    fi
    sleep 2
  done
}

install_tansu() {
  have cargo || die "kafka: cargo not found, and it is needed to install tansu" \
    "Install Rust with rustup (https://rustup.rs), or add ~/.cargo/bin to PATH."
  if ! have cc || ! have c++; then
    log "kafka: tansu needs a C/C++ compiler to build"
    install_debian_packages build-essential
  fi
  mkdir -p "$SERVICES_DIR"
  log "kafka: installing tansu $TANSU_VERSION with cargo: ≈4 min on 2 cores, once (log: $TANSU_INSTALL_LOG)…"
  local start=$SECONDS pid status=0
  "${TANSU_INSTALL[@]}" >"$TANSU_INSTALL_LOG" 2>&1 &
  pid=$!
  wait_for_pid "$pid" "our cargo install tansu" "$TANSU_INSTALL_LOG"
  wait "$pid" || status=$?
  if ((status != 0)); then
    show_log_tail "$TANSU_INSTALL_LOG"
    die "kafka: '${TANSU_INSTALL[*]}' failed (exit $status, log: $TANSU_INSTALL_LOG)" \
      "Missing C toolchain? Try: apt-get install build-essential, then run this again."
  fi
  log "kafka: tansu installed in $((SECONDS - start))s"
}

ensure_tansu_installed() {
  find_tansu >/dev/null && return 0
  local pid
  pid=$(cargo_install_tansu_pid || true)
  if [[ -n $pid ]]; then
    log "kafka: a 'cargo install tansu' is already running (pid $pid): waiting for it (≈4 min from cold, ≈11 for a release build)…"
    wait_for_pid "$pid" "the running cargo install tansu"
    find_tansu >/dev/null ||
      die "kafka: the 'cargo install tansu' that was running (pid $pid) did not install tansu" \
        "Run it yourself and read its errors: ${TANSU_INSTALL[*]}"
    log "kafka: tansu installed"
    return 0
  fi
  install_tansu
  find_tansu >/dev/null || die "kafka: tansu is not in $CARGO_BIN after cargo install" \
    "Check $TANSU_INSTALL_LOG."
}

# Prints the pid from .services/tansu.pid if that process is still a running tansu.
our_tansu_pid() {
  [[ -r $TANSU_PID ]] || return 1
  local pid
  pid=$(<"$TANSU_PID")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  process_alive "$pid" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q tansu || return 1
  printf '%s\n' "$pid"
}

start_tansu() {
  local tansu pid
  tansu=$(find_tansu)
  mkdir -p "$TANSU_DIR"
  # tansu loads a `.env` from its working directory, or the nearest parent directory that
  # has one: this empty one stops it from picking up the repository's.
  [[ -f $TANSU_DIR/.env ]] || printf '# Empty on purpose: stops tansu from loading another .env.\n' >"$TANSU_DIR/.env"
  log "kafka: starting tansu (log: $TANSU_LOG)…"
  {
    printf '\n=== %s: starting %s\n' "$(date -Is)" "$tansu"
  } >>"$TANSU_LOG"
  # setsid: own session, so Ctrl-C in the terminal (e.g. during `make run`) does not stop it.
  # env -u: tansu reads these variables as defaults (OTEL_EXPORTER_OTLP_ENDPOINT would make
  # it export its own telemetry into the workshop's collector).
  (
    cd "$TANSU_DIR"
    exec env -u OTEL_EXPORTER_OTLP_ENDPOINT -u SCHEMA_REGISTRY -u CLUSTER_ID \
      -u LISTENER_URL -u ADVERTISED_LISTENER_URL -u STORAGE_ENGINE \
      RUST_LOG="${TANSU_RUST_LOG:-warn}" \
      setsid nohup "$tansu" broker \
      --storage-engine memory://tansu/ \
      --listener-url "tcp://$HOST:$KAFKA_PORT" \
      --advertised-listener-url "tcp://$HOST:$KAFKA_PORT" \
      </dev/null >>"$TANSU_LOG" 2>&1
  ) &
  pid=$!
  printf '%s\n' "$pid" >"$TANSU_PID"
  wait_for_port kafka "$HOST" "$KAFKA_PORT" 30 "$TANSU_LOG" "$pid" ||
    die "kafka: tansu did not start on $HOST:$KAFKA_PORT (log: $TANSU_LOG)" \
      "Is something else on port $KAFKA_PORT? Try: scripts/services.sh stop-kafka, then up again."
}

ensure_kafka() {
  if is_port_open "$HOST" "$KAFKA_PORT"; then
    log "kafka: already reachable on $HOST:$KAFKA_PORT"
    check_kafka_answers
    return 0
  fi
  local pid
  if pid=$(our_tansu_pid); then
    log "kafka: tansu (pid $pid) is running but not listening yet"
    wait_for_port kafka "$HOST" "$KAFKA_PORT" 30 "$TANSU_LOG" "$pid" ||
      die "kafka: tansu (pid $pid) is not listening on $HOST:$KAFKA_PORT (log: $TANSU_LOG)" \
        "Try: scripts/services.sh stop-kafka, then up again."
  else
    rm -f "$TANSU_PID"
    ensure_tansu_installed
    start_tansu
  fi
  check_kafka_answers
}

# --- Docker ----------------------------------------------------------------------------

docker_engine_runs() {
  have docker && timeout 15 docker info >/dev/null 2>&1
}

up_with_docker() {
  log "docker: engine runs and $COMPOSE_FILE exists: using containers"
  # What already listens (native servers, or our containers) is used as it is: starting a
  # container on a taken port would fail.
  local wanted=() entry
  for entry in "postgres:$PG_PORT" "valkey:$REDIS_PORT" "kafka:$KAFKA_PORT"; do
    if is_port_open "$HOST" "${entry#*:}"; then
      log "${entry%%:*}: $HOST:${entry#*:} already answers: using it"
    else
      wanted+=("${entry%%:*}")
    fi
  done
  if ((${#wanted[@]})); then
    docker compose -f "$COMPOSE_FILE" up -d "${wanted[@]}"
  fi
  wait_for_port postgres "$HOST" "$PG_PORT" "$SERVICES_TIMEOUT" "docker compose logs postgres" ||
    die "postgres container is not reachable on $HOST:$PG_PORT" "See: docker compose -f $COMPOSE_FILE logs postgres"
  wait_for_port redis "$HOST" "$REDIS_PORT" "$SERVICES_TIMEOUT" "docker compose logs valkey" ||
    die "valkey container is not reachable on $HOST:$REDIS_PORT" "See: docker compose -f $COMPOSE_FILE logs valkey"
  wait_for_port kafka "$HOST" "$KAFKA_PORT" "$SERVICES_TIMEOUT" "docker compose logs kafka" ||
    die "kafka container is not reachable on $HOST:$KAFKA_PORT" "See: docker compose -f $COMPOSE_FILE logs kafka"
}

# --- subcommands -----------------------------------------------------------------------

cmd_up() {
  local start=$SECONDS
  if [[ -f $COMPOSE_FILE ]] && docker_engine_runs; then
    up_with_docker
  else
    ensure_postgres
    ensure_redis
    ensure_kafka
  fi
  log "services ready in $((SECONDS - start))s: postgres $HOST:$PG_PORT, redis $HOST:$REDIS_PORT, kafka $HOST:$KAFKA_PORT"
}

cmd_status() {
  local down=0 name port extra pid
  for name in postgres redis kafka; do
    case $name in
    postgres) port=$PG_PORT ;;
    redis) port=$REDIS_PORT ;;
    kafka) port=$KAFKA_PORT ;;
    esac
    extra=""
    if [[ $name == kafka ]]; then
      if pid=$(our_tansu_pid); then
        extra=" (tansu pid $pid, started by this script)"
      elif ! find_tansu >/dev/null; then
        if pid=$(cargo_install_tansu_pid) && [[ -n $pid ]]; then
          extra=" (tansu is being installed: cargo pid $pid)"
        else
          extra=" (tansu not installed)"
        fi
      fi
    fi
    if is_port_open "$HOST" "$port"; then
      printf '%-9s %s:%s  reachable%s\n' "$name" "$HOST" "$port" "$extra"
    else
      printf '%-9s %s:%s  NOT reachable%s\n' "$name" "$HOST" "$port" "$extra"
      down=1
    fi
  done
  return "$down"
}

cmd_stop_kafka() {
  local pid
  if ! pid=$(our_tansu_pid); then
    rm -f "$TANSU_PID"
    log "kafka: no tansu started by this script is running"
    return 0
  fi
  log "kafka: stopping tansu (pid $pid)…"
  kill -TERM "$pid" 2>/dev/null || true
  local i
  for ((i = 0; i < 50; i++)); do
    process_alive "$pid" || break
    sleep 0.2
  done
  if process_alive "$pid"; then
    warn "tansu (pid $pid) still runs after 10s: sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$TANSU_PID"
  log "kafka: stopped"
}

main() {
  case ${1:-up} in
  up) cmd_up ;;
  status) cmd_status ;;
  stop-kafka) cmd_stop_kafka ;;
  -h | --help | help) sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}" ;;
  *)
    printf 'usage: %s [up|status|stop-kafka]\n' "$0" >&2
    exit 2
    ;;
  esac
}

# Run unless sourced (sourcing gives the functions, e.g. to test them one by one).
# (`exit` here: bash stops reading the file, so editing it while it runs is harmless.)
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main "$@"
  exit
fi
