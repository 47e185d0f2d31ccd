#!/bin/bash
# bench/http.sh: POST /predict throughput and latency of predict-gateway, of the
# tutorial's Flask app under gunicorn, and of pgbench running the same one-row
# INSERT (the ceiling for durable one-row-per-request logging on this machine).
#
#   bench/http.sh
#
# Environment (all optional):
#   DURATION=10               seconds per run
#   CONNECTIONS="1 8 32 64"   client connections (wrk -c, pgbench -c)
#   PREDICT_THREADS=N         gateway workers (default: the gateway's own default)
#   FLASK_WORKERS=N           gunicorn sync workers (default 2 x cores + 1, gunicorn's advice)
#   THREADS_SWEEP="2 4 8 16"  also run the gateway at 32 and 64 connections with each
#                             PREDICT_THREADS value (how the default was chosen)
#   SKIP_FLASK=1              leave the Flask app out
#
# One throwaway cluster (test/pg-cluster, synchronous_commit = on, fsync on), one
# fresh database per contender, the same model (models/titanic.json; the Flask app
# trains the same pipeline with ../shared/peers/flask/train.py). wrk sends a
# unique id per request (bench/http.lua). Rows written are counted in each
# database before and after each run. The gateway's resident memory is sampled
# from /proc during its runs. Output in bench/output/http/.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$root/bench/output/http
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-"1 8 32 64"}
cores=$(getconf _NPROCESSORS_ONLN)   # not nproc, which obeys OMP_NUM_THREADS
FLASK_WORKERS=${FLASK_WORKERS:-$((2 * cores + 1))}
FLASK_PEER=${FLASK_PEER:-$root/../shared/peers/flask}
PY=${PYTHON:-/usr/bin/python3}

need() {
  command -v "$1" >/dev/null || { echo "bench/http.sh: $1 is missing: run tools/install-deps bench" >&2; exit 1; }
}
need wrk; need pgbench; need psql; need curl
[ -n "${SKIP_FLASK:-}" ] || need gunicorn
make -s bin/predict-gateway >/dev/null

rm -rf "$out"
mkdir -p "$out"
cluster=$out/pg
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  test/pg-cluster stop "$cluster"
}
trap cleanup EXIT

eval "$(test/pg-cluster start "$cluster" "synchronous_commit = on" "max_connections = 300")" >/dev/null
server_url=${DATABASE_URL%/*}
for db in gateway flask pgbench; do psql -qc "CREATE DATABASE bench_$db"; done

free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Wait until something answers HTTP on url (any status).
wait_http() {
  local i
  for i in $(seq 1 600); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$1" || true)" != 000 ] && return 0
    sleep 0.1
  done
  echo "bench/http.sh: nothing answers at $1" >&2
  return 1
}

rows() { psql -Atd "bench_$1" -c "SELECT count(*) FROM $2"; }

# Ids: run r sends from r * 10^8 on, wrk thread k from there + k * 10^7, pgbench
# client k + k * 10^6: unique across the whole bench, and below 2^31, since
# the tutorial's table has a 32-bit observation_id.
run_no=0
next_base() { run_no=$((run_no + 1)); base=$((run_no * 100000000)); }

# ---------- the gateway

gw_pid=
start_gateway() {          # start_gateway [THREADS]
  gw_port=$(free_port)
  (
    [ -n "${1:-}" ] && export PREDICT_THREADS=$1
    DATABASE_URL=$server_url/bench_gateway PORT=$gw_port HOST=127.0.0.1 \
      exec bin/predict-gateway >>"$out/gateway.access.log" 2>>"$out/gateway.log"
  ) &
  gw_pid=$!
  pids+=("$gw_pid")
  wait_http "http://127.0.0.1:$gw_port/readyz"
}
stop_gateway() { kill "$gw_pid"; wait "$gw_pid" || true; }

rss_max_kib=0
# Sample the gateway's VmRSS every 50 ms while a command runs.
with_rss_sampling() {
  local sampler
  (
    while kill -0 "$gw_pid" 2>/dev/null; do
      awk '/^VmRSS:/ {print $2}' "/proc/$gw_pid/status" 2>/dev/null
      sleep 0.05
    done
  ) >"$out/rss.samples" &
  sampler=$!
  "$@"
  kill "$sampler" 2>/dev/null || true
  wait "$sampler" 2>/dev/null || true
  local m
  m=$(sort -n "$out/rss.samples" | tail -n 1)
  [ -n "$m" ] && [ "$m" -gt "$rss_max_kib" ] && rss_max_kib=$m
  return 0
}

# ---------- the tutorial's Flask app

start_flask() {
  flask_port=$(free_port)
  export PEER_WORKDIR=$out/flaskpeer
  mkdir -p "$PEER_WORKDIR"
  # One worker first, to train the pipeline and create the table: several
  # workers racing on CREATE TABLE can fail to boot (the tutorial's own bug).
  "$FLASK_PEER/run.sh" "$flask_port" 1 "$server_url/bench_flask" >"$out/flask-setup.log" 2>&1 &
  local setup=$!
  wait_http "http://127.0.0.1:$flask_port/predict"
  kill "$setup"; wait "$setup" || true
  "$FLASK_PEER/run.sh" "$flask_port" "$FLASK_WORKERS" "$server_url/bench_flask" >"$out/flask.log" 2>&1 &
  pids+=($!)
  wait_http "http://127.0.0.1:$flask_port/predict"
}

# ---------- pgbench

setup_pgbench() {
  psql -qd bench_pgbench -c "CREATE EXTENSION predict"
  psql -qd bench_pgbench -v model="$(cat models/titanic.json)" >/dev/null <<'SQL'
SELECT predict_deploy('titanic', :'model'::jsonb);
SQL
  cat >"$out/insert.sql" <<'SQL'
\set n :n + 1
\set id :base + :client_id * 1000000 + :n
INSERT INTO predictions (observation_id, observation) VALUES (:id, :obs::jsonb);
SQL
}

# ---------- one run: prints "req/s p50_ms p99_ms non2xx errors ok rows"

percentile_ms() {          # percentile_ms P < latencies in microseconds, one per line
  sort -n | awk -v p="$1" '{ v[NR] = $1 } END { if (NR == 0) { print "nan"; exit }
    i = int(NR * p / 100 + 0.999999); if (i < 1) i = 1; if (i > NR) i = NR; printf "%.2f", v[i] / 1000 }'
}

run_wrk() {                # run_wrk NAME PORT CONNECTIONS DB TABLE > result
  local name=$1 port=$2 c=$3 db=$4 table=$5 before after line t
  t=$(( c < cores ? c : cores ))
  before=$(rows "$db" "$table")
  wrk -t "$t" -c "$c" -d "${DURATION}s" --timeout 10s -s bench/http.lua \
    "http://127.0.0.1:$port/predict" -- "$base" >"$out/wrk-$name-c$c.txt" 2>&1
  after=$(rows "$db" "$table")
  line=$(grep '^RESULT ' "$out/wrk-$name-c$c.txt")
  # The gateway's own count of 200s for this run's ids, from its access log:
  # wrk stops counting at the deadline, when up to one request per connection
  # is still in flight (and gets written and answered after wrk stopped).
  server_ok=-
  if [ "${name%%-*}" = gateway ]; then
    server_ok=$(awk -v lo="$base" -v hi="$((base + 100000000))" '
      / status=200 / { for (i = 1; i <= NF; i++) if ($i ~ /^observation_id=/) {
        id = substr($i, 16) + 0; if (id >= lo && id < hi) n++ } }
      END { print n + 0 }' "$out/gateway.access.log")
  fi
  "$PY" - "$line" "$((after - before))" "$server_ok" <<'PY'
import sys
f = dict(kv.split("=") for kv in sys.argv[1].split()[1:])
rps = int(f["requests"]) / (int(f["duration_us"]) / 1e6)
print("%.0f %.2f %.2f %s %s %s %s %s" % (rps, int(f["p50_us"]) / 1000, int(f["p99_us"]) / 1000,
      f["non2xx"], f["socket_errors"], f["ok"], sys.argv[2], sys.argv[3]))
PY
}

run_pgbench() {            # run_pgbench CONNECTIONS > result
  local c=$1 before after j tps failed ok p50 p99
  j=$(( c < cores ? c : cores ))
  before=$(rows pgbench predictions)
  rm -f "$out"/pgbench_log.*
  (cd "$out" && pgbench -n -M prepared -c "$c" -j "$j" -T "$DURATION" -D n=0 -D base="$base" \
    -D obs='{"Pclass": 3, "Sex": "male", "Age": 22, "SibSp": 1, "Parch": 0, "Fare": 7.25, "Embarked": "S"}' \
    -f insert.sql --log --log-prefix=pgbench_log bench_pgbench >"pgbench-c$c.txt" 2>&1) || true
  after=$(rows pgbench predictions)
  tps=$(awk '/^tps = / {printf "%.0f", $3}' "$out/pgbench-c$c.txt")
  failed=$(awk '/number of failed transactions/ {print $5}' "$out/pgbench-c$c.txt")
  ok=$(awk '/number of transactions actually processed/ {print $NF}' "$out/pgbench-c$c.txt")
  p50=$(cat "$out"/pgbench_log.* | awk '{print $3}' | percentile_ms 50)
  p99=$(cat "$out"/pgbench_log.* | awk '{print $3}' | percentile_ms 99)
  rm -f "$out"/pgbench_log.*
  echo "${tps:-0} $p50 $p99 ${failed:-?} 0 ${ok:-0} $((after - before)) -"
}

# ---------- the runs

setup_pgbench
start_gateway "${PREDICT_THREADS:-}"
gw_threads=$(grep -o '[0-9]* workers' "$out/gateway.log" | tail -n 1)
[ -n "${SKIP_FLASK:-}" ] || start_flask

declare -A result
# run KEY COMMAND...: a fresh id range, the command's result line into result[KEY]
run() {
  local key=$1
  shift
  next_base
  "$@" >"$out/result"
  result[$key]=$(tail -n 1 "$out/result")
}
load=$(cut -d' ' -f1 /proc/loadavg)
echo "bench/http.sh: load average before the bench: $load" \
  "$(awk -v l="$load" 'BEGIN { if (l > 0.5) print "(other work is running: figures will be low and noisy)" }')" >&2
echo "bench/http.sh: ${DURATION} s per run, connections: $CONNECTIONS; $cores cores;" \
  "gateway $gw_threads; Flask under gunicorn with $FLASK_WORKERS workers; synchronous_commit = on" >&2
for c in $CONNECTIONS; do
  echo "  $c connection(s): gateway" >&2
  run "gateway,$c" with_rss_sampling run_wrk gateway "$gw_port" "$c" gateway predictions
  if [ -z "${SKIP_FLASK:-}" ]; then
    echo "  $c connection(s): Flask" >&2
    run "flask,$c" run_wrk flask "$flask_port" "$c" flask prediction
  fi
  echo "  $c connection(s): pgbench" >&2
  run "pgbench,$c" run_pgbench "$c"
done
hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$gw_pid/status")

# ---------- report

printf '\n%-9s %5s %9s %8s %8s %8s %7s %9s %9s %11s\n' target conns req/s p50_ms p99_ms \
  non-2xx errors 200s rows server-200s
for c in $CONNECTIONS; do
  for t in pgbench gateway flask; do
    [ -n "${result[$t,$c]:-}" ] || continue
    read -r rps p50 p99 non2xx errors ok rowsw sok <<<"${result[$t,$c]}"
    printf '%-9s %5s %9s %8s %8s %8s %7s %9s %9s %11s\n' "$t" "$c" "$rps" "$p50" "$p99" "$non2xx" \
      "$errors" "$ok" "$rowsw" "$sok"
  done
done
echo
echo "pgbench: req/s is TPS, 200s are transactions, non-2xx are failed transactions."
echo "200s are counted by wrk, which stops at the deadline with up to one request per"
echo "connection in flight; server-200s are the gateway's own 200s for the run's ids."
echo
printf '%5s %16s %16s\n' conns gateway/pgbench gateway/flask
for c in $CONNECTIONS; do
  read -r g _ <<<"${result[gateway,$c]}"
  read -r p _ <<<"${result[pgbench,$c]}"
  f=0
  [ -n "${result[flask,$c]:-}" ] && read -r f _ <<<"${result[flask,$c]}"
  awk -v c="$c" -v g="$g" -v p="$p" -v f="$f" 'BEGIN {
    printf "%5s %15.0f%% %15s\n", c, (p > 0 ? 100 * g / p : 0), (f > 0 ? sprintf("%.1fx", g / f) : "-") }'
done
echo
echo "gateway resident memory: max sampled VmRSS $((rss_max_kib / 1024)).$(( (rss_max_kib % 1024) * 10 / 1024 )) MiB," \
  "VmHWM $((hwm / 1024)).$(( (hwm % 1024) * 10 / 1024 )) MiB (target < 30 MiB)"

# ---------- targets

echo
miss=0
check() {                  # check DESCRIPTION CONDITION(awk expression) -> PASS/MISS
  if awk "BEGIN { exit !($2) }"; then echo "PASS  $1"; else echo "MISS  $1"; miss=1; fi
}
for c in $CONNECTIONS; do
  read -r g _ _ non2xx errors ok rowsw sok <<<"${result[gateway,$c]}"
  read -r p _ <<<"${result[pgbench,$c]}"
  check "gateway >= 80% of pgbench TPS at $c connections ($g vs $p)" "$g >= 0.8 * $p"
  check "gateway: zero non-2xx and socket errors at $c connections ($non2xx, $errors)" "$non2xx == 0 && $errors == 0"
  check "gateway: rows written = 200s at $c connections (rows $rowsw, server 200s $sok, wrk 200s $ok + at most $c in flight)" \
    "$rowsw == $sok && $rowsw >= $ok && $rowsw <= $ok + $c"
done
if [[ " $CONNECTIONS " == *" 32 "* ]]; then
  read -r g _ p99 _ <<<"${result[gateway,32]}"
  check "gateway p99 < 10 ms at 32 connections ($p99 ms)" "$p99 < 10"
  if [ -n "${result[flask,32]:-}" ]; then
    read -r f _ <<<"${result[flask,32]}"
    check "gateway >= 20x Flask at 32 connections ($g vs $f req/s)" "$g >= 20 * $f"
  fi
fi
check "gateway resident memory < 30 MiB (VmHWM $hwm KiB)" "$hwm < 30 * 1024"

# ---------- optional: the gateway's worker count

if [ -n "${THREADS_SWEEP:-}" ]; then
  echo
  echo "PREDICT_THREADS sweep (gateway only):"
  printf '%8s %5s %9s %8s %8s\n' threads conns req/s p50_ms p99_ms
  stop_gateway
  for n in $THREADS_SWEEP; do
    start_gateway "$n"
    for c in 32 64; do
      run "sweep,$n,$c" run_wrk "gateway-t$n" "$gw_port" "$c" gateway predictions
      read -r rps p50 p99 _ <<<"${result[sweep,$n,$c]}"
      printf '%8s %5s %9s %8s %8s\n' "$n" "$c" "$rps" "$p50" "$p99"
    done
    stop_gateway
  done
fi
exit 0
