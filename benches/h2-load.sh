#!/usr/bin/env bash
# h2-load.sh - HTTP/2 load: switchyard's reference app (--features http2, --h2c) against
# hyper 1.x's HTTP/2 server (benches/peers/hyper-h2), both h2c with prior knowledge.
#
# Builds both (release), then for each round and each server (the order alternates every
# round): starts the server pinned to CPU $SERVER_CPU (default 1) on a free 127.0.0.1 port,
# waits until it answers over HTTP/2, and runs, pinned to CPU $LOAD_CPU (default 0):
#   plaintext  h2load -t1 -c10 -m100 -DD http://127.0.0.1:PORT/plaintext
#   json       h2load -t1 -c10 -m100 -DD http://127.0.0.1:PORT/json
# (10 connections x 100 concurrent streams). Server CPU is utime+stime from /proc/PID/stat
# before and after each load (as shared/bench/run.sh reads it), printed as CPU microseconds
# per request; p50 and p99 come from h2load's per-request log.
#
# usage: benches/h2-load.sh [-r ROUNDS] [-d SECONDS] [-t THREADS] [-o LIST] [--no-build]
#   -r N        rounds (default 3)
#   -d SEC      duration of each load (default 10)
#   -t N        --threads of both servers (default 1: one core for the server)
#   -o LIST     loads, a comma list of plaintext,json (default: both)
#   --no-build  use the binaries already built
#
# Needs cargo, h2load (Debian package nghttp2-client), curl, taskset, timeout, python3.
# Loopback only; every process started here is bounded in time and stopped by its PID. Run
# it on a quiet machine: the numbers mean nothing beside another build.
set -u -o pipefail

ROUNDS=3
DURATION=10
THREADS=1
LOADS=plaintext,json
BUILD=1
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=benches/load-lib.sh
source "$ROOT/benches/load-lib.sh"
parse_options "$@"
need_tools cargo h2load curl taskset timeout python3

TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
PEER_TARGET=$TARGET/peer-hyper-h2
WORK=$(mktemp -d "${TMPDIR:-/tmp}/h2-load.XXXXXX")

PROBE="--http2-prior-knowledge /plaintext"
SCHEME=http

# ---------------------------------------------------------------- build
if (( BUILD )); then
  echo "== building (release)" >&2
  (cd "$ROOT" && cargo build --release --quiet --example reference --features http2) \
    || die "building the reference app failed"
  (cd "$ROOT/benches/peers/hyper-h2" && cargo build --release --quiet --target-dir "$PEER_TARGET") \
    || die "building the hyper-h2 peer failed"
fi
SWITCHYARD_BIN=${SWITCHYARD_BIN:-$TARGET/release/examples/reference}
HYPER_BIN=${HYPER_BIN:-$PEER_TARGET/release/peer-hyper-h2}
[[ -x $SWITCHYARD_BIN ]] || die "no $SWITCHYARD_BIN (build it, or drop --no-build)"
[[ -x $HYPER_BIN ]] || die "no $HYPER_BIN (build it, or drop --no-build)"

NAMES=(switchyard hyper-h2)
CMDS=(
  "$SWITCHYARD_BIN --addr {addr} --threads $THREADS --h2c"
  "$HYPER_BIN --addr {addr} --threads $THREADS"
)

# ---------------------------------------------------------------- helpers
run_h2load() {  # run_h2load NAME PATH ROUND
  local name=$1 path=$2 round=$3 out=$WORK/h2load.out log=$WORK/h2load.log c0 c1 requests rps errors pcts
  rm -f "$log"
  c0=$(cpu_ticks "$SERVER_PID")
  timeout -k 5 $((DURATION + 30)) taskset -c "$LOAD_CPU" \
    h2load -t1 -c10 -m100 -D "$DURATION" --log-file="$log" "http://127.0.0.1:$PORT$path" > "$out" 2>&1 &
  LOAD_PID=$!
  wait "$LOAD_PID"; LOAD_PID=""
  c1=$(cpu_ticks "$SERVER_PID")
  requests=$(awk '/^requests:/{print $8}' "$out")
  rps=$(awk '/^finished in/{sub(/,$/, "", $4); print $4}' "$out")
  errors=$(awk '/^requests:/{printf "%s failed, %s errored, %s timeout", $10, $12, $14}' "$out")
  # The log's third column is each request's time in microseconds.
  pcts=$(sort -n -k3,3 "$log" 2>/dev/null | awk '{d[NR]=$3} END{ if (NR) printf "%.2f / %.2f", d[int(NR*0.5)+1]/1000, d[int(NR*0.99)+1]/1000; else print "-" }')
  printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$round" "$name" "$path" \
    "${rps:--}" "$(cpu_us "$c0" "$c1" "${requests:-0}")" "$pcts" "${errors:-none}"
}

# ---------------------------------------------------------------- main loop
IFS=, read -r -a LOADLIST <<< "$LOADS"
echo "== ${#NAMES[@]} servers x ${#LOADLIST[@]} loads x $ROUNDS rounds, ${DURATION}s each; servers on CPU $SERVER_CPU, load on CPU $LOAD_CPU, $THREADS threads" >&2
echo
echo "| round | server | path | req/s | server CPU us/req | p50 / p99 ms | errors |"
echo "|---|---|---|---|---|---|---|"
for round in $(seq 1 "$ROUNDS"); do
  for k in 0 1; do
    i=$(( (k + round - 1) % 2 ))
    name=${NAMES[$i]}
    if ! start_server "$i" "$WORK/$name.log"; then
      echo "| $round | $name | - | - | - | - | did not start: $(tail -2 "$WORK/$name.log" | tr '\n' ' ') |"
      stop_server
      continue
    fi
    for load in "${LOADLIST[@]}"; do
      case "$load" in
        plaintext) run_h2load "$name" /plaintext "$round" ;;
        json) run_h2load "$name" /json "$round" ;;
        *) die "unknown load $load" ;;
      esac
      alive "$SERVER_PID" || { echo "| $round | $name | $load | - | - | - | server died |"; break; }
    done
    stop_server
  done
done
