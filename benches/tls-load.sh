#!/usr/bin/env bash
# tls-load.sh - HTTPS load: switchyard's reference app (--features tls) against hyper 1.x +
# tokio-rustls (benches/peers/hyper-tls), both with rustls and its ring provider.
#
# Builds both (release), makes a self-signed P-256 certificate with openssl, then for each
# round and each server (the order alternates every round): starts the server pinned to CPU
# $SERVER_CPU (default 1) on a free 127.0.0.1 port, waits until it answers over HTTPS, and
# runs, pinned to CPU $LOAD_CPU (default 0):
#   plaintext  wrk -t1 -c16 -dD https://127.0.0.1:PORT/plaintext
#   json       wrk -t1 -c64 -dD https://127.0.0.1:PORT/json
#   hs-new     openssl s_time -new   (a full handshake and one HTTP/1.0 GET per connection)
#   hs-reuse   openssl s_time -reuse (session resumption; same GET)
# Server CPU is utime+stime from /proc/PID/stat before and after each load (as
# shared/bench/run.sh reads it), printed as CPU microseconds per request or per handshake.
#
# usage: benches/tls-load.sh [-r ROUNDS] [-d SECONDS] [-t THREADS] [-o LIST] [--no-build]
#   -r N        rounds (default 3)
#   -d SEC      duration of each load (default 10)
#   -t N        --threads of both servers (default 8)
#   -o LIST     loads, a comma list of plaintext,json,hs-new,hs-reuse (default: all)
#   --no-build  use the binaries already built
#
# Needs cargo, wrk (built with TLS, as Debian's is), openssl, curl, taskset, timeout,
# python3. Loopback only; every process started here is bounded in time and stopped by its
# PID. Run it on a quiet machine: the numbers mean nothing beside another build.
set -u -o pipefail

ROUNDS=3
DURATION=10
THREADS=8
LOADS=plaintext,json,hs-new,hs-reuse
BUILD=1
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=benches/load-lib.sh
source "$ROOT/benches/load-lib.sh"
parse_options "$@"
need_tools cargo wrk openssl curl taskset timeout python3

TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
PEER_TARGET=$TARGET/peer-hyper-tls
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tls-load.XXXXXX")

PROBE="-k /plaintext"
SCHEME=https

# ---------------------------------------------------------------- build
if (( BUILD )); then
  echo "== building (release)" >&2
  (cd "$ROOT" && cargo build --release --quiet --example reference --features tls) \
    || die "building the reference app failed"
  (cd "$ROOT/benches/peers/hyper-tls" && cargo build --release --quiet --target-dir "$PEER_TARGET") \
    || die "building the hyper-tls peer failed"
fi
SWITCHYARD_BIN=$TARGET/release/examples/reference
HYPER_BIN=$PEER_TARGET/release/peer-hyper-tls
[[ -x $SWITCHYARD_BIN ]] || die "no $SWITCHYARD_BIN (build it, or drop --no-build)"
[[ -x $HYPER_BIN ]] || die "no $HYPER_BIN (build it, or drop --no-build)"

# ---------------------------------------------------------------- certificate
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -keyout "$WORK/key.pem" -out "$WORK/cert.pem" -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null \
  || die "openssl could not make a certificate"

NAMES=(switchyard hyper-tls)
CMDS=(
  "$SWITCHYARD_BIN --addr {addr} --threads $THREADS --tls-cert $WORK/cert.pem --tls-key $WORK/key.pem"
  "$HYPER_BIN --addr {addr} --threads $THREADS --cert $WORK/cert.pem --key $WORK/key.pem"
)

# ---------------------------------------------------------------- helpers
now() { date +%s.%N; }

run_wrk() {  # run_wrk NAME PATH CONNS ROUND
  local name=$1 path=$2 conns=$3 round=$4 out=$WORK/wrk.out c0 c1 requests rps errors
  c0=$(cpu_ticks "$SERVER_PID")
  timeout -k 5 $((DURATION + 30)) taskset -c "$LOAD_CPU" \
    wrk -t1 "-c$conns" "-d${DURATION}s" --timeout 2s "https://127.0.0.1:$PORT$path" > "$out" 2>&1 &
  LOAD_PID=$!
  wait "$LOAD_PID"; LOAD_PID=""
  c1=$(cpu_ticks "$SERVER_PID")
  requests=$(awk '/requests in/{print $1}' "$out")
  rps=$(awk '/^Requests\/sec:/{print $2}' "$out")
  errors=$(awk '/Socket errors|Non-2xx/{sub(/^ +/, ""); printf "%s; ", $0}' "$out")
  printf '| %s | %s | %s c%s | %s | %s | %s |\n' "$round" "$name" "$path" "$conns" \
    "${rps:--}" "$(cpu_us "$c0" "$c1" "${requests:-0}")" "${errors:-none}"
}

run_handshakes() {  # run_handshakes NAME MODE(new|reuse) ROUND
  local name=$1 mode=$2 round=$3 out=$WORK/s_time.out c0 c1 t0 t1 conns rate
  c0=$(cpu_ticks "$SERVER_PID"); t0=$(now)
  timeout -k 5 $((DURATION + 30)) taskset -c "$LOAD_CPU" \
    openssl s_time -connect "127.0.0.1:$PORT" "-$mode" -time "$DURATION" -www /plaintext \
    > "$out" 2>&1 < /dev/null &
  LOAD_PID=$!
  wait "$LOAD_PID"; LOAD_PID=""
  t1=$(now); c1=$(cpu_ticks "$SERVER_PID")
  conns=$(awk '/connections in .* real seconds/{print $1}' "$out" | tail -1)
  rate=$(awk -v n="${conns:-0}" -v a="$t0" -v b="$t1" 'BEGIN{ if (n > 0) printf "%.0f", n/(b-a); else print "-" }')
  printf '| %s | %s | handshakes (%s) | %s | %s | %s |\n' "$round" "$name" "$mode" \
    "$rate" "$(cpu_us "$c0" "$c1" "${conns:-0}")" "$( [[ -n $conns ]] && echo "$conns connections" || echo "s_time failed: $(tail -1 "$out")")"
}

# ---------------------------------------------------------------- main loop
IFS=, read -r -a LOADLIST <<< "$LOADS"
echo "== ${#NAMES[@]} servers x ${#LOADLIST[@]} loads x $ROUNDS rounds, ${DURATION}s each; servers on CPU $SERVER_CPU, load on CPU $LOAD_CPU, $THREADS threads" >&2
echo
echo "| round | server | load | req/s or handshakes/s | server CPU us per request or handshake | notes |"
echo "|---|---|---|---|---|---|"
for round in $(seq 1 "$ROUNDS"); do
  for k in 0 1; do
    i=$(( (k + round - 1) % 2 ))
    name=${NAMES[$i]}
    if ! start_server "$i" "$WORK/$name.log"; then
      echo "| $round | $name | - | - | - | did not start: $(tail -2 "$WORK/$name.log" | tr '\n' ' ') |"
      stop_server
      continue
    fi
    for load in "${LOADLIST[@]}"; do
      case "$load" in
        plaintext) run_wrk "$name" /plaintext 16 "$round" ;;
        json) run_wrk "$name" /json 64 "$round" ;;
        hs-new) run_handshakes "$name" new "$round" ;;
        hs-reuse) run_handshakes "$name" reuse "$round" ;;
        *) die "unknown load $load" ;;
      esac
      alive "$SERVER_PID" || { echo "| $round | $name | $load | - | - | server died |"; break; }
    done
    stop_server
  done
done
