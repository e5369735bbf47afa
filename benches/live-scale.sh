#!/usr/bin/env bash
# Holds N live connections (WebSocket on /ws, then event streams on /events) open on the
# reference app with 8 workers, and reports the server's RSS per live connection, its
# threads, and /plaintext latency while they are open.
#
#   benches/live-scale.sh [N]        (default 10000; needs `ulimit -n` above N + 100)
#
# Builds the reference app and the load tool (benches/live-load, a crate of its own) in release mode.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000}
PORT=${PORT:-3917}
cargo build --release --example reference >/dev/null 2>&1
cargo build --release --manifest-path benches/live-load/Cargo.toml >/dev/null 2>&1
BIN=target/release/examples
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
threads() { awk '/^Threads/ {print $2}' "/proc/$1/status"; }
plaintext_ms() {
  # Median of 21 requests, each on a new connection.
  for _ in $(seq 21); do
    curl -s -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$PORT/plaintext"
  done | sort -n | sed -n 11p | awk '{printf "%.2f", $1 * 1000}'
}
for kind in ws sse; do
  "$BIN/reference" --addr "127.0.0.1:$PORT" --threads 8 &
  SERVER=$!
  trap 'kill $SERVER 2>/dev/null || true' EXIT
  for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/plaintext" >/dev/null && break; sleep 0.1; done
  # Warm up: serve some requests and one live connection, so the baseline holds the
  # buffers every server has.
  benches/live-load/target/release/live-load "127.0.0.1:$PORT" "hold-$kind" 10 1 >/dev/null
  before=$(rss_kib $SERVER)
  idle_ms=$(plaintext_ms)
  benches/live-load/target/release/live-load "127.0.0.1:$PORT" "hold-$kind" "$N" 8 > /tmp/live-scale.out &
  CLIENT=$!
  for _ in $(seq 600); do grep -q holding /tmp/live-scale.out 2>/dev/null && break; sleep 0.1; done
  grep -q holding /tmp/live-scale.out || { echo "could not open $N $kind connections"; cat /tmp/live-scale.out; exit 1; }
  sleep 1
  during=$(rss_kib $SERVER)
  loaded_ms=$(plaintext_ms)
  nthreads=$(threads $SERVER)
  wait $CLIENT
  kill -TERM $SERVER; wait $SERVER || true
  trap - EXIT
  echo "kind=$kind connections=$N $(head -1 /tmp/live-scale.out) $(tail -1 /tmp/live-scale.out) rss_before_kib=$before rss_open_kib=$during rss_per_connection_kib=$(( (during - before) / N )).$(( ( (during - before) * 10 / N ) % 10 )) threads=$nthreads plaintext_median_ms_idle=$idle_ms plaintext_median_ms_with_connections_open=$loaded_ms"
done
