# load-lib.sh - what the load scripts in benches/ share (sourced, not run): servers started
# pinned on a free loopback port and stopped by PID, and server CPU read from /proc.
#
# The script that sources it sets ROUNDS, DURATION, THREADS, LOADS and BUILD to its defaults,
# then calls `parse_options "$@"` and `need_tools TOOL...`; before starting servers it sets:
#   NAMES, CMDS   the servers: a name each, and a command with {addr} for 127.0.0.1:PORT
#   PROBE         curl options and a path that answer 200 once a server serves, such as
#                 "--http2-prior-knowledge /plaintext" (the URL is built here)
#   SCHEME        http or https
#   WORK          a scratch directory, removed on exit
# SERVER_CPU and LOAD_CPU (environment; default 1 and 0) are where servers and loads run.

SERVER_PID=""; LOAD_PID=""; WORK=""
SERVER_CPU=${SERVER_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}
CLK_TCK=$(getconf CLK_TCK)

die() { echo "$(basename "$0"): $*" >&2; exit 2; }

# The options every load script takes (its header comment is its -h).
parse_options() {
  while [[ $# -gt 0 ]]; do
    case "$1" in
      -r) ROUNDS=$2; shift 2 ;;
      -d) DURATION=${2%s}; shift 2 ;;
      -t) THREADS=$2; shift 2 ;;
      -o) LOADS=$2; shift 2 ;;
      --no-build) BUILD=0; shift ;;
      -h|--help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
      *) die "unknown option $1 (see -h)" ;;
    esac
  done
}

need_tools() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || die "$tool not found (Debian: apt-get install -y the package that has it)"
  done
}

cleanup() {
  for p in $LOAD_PID $SERVER_PID; do [[ -n $p ]] && kill -TERM "$p" 2>/dev/null; done
  sleep 0.3
  for p in $LOAD_PID $SERVER_PID; do [[ -n $p ]] && kill -KILL "$p" 2>/dev/null; done
  [[ -n $WORK ]] && rm -rf "$WORK"
}
trap 'cleanup; exit 130' INT TERM
trap cleanup EXIT

freeport() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# utime+stime of a process, all its threads and its child processes (nginx's worker)
cpu_ticks() {
  local p total=0 t
  for p in "$1" $(pgrep -P "$1"); do
    t=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12+$13}')
    total=$((total + ${t:-0}))
  done
  echo "$total"
}

alive() {
  local st
  st=$(awk '/^State:/{print $2}' "/proc/$1/status" 2>/dev/null)
  [[ -n $st && $st != Z ]]
}

start_server() {  # start_server INDEX LOG -> SERVER_PID, PORT
  local cmd=${CMDS[$1]} log=$2 code probe_path=${PROBE##* } probe_opts=${PROBE% *}
  [[ $probe_opts == "$PROBE" ]] && probe_opts=""
  PORT=$(freeport)
  cmd=${cmd//\{addr\}/127.0.0.1:$PORT}
  cmd=${cmd//\{port\}/$PORT}
  echo "+ taskset -c $SERVER_CPU $cmd" > "$log"
  taskset -c "$SERVER_CPU" bash -c "exec $cmd" >> "$log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 200); do
    alive "$SERVER_PID" || return 1
    # shellcheck disable=SC2086 # the options are words
    code=$(curl -s $probe_opts -o /dev/null -w '%{http_code}' --max-time 1 "$SCHEME://127.0.0.1:$PORT$probe_path" 2>/dev/null)
    [[ $code == 200 ]] && return 0
    sleep 0.05
  done
  return 1
}

stop_server() {
  [[ -z $SERVER_PID ]] && return
  kill -TERM "$SERVER_PID" 2>/dev/null
  for _ in $(seq 1 50); do alive "$SERVER_PID" || break; sleep 0.1; done
  alive "$SERVER_PID" && kill -KILL "$SERVER_PID" 2>/dev/null
  wait "$SERVER_PID" 2>/dev/null
  SERVER_PID=""
}

# per-request (or per-handshake) server CPU in microseconds
cpu_us() {  # cpu_us TICKS0 TICKS1 COUNT
  awk -v a="$1" -v b="$2" -v hz="$CLK_TCK" -v n="$3" 'BEGIN{ if (n > 0) printf "%.1f", (b-a)/hz*1e6/n; else print "-" }'
}
