#!/usr/bin/env bash
# Live connections, switchyard against tokio-tungstenite on tokio (benches/peers/tokio-ws),
# same machine, same run: WebSocket echo round trips with 64 clients, broadcast fan-out of
# a 64-byte message to 1,000 and 10,000 clients, and RSS per open WebSocket.
#
#   benches/live-bench.sh [ROUNDS]      (default 3)
#
# Each server runs pinned to CPU 1 with --threads 8 (the harness's setting), the load tool
# (benches/live-load, a crate of its own) on CPU 0. Server CPU per round trip / per delivered message is
# read from /proc (user + system, all threads). Needs `ulimit -n` above 10,100.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
PORT=${PORT:-3931}
cargo build --release --example reference >/dev/null 2>&1
cargo build --release --manifest-path benches/live-load/Cargo.toml >/dev/null 2>&1
PEER_TARGET=${PEER_TARGET:-$PWD/benches/peers/tokio-ws/target}
(cd benches/peers/tokio-ws && CARGO_TARGET_DIR=$PEER_TARGET cargo build --release >/dev/null 2>&1)
PEER=$PEER_TARGET/release/peer-tokio-ws
LOAD=benches/live-load/target/release/live-load
declare -A CMD=(
  [switchyard]="target/release/examples/reference --addr 127.0.0.1:$PORT --threads 8"
  [tokio-tungstenite]="$PEER --addr 127.0.0.1:$PORT --threads 8"
)
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
HZ=$(getconf CLK_TCK)
run() { # server scenario args...
  local name=$1 scenario=$2; shift 2
  taskset -c 1 ${CMD[$name]} &
  local pid=$!
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.05; done
  local before_rss; before_rss=$(rss_kib $pid)
  local before; before=$(ticks $pid)
  local out
  if [[ $scenario == hold ]]; then
    taskset -c 0 "$LOAD" "127.0.0.1:$PORT" hold-ws "$@" > /tmp/live-bench-hold.out &
    local client=$!
    for _ in $(seq 600); do grep -q holding /tmp/live-bench-hold.out 2>/dev/null && break; sleep 0.1; done
    sleep 1
    local open_rss; open_rss=$(rss_kib $pid)
    wait $client
    out="$(head -1 /tmp/live-bench-hold.out) rss_per_connection_kib=$(awk -v a=$open_rss -v b=$before_rss -v n=$1 'BEGIN {printf "%.1f", (a - b) / n}')"
  else
    out=$(taskset -c 0 "$LOAD" "127.0.0.1:$PORT" "$scenario" "$@" | tail -1)
  fi
  local cpu_secs; cpu_secs=$(awk -v a=$(ticks $pid) -v b=$before -v hz=$HZ 'BEGIN {print (a - b) / hz}')
  kill -INT $pid 2>/dev/null || true; wait $pid 2>/dev/null || true
  echo "round=$ROUND server=$name scenario=$scenario $out server_cpu_secs=$cpu_secs"
}
for ROUND in $(seq "$ROUNDS"); do
  for name in switchyard tokio-tungstenite; do
    run $name echo 64 10
    run $name broadcast 1000 200
    run $name broadcast 10000 30
    run $name hold 10000 3
  done
done
