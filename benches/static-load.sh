#!/usr/bin/env bash
# static-load.sh - static files: switchyard's reference app (--static DIR) against nginx
# (one worker, sendfile on, access log off), the same files over plain HTTP/1.1.
#
# Builds the reference app (release), writes a 1 MiB and a 100 MiB file of random bytes
# into a scratch directory, then for each round and each server (the order alternates every
# round): starts the server pinned to CPU $SERVER_CPU (default 1) on a free 127.0.0.1 port
# and runs, pinned to CPU $LOAD_CPU (default 0):
#   1m    wrk -t1 -c16 -d SEC --latency http://127.0.0.1:PORT/static/1m.bin
#   100m  wrk -t1 -c16 -d SEC --latency http://127.0.0.1:PORT/static/100m.bin
# Server CPU is utime+stime from /proc (nginx: master and worker) before and after each
# load, printed as CPU microseconds per request. The last table gives the medians of the
# per-round ratios switchyard / nginx.
#
# usage: benches/static-load.sh [-r ROUNDS] [-d SECONDS] [-t THREADS] [-o LIST] [--no-build]
#   -r N        rounds (default 3)
#   -d SEC      duration of each load (default 10)
#   -t N        --threads of switchyard (default 8, the harness's setting)
#   -o LIST     loads, a comma list of 1m,100m (default: both)
#   --no-build  use the reference app already built (SWITCHYARD_BIN overrides its path)
#
# Needs cargo, nginx, wrk, curl, taskset, timeout, python3. Loopback only; every process
# started here is bounded in time and stopped by its PID. Run it on a quiet machine: the
# numbers mean nothing beside another build.
set -u -o pipefail

ROUNDS=3
DURATION=10
THREADS=8
LOADS=1m,100m
BUILD=1
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=benches/load-lib.sh
source "$ROOT/benches/load-lib.sh"
parse_options "$@"
need_tools cargo nginx wrk curl taskset timeout python3 pgrep

TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/static-load.XXXXXX")

PROBE="/static/1m.bin"
SCHEME=http

if (( BUILD )); then
  echo "== building (release)" >&2
  (cd "$ROOT" && cargo build --release --quiet --example reference) \
    || die "building the reference app failed"
fi
SWITCHYARD_BIN=${SWITCHYARD_BIN:-$TARGET/release/examples/reference}
[[ -x $SWITCHYARD_BIN ]] || die "no $SWITCHYARD_BIN (build it, or drop --no-build)"

# ---------------------------------------------------------------- files and nginx
# nginx's worker runs as another user: it must be able to read the files.
chmod 755 "$WORK"
mkdir -p "$WORK/www"
head -c $((1 << 20)) /dev/urandom > "$WORK/www/1m.bin"
head -c $((100 << 20)) /dev/urandom > "$WORK/www/100m.bin"
cat > "$WORK/nginx.conf.in" <<NGINX
worker_processes 1;
daemon off;
pid $WORK/nginx-{port}.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  client_body_temp_path $WORK/nginx-tmp;
  proxy_temp_path $WORK/nginx-tmp;
  fastcgi_temp_path $WORK/nginx-tmp;
  uwsgi_temp_path $WORK/nginx-tmp;
  scgi_temp_path $WORK/nginx-tmp;
  server {
    listen 127.0.0.1:{port};
    location /static/ { alias $WORK/www/; }
  }
}
NGINX
# nginx reads its port from its configuration: a wrapper writes one per start.
cat > "$WORK/nginx.sh" <<WRAP
#!/usr/bin/env bash
sed "s/{port}/\$1/g" "$WORK/nginx.conf.in" > "$WORK/nginx-\$1.conf"
exec nginx -e "$WORK/nginx-error.log" -c "$WORK/nginx-\$1.conf"
WRAP
chmod +x "$WORK/nginx.sh"

NAMES=(switchyard nginx)
CMDS=(
  "$SWITCHYARD_BIN --addr {addr} --threads $THREADS --static $WORK/www"
  "$WORK/nginx.sh {port}"
)

# ---------------------------------------------------------------- one load
run_wrk() {  # run_wrk NAME FILE ROUND
  local name=$1 file=$2 round=$3 out=$WORK/wrk.out c0 c1 requests rps p99 errors cpu
  c0=$(cpu_ticks "$SERVER_PID")
  timeout -k 5 $((DURATION + 30)) taskset -c "$LOAD_CPU" \
    wrk -t1 -c16 -d"${DURATION}s" --latency "http://127.0.0.1:$PORT/static/$file.bin" > "$out" 2>&1 &
  LOAD_PID=$!
  wait "$LOAD_PID"; LOAD_PID=""
  c1=$(cpu_ticks "$SERVER_PID")
  requests=$(awk '/requests in/{print $1}' "$out")
  rps=$(awk '/^Requests\/sec/{print $2}' "$out")
  p99=$(awk '/^ +99%/{print $2}' "$out")
  errors=$(awk '/Socket errors|Non-2xx/{printf "%s ", $0}' "$out")
  cpu=$(cpu_us "$c0" "$c1" "${requests:-0}")
  printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$round" "$name" "$file" \
    "${rps:--}" "$cpu" "${p99:--}" "${errors:-none}"
  echo "$round,$name,$file,${rps:-0},$cpu" >> "$WORK/raw.csv"
}

# ---------------------------------------------------------------- main loop
IFS=, read -r -a LOADLIST <<< "$LOADS"
echo "== ${#NAMES[@]} servers x ${#LOADLIST[@]} loads x $ROUNDS rounds, ${DURATION}s each; servers on CPU $SERVER_CPU, load on CPU $LOAD_CPU" >&2
echo
echo "| round | server | file | req/s | server CPU us/req | p99 | errors |"
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
        1m|100m) run_wrk "$name" "$load" "$round" ;;
        *) die "unknown load $load" ;;
      esac
      alive "$SERVER_PID" || { echo "| $round | $name | $load | - | - | - | server died |"; break; }
    done
    stop_server
  done
done

[[ -s $WORK/raw.csv ]] || die "no load ran to the end"
echo
echo "| file | req/s switchyard / nginx (rounds) | CPU per request switchyard / nginx (rounds) |"
echo "|---|---|---|"
python3 - "$WORK/raw.csv" <<'PY'
import csv, statistics, sys
rows = {}
for rnd, name, load, rps, cpu in csv.reader(open(sys.argv[1])):
    rows[(rnd, name, load)] = (float(rps), float(cpu) if cpu != "-" else None)
for load in sorted({k[2] for k in rows}, key=len):
    rps, cpu = [], []
    for rnd in sorted({k[0] for k in rows}, key=int):
        ours, theirs = rows.get((rnd, "switchyard", load)), rows.get((rnd, "nginx", load))
        if ours and theirs and theirs[0] and ours[1] and theirs[1]:
            rps.append(ours[0] / theirs[0])
            cpu.append(ours[1] / theirs[1])
    show = lambda xs: f"{statistics.median(xs):.2f} ({', '.join(f'{x:.2f}' for x in xs)})" if xs else "-"
    print(f"| {load} | {show(rps)} | {show(cpu)} |")
PY
