#!/usr/bin/env bash
# Watch rollback-sidecar roll back a bad canary, end to end, on 127.0.0.1.
#
# Installs what is missing (Debian 12), builds, starts a real Prometheus (1 s scrapes), the blackbox
# exporter, HAProxy in front of a stable (v1) and a canary (v2) demo-workload, steady load through
# HAProxy and the sidecar with policies/demo.yml; after a healthy period it breaks the canary and
# prints a live timeline, then a summary. Run `scripts/demo.sh --help` for the options.
set -euo pipefail
export LC_ALL=C

usage() {
  cat <<'EOF'
Usage: scripts/demo.sh [--scenario error|latency|health|none] [--keep] [--help]

Starts Prometheus, the blackbox exporter, HAProxy, a stable (v1) and a canary (v2) demo workload,
steady load (50 req/s through HAProxy) and rollback-sidecar with policies/demo.yml, all on
127.0.0.1 with free ports in one temporary directory. After ~10 s of healthy traffic it injects a
fault into the canary and prints a timeline (rule values against thresholds, pending -> firing,
the rollback decision, the HAProxy change and its verification), then a summary.

  --scenario error    the canary answers 50 % of requests with 500 (default)
  --scenario latency  the canary adds 1200 ms to every request (policy: p95 above 0.5 s)
  --scenario health   the canary's /health answers 503 (blackbox probe_success = 0)
  --scenario none     no fault: observe 30 s; succeeds only if nothing is rolled back
  --keep              leave everything running after the summary (prints the URLs and a
                      one-line stop command)
  -h, --help          this help

Exit status: 0 when the scenario ended as expected (a verified rollback within 60 s of the fault
for error|latency|health, no rollback for none), 1 otherwise (the temp dir and its logs are kept),
2 on bad arguments. Ctrl-C stops everything the demo started.
EOF
}

SCENARIO=error
KEEP=0
HEALTHY_SECONDS=10      # healthy traffic watched before the fault
DEADLINE_SECONDS=60     # a rollback must happen this long after the fault at the latest
OBSERVE_SECONDS=30      # --scenario none: how long nothing may be rolled back
RATE=50                 # load through HAProxy, requests per second
STABLE_WEIGHT=90
CANARY_WEIGHT=10

while (($#)); do
  case $1 in
    --scenario)
      (($# >= 2)) || { echo "demo.sh: --scenario needs a value (error|latency|health|none)" >&2; exit 2; }
      SCENARIO=$2
      shift 2
      ;;
    --scenario=*) SCENARIO=${1#*=}; shift ;;
    --keep) KEEP=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "demo.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

case $SCENARIO in
  error) FAULT=(error_ratio=0.5); EXPECTED_RULE=error-rate ;;
  latency) FAULT=(latency_ms=1200); EXPECTED_RULE=latency-p95 ;;
  health) FAULT=(health=fail); EXPECTED_RULE=health-check-failures ;;
  none) FAULT=(); EXPECTED_RULE="" ;;
  *) echo "demo.sh: unknown scenario '$SCENARIO' (error|latency|health|none)" >&2; exit 2 ;;
esac

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=$ROOT/build-demo
POLICY=$ROOT/policies/demo.yml

# ---------------------------------------------------------------------------------------------
# Time, output, failure

now_ms() { NOW_MS=$((${EPOCHREALTIME/./} / 1000)); }
now_ms
START_MS=$NOW_MS
START_MS_OF_DAY=$((START_MS % 86400000))   # sidecar log timestamps are UTC: ms of the UTC day

# seconds with one decimal from milliseconds (may be negative)
fmt_s() {
  local ms=$1 sign=""
  if ((ms < 0)); then sign="-"; ms=$((-ms)); fi
  printf '%s%d.%d' "$sign" $((ms / 1000)) $(((ms % 1000) / 100))
}

# event MS_SINCE_START TEXT: one timeline line
event_at() {
  printf '[%6ss] %s\n' "$(fmt_s "$1")" "$2"
  [[ -n ${DIR:-} && -d ${DIR:-/nonexistent} ]] && printf '[%6ss] %s\n' "$(fmt_s "$1")" "$2" >>"$DIR/timeline.txt"
  return 0
}
event() { now_ms; event_at $((NOW_MS - START_MS)) "$1"; }

say() { printf 'demo: %s\n' "$*"; }

FAILED=0
INTERRUPTED=0
DIR=""

# fail MESSAGE [LOGFILE...]: print why, the tail of each log, and stop (keeping the temp dir)
fail() {
  local msg=$1 f
  shift
  FAILED=1
  printf '\ndemo: FAILED: %s\n' "$msg" >&2
  for f in "$@"; do
    [[ -f $f ]] || continue
    printf -- '--- last lines of %s ---\n' "$f" >&2
    tail -n 25 "$f" >&2 || true
  done
  exit 1
}

# ---------------------------------------------------------------------------------------------
# Processes: every daemon is started with setsid (its own process group, so Ctrl-C reaches only
# this script, which then stops them in order) and recorded by PID in $DIR/pids.

PIDS=()
NAMES=()

# start NAME COMMAND...: runs COMMAND in the background, output to $DIR/NAME.log
start() {
  local name=$1
  shift
  setsid "$@" </dev/null >"$DIR/$name.log" 2>&1 &
  PIDS+=("$!")
  NAMES+=("$name")
  printf '%s\n' "$!" >>"$DIR/pids"
  printf '%s %s\n' "$!" "$name" >>"$DIR/pids.names"
}

pid_of() {
  local i
  for i in "${!NAMES[@]}"; do
    [[ ${NAMES[$i]} == "$1" ]] && { printf '%s' "${PIDS[$i]}"; return 0; }
  done
  return 1
}

# Fails the demo when a daemon it started has exited.
check_alive() {
  local i
  for i in "${!PIDS[@]}"; do
    kill -0 "${PIDS[$i]}" 2>/dev/null || fail "${NAMES[$i]} (pid ${PIDS[$i]}) exited unexpectedly" "$DIR/${NAMES[$i]}.log"
  done
}

stop_all() {
  local i pid deadline alive
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    kill -TERM "${PIDS[$i]}" 2>/dev/null || true
  done
  deadline=$((SECONDS + 5))
  while ((SECONDS < deadline)); do
    alive=0
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}

cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  if ((${#PIDS[@]})) && ! ((KEEP && !FAILED && !INTERRUPTED)); then stop_all; fi
  if [[ -n $DIR && -d $DIR ]]; then
    if ((FAILED)) || { ((rc != 0)) && ((!INTERRUPTED)); }; then
      printf 'demo: everything stopped; logs and configs kept in %s\n' "$DIR" >&2
      printf 'demo:   %s\n' "$DIR"/*.log >&2
    elif ((KEEP && !INTERRUPTED)); then
      :
    else
      rm -rf "$DIR"
    fi
  fi
  ((INTERRUPTED)) && printf 'demo: interrupted; everything the demo started is stopped\n' >&2
  exit "$rc"
}
on_signal() {
  INTERRUPTED=1
  exit "$1"
}
trap cleanup EXIT
trap 'on_signal 130' INT
trap 'on_signal 143' TERM

# ---------------------------------------------------------------------------------------------
# Network helpers (bash /dev/tcp and curl; nothing else)

declare -A USED_PORTS=()
# free_port: a port nobody listens on, outside the kernel's ephemeral range, not handed out before
free_port() {
  local p tries
  for ((tries = 0; tries < 200; tries++)); do
    p=$((20000 + RANDOM % 12000))
    [[ -n ${USED_PORTS[$p]:-} ]] && continue
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      USED_PORTS[$p]=1
      PORT=$p
      return 0
    fi
  done
  fail "no free TCP port found on 127.0.0.1"
}

# wait_for WHAT TIMEOUT_S LOGFILE COMMAND...: polls COMMAND until it succeeds
wait_for() {
  local what=$1 timeout=$2 log=$3 deadline
  shift 3
  deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    check_alive
    ((SECONDS < deadline)) || fail "$what not ready after ${timeout}s" "$log"
    sleep 0.2
  done
}

http_ok() { curl -fsS -o /dev/null --max-time 2 "$1"; }

# haproxy_cmd COMMAND: the first line of HAProxy's runtime API reply (TCP stats socket)
haproxy_cmd() {
  local fd reply=""
  exec {fd}<>"/dev/tcp/127.0.0.1/$P_RUNTIME" || return 1
  printf '%s\n' "$1" >&"$fd"
  IFS= read -r -t 2 reply <&"$fd" || true
  exec {fd}>&-
  printf '%s\n' "$reply"
}

# canary_weight: prints the canary's current weight (the first field of `get weight`)
canary_weight() {
  local reply
  reply=$(haproxy_cmd "get weight app/canary") || return 1
  [[ $reply =~ ^([0-9]+) ]] || return 1
  printf '%s\n' "${BASH_REMATCH[1]}"
}

# requests_served URL: business requests a workload has served (sum of http_requests_total)
requests_served() {
  curl -fsS --max-time 2 "$1/metrics" | awk '/^http_requests_total\{/ { s += $2 } END { printf "%d\n", s }'
}

# metric_value URL NAME: first sample of NAME (exact name, any labels) on a /metrics page
metric_value() {
  curl -fsS --max-time 2 "$1/metrics" | awk -v n="$2" '$1 == n || index($1, n "{") == 1 { print $2; exit }'
}

urlencode() {
  local s=$1 out="" c i
  for ((i = 0; i < ${#s}; i++)); do
    c=${s:i:1}
    case $c in
      [a-zA-Z0-9._~-]) out+=$c ;;
      *) out+=$(printf '%%%02X' "'$c") ;;
    esac
  done
  printf '%s' "$out"
}

# ---------------------------------------------------------------------------------------------
# 1. Packages

BUILD_PACKAGES=(cmake ninja-build g++ pkg-config prometheus-cpp-dev libcurl4-openssl-dev nlohmann-json3-dev
  libboost-program-options-dev libspdlog-dev libyaml-cpp-dev libcpp-httplib-dev libre2-dev libtinyxml2-dev libssl-dev libcrypt-dev)
RUNTIME_PACKAGES=(prometheus prometheus-blackbox-exporter haproxy curl)

missing_packages() {
  local p
  MISSING=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || MISSING+=("$p")
  done
}

install_packages() {
  missing_packages "${RUNTIME_PACKAGES[@]}"
  if ((${#MISSING[@]})) && [[ -x $ROOT/scripts/install-deps.sh ]]; then
    say "installing the demo's servers with scripts/install-deps.sh --runtime"
    "$ROOT/scripts/install-deps.sh" --runtime || fail "scripts/install-deps.sh --runtime failed"
  fi
  missing_packages "${BUILD_PACKAGES[@]}" "${RUNTIME_PACKAGES[@]}"
  ((${#MISSING[@]})) || return 0
  local sudo=() service
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || fail "need root (or sudo) to install: ${MISSING[*]}"
    sudo=(sudo)
  fi
  say "installing ${MISSING[*]} (apt-get, quiet)"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq || fail "apt-get update failed"
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${MISSING[@]}" >/dev/null ||
    fail "apt-get install ${MISSING[*]} failed"
  # Debian starts these on install; the demo runs its own on free ports.
  for service in prometheus prometheus-blackbox-exporter prometheus-node-exporter haproxy; do
    if command -v systemctl >/dev/null && systemctl is-active --quiet "$service" 2>/dev/null; then
      "${sudo[@]}" systemctl disable --now "$service" >/dev/null 2>&1 || true
    fi
  done
}

install_packages

DIR=$(mktemp -d "${TMPDIR:-/tmp}/rollback-sidecar-demo.XXXXXX")
: >"$DIR/pids"
: >"$DIR/pids.names"

# ---------------------------------------------------------------------------------------------
# 2. Build

say "building rollback-sidecar and demo-workload in build-demo/ (Release; log: $DIR/build.log)"
{
  cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DRS_BUILD_TESTS=OFF -DRS_BUILD_BENCH=OFF &&
    cmake --build "$BUILD_DIR" --target rollback-sidecar demo-workload
} >"$DIR/build.log" 2>&1 || fail "the build failed" "$DIR/build.log"
SIDECAR=$BUILD_DIR/sidecar/rollback-sidecar
WORKLOAD=$BUILD_DIR/docker/workload/demo-workload
[[ -x $SIDECAR ]] || fail "build finished but $SIDECAR is missing" "$DIR/build.log"
[[ -x $WORKLOAD ]] || fail "build finished but $WORKLOAD is missing" "$DIR/build.log"

PROMETHEUS_BIN=$(command -v prometheus || true)
BLACKBOX_BIN=$(command -v prometheus-blackbox-exporter || true)
HAPROXY_BIN=$(command -v haproxy || PATH=$PATH:/usr/sbin:/sbin command -v haproxy || true)
[[ -n $PROMETHEUS_BIN ]] || fail "prometheus is not on PATH"
[[ -n $BLACKBOX_BIN ]] || fail "prometheus-blackbox-exporter is not on PATH"
[[ -n $HAPROXY_BIN ]] || fail "haproxy is not on PATH (nor in /usr/sbin)"

# ---------------------------------------------------------------------------------------------
# 3. Configuration (free ports, one temp dir)

free_port; P_PROM=$PORT
free_port; P_BLACKBOX=$PORT
free_port; P_V1=$PORT
free_port; P_V2=$PORT
free_port; P_HAPROXY=$PORT
free_port; P_RUNTIME=$PORT
free_port; P_STATS=$PORT
free_port; P_SIDECAR=$PORT
PROM=http://127.0.0.1:$P_PROM
V1=http://127.0.0.1:$P_V1
V2=http://127.0.0.1:$P_V2
FRONT=http://127.0.0.1:$P_HAPROXY
SIDECAR_URL=http://127.0.0.1:$P_SIDECAR

cat >"$DIR/blackbox.yml" <<EOF
modules:
  http_2xx:
    prober: http
    timeout: 900ms
    http:
      preferred_ip_protocol: ip4
      valid_status_codes: [200]
      follow_redirects: false
EOF

cat >"$DIR/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 900ms
  evaluation_interval: 1s
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ['127.0.0.1:$P_PROM']
  - job_name: demo
    static_configs:
      - targets: ['127.0.0.1:$P_V1']
        labels: {deployment: demo, service: demo, version: v1}
      - targets: ['127.0.0.1:$P_V2']
        labels: {deployment: demo, service: demo, version: v2}
  - job_name: blackbox
    metrics_path: /probe
    params:
      module: [http_2xx]
    static_configs:
      - targets: ['http://127.0.0.1:$P_V1/health']
        labels: {deployment: demo, service: demo, version: v1}
      - targets: ['http://127.0.0.1:$P_V2/health']
        labels: {deployment: demo, service: demo, version: v2}
    relabel_configs:
      - source_labels: [__address__]
        target_label: __param_target
      - source_labels: [__param_target]
        target_label: instance
      - target_label: __address__
        replacement: 127.0.0.1:$P_BLACKBOX
  - job_name: blackbox-exporter
    static_configs:
      - targets: ['127.0.0.1:$P_BLACKBOX']
  - job_name: rollback-sidecar
    static_configs:
      - targets: ['127.0.0.1:$P_SIDECAR']
        labels: {deployment: demo, service: demo}
EOF

cat >"$DIR/haproxy.cfg" <<EOF
global
  stats socket ipv4@127.0.0.1:$P_RUNTIME level admin
  maxconn 2000

defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s

frontend app
  bind 127.0.0.1:$P_HAPROXY
  default_backend app

frontend stats
  bind 127.0.0.1:$P_STATS
  stats enable
  stats uri /stats
  stats refresh 2s

# No health checks on purpose: deciding that the canary is bad is the sidecar's job.
backend app
  balance roundrobin
  server stable 127.0.0.1:$P_V1 weight $STABLE_WEIGHT
  server canary 127.0.0.1:$P_V2 weight $CANARY_WEIGHT
EOF
"$HAPROXY_BIN" -c -q -f "$DIR/haproxy.cfg" >"$DIR/haproxy-check.log" 2>&1 ||
  fail "haproxy rejects the generated config" "$DIR/haproxy-check.log"

# The demo policy with this run's addresses; every rewrite is checked, so a reshaped demo.yml
# fails here instead of pointing the sidecar at the wrong place.
CONFIG=$DIR/sidecar.yml
sed -e "s#^\(  url: \)http://127\.0\.0\.1:[0-9]*#\1$PROM#" \
  -e "s#^listen: .*#listen: 127.0.0.1:$P_SIDECAR#" \
  -e "s#^\(    address: \)127\.0\.0\.1:[0-9]*#\1127.0.0.1:$P_RUNTIME#" \
  -e "s#^state_file: .*#state_file: $DIR/state.json#" \
  "$POLICY" >"$CONFIG"
for want in "^  url: $PROM\$" "^listen: 127.0.0.1:$P_SIDECAR\$" "^    address: 127.0.0.1:$P_RUNTIME\$" \
  "^state_file: $DIR/state.json\$"; do
  grep -q "$want" "$CONFIG" || fail "could not rewrite policies/demo.yml: no line matching '$want' after the rewrite"
done
grep -q '^audit_log:' "$CONFIG" || printf 'audit_log: %s/audit.jsonl\n' "$DIR" >>"$CONFIG"
grep -q '^incidents_dir:' "$CONFIG" || printf 'incidents_dir: %s/incidents\n' "$DIR" >>"$CONFIG"
"$SIDECAR" check --config "$CONFIG" >"$DIR/sidecar-check.log" 2>&1 ||
  fail "rollback-sidecar check rejects the demo config" "$DIR/sidecar-check.log"

# ---------------------------------------------------------------------------------------------
# 4. Start the servers

event "starting Prometheus, blackbox exporter, workloads v1+v2, HAProxy, load (temp dir $DIR)"
start prometheus "$PROMETHEUS_BIN" --config.file="$DIR/prometheus.yml" --storage.tsdb.path="$DIR/prometheus-data" \
  --web.listen-address="127.0.0.1:$P_PROM" --storage.tsdb.retention.time=1h --log.level=warn
start blackbox "$BLACKBOX_BIN" --config.file="$DIR/blackbox.yml" --web.listen-address="127.0.0.1:$P_BLACKBOX"
start workload-v1 "$WORKLOAD" serve --listen "127.0.0.1:$P_V1" --version v1 \
  --memory-limit-bytes 256Mi --cpu-limit-cores 1.0
start workload-v2 "$WORKLOAD" serve --listen "127.0.0.1:$P_V2" --version v2 \
  --memory-limit-bytes 256Mi --cpu-limit-cores 1.0
start haproxy "$HAPROXY_BIN" -db -f "$DIR/haproxy.cfg"

wait_for "Prometheus ($PROM)" 30 "$DIR/prometheus.log" http_ok "$PROM/-/ready"
wait_for "blackbox exporter (127.0.0.1:$P_BLACKBOX)" 20 "$DIR/blackbox.log" http_ok "http://127.0.0.1:$P_BLACKBOX/metrics"
wait_for "workload v1 ($V1)" 20 "$DIR/workload-v1.log" http_ok "$V1/health"
wait_for "workload v2 ($V2)" 20 "$DIR/workload-v2.log" http_ok "$V2/health"
wait_for "HAProxy ($FRONT)" 20 "$DIR/haproxy.log" http_ok "$FRONT/"
wait_for "HAProxy runtime API (127.0.0.1:$P_RUNTIME)" 10 "$DIR/haproxy.log" canary_weight

# Enough concurrency for the latency fault: rate x 1.2 s of canary latency, with room to spare.
start load "$WORKLOAD" load --url "$FRONT/" --rate "$RATE" --concurrency 32 --timeout 5s --report-interval 5s
event "all servers up; load: $RATE req/s through HAProxy (stable v1 weight $STABLE_WEIGHT, canary v2 weight $CANARY_WEIGHT)"

# The sidecar starts once every rule has data in Prometheus (rates need two 1 s scrapes): a
# sidecar started on an empty Prometheus would, by the policy's `missing` settings, see the
# health check as failing.
online_clean() {
  "$SIDECAR" check --config "$CONFIG" --online >"$DIR/sidecar-online.log" 2>&1 || return 1
  ! grep -q -e 'no data' -e 'BREACHING' "$DIR/sidecar-online.log"
}
wait_for "Prometheus data for every rule (rollback-sidecar check --online)" 45 "$DIR/sidecar-online.log" online_clean
event "Prometheus has data for every rule; starting rollback-sidecar (evaluation every 1s)"

start sidecar "$SIDECAR" --config "$CONFIG" --log-level debug
wait_for "rollback-sidecar ($SIDECAR_URL/readyz)" 20 "$DIR/sidecar.log" http_ok "$SIDECAR_URL/readyz"

# ---------------------------------------------------------------------------------------------
# 5. The timeline: the sidecar's log, the HAProxy runtime API and the load generator, polled

exec {SIDECAR_LOG}<"$DIR/sidecar.log"
exec {LOAD_LOG}<"$DIR/load.log"
# shellcheck disable=SC2034  # read and written through read_new's ${!carry_var}
SIDECAR_CARRY="" LOAD_CARRY=""
FAULT_MS=""           # ms since start
DECISION_MS=""        # from the sidecar's log timestamps
DECISION_TEXT=""
DECISION_RULE=""
VERIFIED_MS=""
VERIFIED_TEXT=""
ROLLBACK_FAILED=""
WEIGHT_ZERO_MS=""     # the demo's own runtime API poll
BASELINE_SHOWN=0
LAST_STATES=""
LAST_VALUES_MS=-100000
LAST_WEIGHT=$CANARY_WEIGHT
LAST_VALUES=""

on_evaluation() {
  local ms=$1 raw=${2# } tok states="" pretty
  for tok in $raw; do
    [[ $tok == *")" ]] && states+="${tok#*,} "
  done
  pretty=${raw//(above / > }
  pretty=${pretty//(below / < }
  pretty=${pretty//,/ }
  pretty=${pretty//) /;  }
  pretty=${pretty%)}
  LAST_VALUES=$pretty
  if ((!BASELINE_SHOWN)) && [[ $states != *nodata* ]]; then
    BASELINE_SHOWN=1
    event_at "$ms" "healthy baseline: $pretty"
    LAST_VALUES_MS=$ms
  elif [[ $states != "$LAST_STATES" ]] || ((ms - LAST_VALUES_MS >= 2000)); then
    event_at "$ms" "values: $pretty"
    LAST_VALUES_MS=$ms
  fi
  LAST_STATES=$states
}

on_sidecar_line() {
  local line=$1 ms level msg
  local re='^[0-9]{4}-[0-9]{2}-[0-9]{2}T([0-9]{2}):([0-9]{2}):([0-9]{2})\.([0-9]{3})Z +([a-z]+) +(.*)$'
  [[ $line =~ $re ]] || return 0
  ms=$(((10#${BASH_REMATCH[1]} * 3600 + 10#${BASH_REMATCH[2]} * 60 + 10#${BASH_REMATCH[3]}) * 1000 + 10#${BASH_REMATCH[4]}))
  ms=$(((ms - START_MS_OF_DAY + 86400000) % 86400000))
  level=${BASH_REMATCH[5]}
  msg=${BASH_REMATCH[6]}
  case $msg in
    "evaluation:"*) on_evaluation "$ms" "${msg#evaluation:}" ;;
    "rule "*" -> "*) event_at "$ms" "$msg" ;;
    "decision #"*"ROLL BACK"*)
      if [[ -z $DECISION_MS ]]; then
        DECISION_MS=$ms
        DECISION_TEXT=${msg#*: ROLL BACK }
        DECISION_TEXT=${DECISION_TEXT#*: }
        DECISION_RULE=${DECISION_TEXT%% *}
      fi
      event_at "$ms" "$msg"
      ;;
    "actuator "*) event_at "$ms" "$msg" ;;
    "rollback #"*" verified in "*)
      [[ -n $VERIFIED_MS ]] || { VERIFIED_MS=$ms; VERIFIED_TEXT=$msg; }
      event_at "$ms" "$msg"
      ;;
    "rollback #"*FAILED* | "rollback #"*"NOT DONE"*)
      ROLLBACK_FAILED=$msg
      event_at "$ms" "$msg"
      ;;
    "deployment "*) event_at "$ms" "$msg" ;;
    "haproxy "*) ;; # the actuator's own line; the executor's "actuator ..." line says the same
    *) [[ $level == warn || $level == error || $level == critical ]] && event_at "$ms" "sidecar $level: $msg" ;;
  esac
  return 0
}

# read_new FD CARRY_VAR HANDLER: hands every complete new line of a growing file to HANDLER
read_new() {
  local fd=$1 carry_var=$2 handler=$3 line
  while true; do
    if IFS= read -r line <&"$fd"; then
      "$handler" "${!carry_var}$line"
      printf -v "$carry_var" '%s' ""
    else
      printf -v "$carry_var" '%s' "${!carry_var}$line"
      break
    fi
  done
}

on_load_line() {
  [[ $1 == "load: interval="* ]] || return 0
  event "${1/load: interval=/load (clients through HAProxy): last }"
}

poll_weight() {
  local w
  w=$(canary_weight) || return 0
  if [[ $w != "$LAST_WEIGHT" ]]; then
    event "traffic: HAProxy runtime API says app/canary weight $LAST_WEIGHT -> $w"
    LAST_WEIGHT=$w
    if [[ $w == 0 && -z $WEIGHT_ZERO_MS ]]; then
      now_ms
      WEIGHT_ZERO_MS=$((NOW_MS - START_MS))
    fi
  fi
}

tick() {
  read_new "$SIDECAR_LOG" SIDECAR_CARRY on_sidecar_line
  read_new "$LOAD_LOG" LOAD_CARRY on_load_line
  poll_weight
  check_alive
}

# healthy period
now_ms
healthy_until=$((NOW_MS + HEALTHY_SECONDS * 1000))
while ((NOW_MS < healthy_until)); do
  tick
  [[ -z $DECISION_MS ]] || fail "the sidecar rolled back during the healthy period, before any fault: $DECISION_TEXT" "$DIR/sidecar.log"
  sleep 0.2
  now_ms
done

# the fault
if ((${#FAULT[@]})); then
  fault_args=()
  for f in "${FAULT[@]}"; do fault_args+=(-d "$f"); done
  curl -fsS --max-time 5 "${fault_args[@]}" "$V2/admin/fault" >"$DIR/fault.json" 2>&1 ||
    fail "could not inject the fault into the canary ($V2/admin/fault)" "$DIR/fault.json"
  now_ms
  FAULT_MS=$((NOW_MS - START_MS))
  event_at "$FAULT_MS" "fault injected: ${FAULT[*]} on the canary v2 ($V2/admin/fault)"
  end_ms=$((NOW_MS + DEADLINE_SECONDS * 1000))
else
  now_ms
  FAULT_MS=$((NOW_MS - START_MS))
  event_at "$FAULT_MS" "no fault injected (scenario none): watching ${OBSERVE_SECONDS}s for a rollback that must not happen"
  end_ms=$((NOW_MS + OBSERVE_SECONDS * 1000))
fi

# watch until the rollback is verified by the sidecar and seen on the runtime API, or time runs out
while true; do
  tick
  [[ -z $ROLLBACK_FAILED ]] || fail "the rollback failed: $ROLLBACK_FAILED" "$DIR/sidecar.log"
  if [[ -n $FAULT_MS && -n $DECISION_MS && $SCENARIO == none ]]; then
    fail "scenario none: the sidecar rolled back a healthy canary: $DECISION_TEXT" "$DIR/sidecar.log"
  fi
  [[ -n $VERIFIED_MS && -n $WEIGHT_ZERO_MS ]] && break
  now_ms
  if ((NOW_MS >= end_ms)); then
    [[ $SCENARIO == none ]] && break
    if [[ -z $DECISION_MS ]]; then
      fail "no rollback decision within ${DEADLINE_SECONDS}s of the fault (last values: $LAST_VALUES)" "$DIR/sidecar.log"
    fi
    fail "rollback decided but not verified within ${DEADLINE_SECONDS}s of the fault (canary weight $LAST_WEIGHT)" \
      "$DIR/sidecar.log" "$DIR/haproxy.log"
  fi
  sleep 0.1
done

# ---------------------------------------------------------------------------------------------
# 6. Traffic check: does anything still reach the canary?

# requests already sent to the canary before the switch finish first (up to 1.2 s with latency)
if [[ -n $WEIGHT_ZERO_MS ]]; then
  event "checking traffic: waiting 2s for requests in flight, then counting for 3s"
  for _ in 1 2 3 4 5 6 7 8 9 10; do tick; sleep 0.2; done
fi
before=$(requests_served "$V2") || fail "could not read the canary's /metrics" "$DIR/workload-v2.log"
probe_v1=0
probe_v2=0
probe_other=0
for _ in $(seq 1 40); do
  body=$(curl -sS --max-time 5 "$FRONT/" 2>/dev/null || true)
  case $body in
    *v2*) probe_v2=$((probe_v2 + 1)) ;;
    *v1*) probe_v1=$((probe_v1 + 1)) ;;
    *) probe_other=$((probe_other + 1)) ;;
  esac
done
count_until=$((SECONDS + 3))
while ((SECONDS < count_until)); do tick; sleep 0.2; done
after=$(requests_served "$V2") || fail "could not read the canary's /metrics" "$DIR/workload-v2.log"
canary_requests=$((after - before))
probe_failed_text=""
((probe_other == 0)) || probe_failed_text=", $probe_other failed"
final_weight=$(canary_weight) || fail "the HAProxy runtime API did not answer 'get weight app/canary'" "$DIR/haproxy.log"
tick
event "traffic check: runtime API weight app/canary = $final_weight; 40 requests through HAProxy: $probe_v1 to v1, $probe_v2 to v2$probe_failed_text; the canary served $canary_requests requests in ~3.5s"
[[ $probe_other -eq 0 ]] || fail "$probe_other of 40 requests through HAProxy failed" "$DIR/haproxy.log"

# ---------------------------------------------------------------------------------------------
# 7. Summary

duration_sum=$(metric_value "$SIDECAR_URL" rollback_sidecar_rollback_duration_seconds_sum || true)
duration_count=$(metric_value "$SIDECAR_URL" rollback_sidecar_rollback_duration_seconds_count || true)
rollbacks_success=$(curl -fsS --max-time 2 "$SIDECAR_URL/metrics" |
  awk '/^rollback_sidecar_rollbacks_total\{/ && /result="success"/ { s += $2 } END { printf "%d\n", s }' || true)

PROM_QUERY='rollback_sidecar_rule_value / rollback_sidecar_rule_threshold'
PROM_GRAPH="$PROM/graph?g0.expr=$(urlencode "$PROM_QUERY")&g0.tab=0&g0.range_input=5m"

printf '\n==== summary: scenario %s ====\n' "$SCENARIO"
ok=1
if [[ $SCENARIO == none ]]; then
  printf '  no fault; watched %ss from T=%ss: no rollback decision\n' "$OBSERVE_SECONDS" "$(fmt_s "$FAULT_MS")"
  printf '  canary still in service: weight %s, %s of 40 requests through HAProxy reached v2, the canary served %s requests in ~3.5s\n' \
    "$final_weight" "$probe_v2" "$canary_requests"
  [[ -z $DECISION_MS ]] || ok=0
  [[ $final_weight == "$CANARY_WEIGHT" ]] || { ok=0; printf '  UNEXPECTED: the canary weight changed to %s\n' "$final_weight"; }
  ((canary_requests > 0)) || { ok=0; printf '  UNEXPECTED: the canary got no traffic\n'; }
else
  printf '  fault injected      at %ss: %s on canary v2\n' "$(fmt_s "$FAULT_MS")" "${FAULT[*]}"
  printf '  rollback decision   at T+%ss: %s\n' "$(fmt_s $((DECISION_MS - FAULT_MS)))" "$DECISION_TEXT"
  if [[ $DECISION_RULE != "$EXPECTED_RULE" ]]; then
    printf '  note: the deciding rule is %s (this scenario usually trips %s)\n' "$DECISION_RULE" "$EXPECTED_RULE"
  fi
  printf '  traffic off canary  at T+%ss (decision + %sms by the log; %s)\n' "$(fmt_s $((VERIFIED_MS - FAULT_MS)))" \
    "$((VERIFIED_MS - DECISION_MS))" "${VERIFIED_TEXT%%:*}"
  printf '                      the demo'"'"'s own runtime API poll saw weight 0 at T+%ss; now: weight %s,\n' \
    "$(fmt_s $((WEIGHT_ZERO_MS - FAULT_MS)))" "$final_weight"
  printf '                      %s of 40 requests through HAProxy reached v2, the canary served %s of the load'"'"'s requests in ~3.5s\n' \
    "$probe_v2" "$canary_requests"
  if [[ -n $duration_sum && -n $duration_count && $duration_count != 0 ]]; then
    printf '  rollback duration   %s ms (rollback_sidecar_rollback_duration_seconds: sum %s s over %s rollback(s)); rollbacks_total{result="success"} = %s\n' \
      "$(awk -v s="$duration_sum" -v c="$duration_count" 'BEGIN { printf "%.1f", s / c * 1000 }')" \
      "$duration_sum" "$duration_count" "$rollbacks_success"
  fi
  [[ $final_weight == 0 ]] || { ok=0; printf '  UNEXPECTED: the canary weight is %s, not 0\n' "$final_weight"; }
  ((probe_v2 == 0 && canary_requests == 0)) || { ok=0; printf '  UNEXPECTED: requests still reach the canary\n'; }
fi

printf '\n  where to look:\n'
printf '    sidecar metrics     %s/metrics\n' "$SIDECAR_URL"
printf '    sidecar status      %s/api/v1/status\n' "$SIDECAR_URL"
printf '    Prometheus UI       %s\n' "$PROM_GRAPH"
printf '    HAProxy stats       http://127.0.0.1:%s/stats\n' "$P_STATS"
printf '    HAProxy runtime API exec 3<>/dev/tcp/127.0.0.1/%s; echo "show servers state app" >&3; cat <&3\n' "$P_RUNTIME"
printf '    workloads           %s (stable v1)  %s (canary v2, faults: %s/admin/fault)\n' "$V1" "$V2" "$V2"

((ok)) || fail "scenario $SCENARIO did not end as expected (see the summary above)"

if ((KEEP)); then
  printf '\n  everything keeps running (--keep); logs and configs in %s\n' "$DIR"
  # shellcheck disable=SC2016  # the command is printed for the user to run
  printf '  stop it all with:  kill $(cat %s/pids) && rm -rf %s\n' "$DIR" "$DIR"
else
  printf '\n  (rerun with --keep to explore these while everything runs)\n'
fi
printf '\ndemo: scenario %s ended as expected\n' "$SCENARIO"
