#!/bin/bash
# bench/http.sh: POST /predict throughput and latency of predict-gateway and of
# the tutorial's Flask app under gunicorn, each on PostgreSQL and on SQLite, and
# of pgbench running the same one-row INSERT (the ceiling for durable
# one-row-per-request logging in PostgreSQL on this machine). On PostgreSQL the
# gateway runs twice: with its default batching (concurrent requests stored by
# one statement and one commit) and without (gateway-unbatched, PREDICT_BATCH=1).
#
#   bench/http.sh
#
# Environment (all optional):
#   DURATION=10               seconds per run
#   ROUNDS=1                  run every level ROUNDS times, round by round (each round all
#                             contenders in turn): the table shows each contender's round with
#                             the median rate; the ratios, and the targets on them, are the
#                             medians of the rounds' ratios, and the p99's target is on the
#                             median of the rounds' p99s; zero errors and rows = 200s must hold
#                             in every round
#   CONNECTIONS="1 8 32 64"   client connections (wrk -c, pgbench -c)
#   BACKENDS="postgresql sqlite managed pooled"  which databases (PostgreSQL: gateway,
#                             Flask, pgbench; SQLite: gateway-sqlite, flask-sqlite; managed:
#                             gateway-managed, PostgreSQL without the extension; pooled:
#                             gateway-pooled, the gateway through PgBouncer in transaction
#                             mode, as Heroku's connection pooling runs it; postgresql-link,
#                             not in the default: gateway-link, flask-link, pgbench-link,
#                             the same three reaching PostgreSQL over a link of LINK_RTT_MS
#                             round trip, as a dyno reaches Heroku Postgres: bench/link.sh)
#   LINK_RTT_MS=1             postgresql-link's round trip in ms (a relay on loopback,
#                             bench/latency-proxy.c, since this kernel has no tc netem)
#   LINK_PROBE=2              seconds of SELECT 1, direct and over the link, to report
#                             what the link adds (during each run on the link too, one
#                             more client's SELECT 1 over it: "link beside X", whether
#                             every contender had the same link)
#   POOL_SIZE=N               PgBouncer's default_pool_size for pooled (default 20, its own)
#   PREDICT_THREADS=N         gateway workers (default: the gateway's own default)
#   FLASK_WORKERS=N           gunicorn sync workers (default 2 x cores + 1, gunicorn's advice)
#   LANES_SWEEP="1 2 4"       also run the PostgreSQL gateway at 8, 32 and 64 connections with
#                             each PREDICT_BATCH_LANES value (how its default was chosen)
#   THREADS_SWEEP="2 4 8 16"  also run the PostgreSQL gateway at 32 and 64 connections with
#                             each PREDICT_THREADS value (how the default was chosen)
#   SKIP_FLASK=1              leave the Flask app out
#
# PostgreSQL: one throwaway cluster (test/pg-cluster, synchronous_commit = on, fsync
# on, backend_flush_after = 256kB, autovacuum off), warmed before the runs (below), one fresh
# database per contender; managed mode's database is owned by an
# ordinary role and refuses the extension (as Heroku Postgres does). SQLite: one fresh file per contender in
# bench/output/http/, the gateway's in WAL mode with synchronous = FULL, the Flask
# app's as peewee makes it (its defaults: rollback journal, synchronous FULL, a 5 s
# busy timeout). The same model everywhere (models/titanic.json; the Flask app
# trains the same pipeline with ../shared/peers/flask/train.py). wrk sends a
# unique id per request (bench/http.lua). Rows written are counted in each
# database before and after each run. The gateways' resident memory is sampled
# from /proc during their runs. Output in bench/output/http/.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$root/bench/output/http
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-1}
CONNECTIONS=${CONNECTIONS:-"1 8 32 64"}
cores=$(getconf _NPROCESSORS_ONLN)   # not nproc, which obeys OMP_NUM_THREADS
FLASK_WORKERS=${FLASK_WORKERS:-$((2 * cores + 1))}
FLASK_PEER=${FLASK_PEER:-$root/../shared/peers/flask}
PY=${PYTHON:-/usr/bin/python3}
BACKENDS=${BACKENDS:-"postgresql sqlite managed pooled"}
POOL_SIZE=${POOL_SIZE:-20}
on() { [[ " $BACKENDS " == *" $1 "* ]]; }
source bench/link.sh

need() {
  command -v "$1" >/dev/null || { echo "bench/http.sh: $1 is missing: run tools/install-deps bench" >&2; exit 1; }
}
need wrk; need pgbench; need psql; need curl; need sqlite3
[ -n "${SKIP_FLASK:-}" ] || need gunicorn
if on pooled; then [ -x /usr/sbin/pgbouncer ] || need pgbouncer; fi
make -s bin/predict-gateway >/dev/null

rm -rf "$out"
mkdir -p "$out"
cluster=$out/pg
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -f "$out/pgbouncer/pgbouncer.pid" ] && kill "$(cat "$out/pgbouncer/pgbouncer.pid")" 2>/dev/null
  if on postgresql || on managed || on pooled || on postgresql-link; then
    cp "$cluster/server.log" "$out/server.log" 2>/dev/null || true
    test/pg-cluster stop "$cluster"
  fi
}
trap cleanup EXIT

# A commit waits for its WAL flush, which waits behind whatever else the disk
# is writing. Two writers a fresh cluster has and a server in service does not
# stalled flushes 60-160 ms (a WAL flush takes 0.1 ms here), each stall held
# every request in flight, and wrk counts each held request many times over
# (coordinated omission): they made the p99s. The bench takes both away, for
# every contender alike:
# - every new WAL segment is written full of zeros first; a server in service
#   recycles old ones. warm_wal writes a gigabyte of WAL and checkpoints, so
#   that the runs find recycled segments;
# - data pages the backends evict stay dirty in the kernel's cache, and are
#   written in one burst 30 s later. backend_flush_after (0 by default, as
#   PostgreSQL ships it for Linux) has the kernel write them as they come;
#   docs/http-api.md, "The bench's PostgreSQL", has the measurements.
# - autovacuum vacuumed and analyzed each contender's table about once a
#   minute, a second or so each, as often as not during another contender's
#   run (its log, 6 December 2026): off, so that no run carries another's
#   upkeep. The bench's tables only take inserts (no dead rows to reclaim),
#   and a few million transactions are far from a wraparound vacuum.
#   The cluster's log is kept as server.log.
warm_wal() {
  psql -qc "CREATE TABLE bench_warm AS SELECT repeat(md5(i::text), 30) AS x
              FROM generate_series(1, 1000000) i" -c "DROP TABLE bench_warm" -c "CHECKPOINT"
}

if on postgresql || on managed || on pooled || on postgresql-link; then
  eval "$(test/pg-cluster start "$cluster" "synchronous_commit = on" "max_connections = 300" \
    "backend_flush_after = 256kB" "autovacuum = off" "log_autovacuum_min_duration = 0" \
    "log_checkpoints = on")" >/dev/null
  warm_wal
  server_url=${DATABASE_URL%/*}
  for db in gateway unbatched flask pgbench pooled; do psql -qc "CREATE DATABASE bench_$db"; done
  psql -qc "CREATE ROLE bench_app LOGIN" -c "CREATE DATABASE bench_managed OWNER bench_app"
  # the extension is trusted (its database's owner may create it): refuse it
  # there, as a service without it does (test/managed_sql.py)
  psql -qd bench_managed -c "$(cd test && "$PY" -c 'from managed_sql import NO_EXTENSION_SQL as s; print(s)')"
  managed_url="postgres://bench_app@${server_url#*@}/bench_managed"
  if on postgresql-link; then link_start; fi
fi
sqlite_gateway_db=$out/gateway-sqlite.db
sqlite_flask_dir=$out/flaskpeer-sqlite

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
sqlite_rows() { sqlite3 -cmd '.timeout 10000' "$1" "SELECT count(*) FROM $2"; }

# Rows in the database of a contender (gateway, flask, gateway-sqlite, flask-sqlite).
count_rows() {
  case $1 in
    gateway) rows gateway predictions ;;
    gateway-unbatched) rows unbatched predictions ;;
    gateway-managed) rows managed predictions ;;
    gateway-pooled) rows pooled predictions ;;
    flask) rows flask prediction ;;
    gateway-link) rows gateway_link predictions ;;
    flask-link) rows flask_link prediction ;;
    gateway-sqlite) sqlite_rows "$sqlite_gateway_db" predictions ;;
    flask-sqlite) sqlite_rows "$sqlite_flask_dir/predictions.db" prediction ;;
  esac
}

# Ids: every contender has a database (or SQLite file) of its own, and its
# n-th run sends from n * 10^8 on, wrk thread k from there + k * 10^7,
# pgbench client k + k * 10^6: unique within each database, and below 2^31
# for the Flask app's four runs, since the tutorial's table has a 32-bit
# observation_id. (One counter for the whole bench passed 2^31 at the 22nd
# run, and the Flask app, whose failed INSERT leaves its connection in an
# aborted transaction, then answered only 500s.)
declare -A runs_of
next_base() {              # next_base CONTENDER: sets base
  runs_of[$1]=$(( ${runs_of[$1]:-0} + 1 ))
  base=$(( ${runs_of[$1]} * 100000000 ))
}

# ---------- the gateways

declare -A port pid rss_max_kib
start_gateway() {          # start_gateway KIND DATABASE_URL [THREADS [BATCH]]
  local kind=$1 url=$2
  port[$kind]=$(free_port)
  (
    [ -n "${3:-}" ] && export PREDICT_THREADS=$3
    [ -n "${4:-}" ] && export PREDICT_BATCH=$4
    DATABASE_URL=$url PORT=${port[$kind]} HOST=127.0.0.1 \
      exec bin/predict-gateway >>"$out/$kind.access.log" 2>>"$out/$kind.log"
  ) &
  pid[$kind]=$!
  pids+=("${pid[$kind]}")
  rss_max_kib[$kind]=${rss_max_kib[$kind]:-0}
  wait_http "http://127.0.0.1:${port[$kind]}/readyz"
}
stop_gateway() { kill "${pid[$1]}"; wait "${pid[$1]}" || true; }

# Sample a gateway's VmRSS every 50 ms while a command runs: with_rss_sampling KIND CMD...
with_rss_sampling() {
  local kind=$1 sampler m
  shift
  (
    while kill -0 "${pid[$kind]}" 2>/dev/null; do
      awk '/^VmRSS:/ {print $2}' "/proc/${pid[$kind]}/status" 2>/dev/null
      sleep 0.05
    done
  ) >"$out/rss.samples" &
  sampler=$!
  "$@"
  kill "$sampler" 2>/dev/null || true
  wait "$sampler" 2>/dev/null || true
  m=$(sort -n "$out/rss.samples" | tail -n 1)
  [ -n "$m" ] && [ "$m" -gt "${rss_max_kib[$kind]}" ] && rss_max_kib[$kind]=$m
  return 0
}

# ---------- PgBouncer in transaction mode, in front of the cluster

start_pgbouncer() {        # start_pgbouncer: sets pooled_url
  local dir=$out/pgbouncer pgb_port
  pgb_port=$(free_port)
  mkdir -p "$dir"
  printf '%s\n' "[databases]" "* = host=127.0.0.1 port=$PGPORT" "[pgbouncer]" \
    "listen_addr = 127.0.0.1" "listen_port = $pgb_port" "unix_socket_dir =" \
    "auth_type = trust" "auth_file = $dir/users.txt" "pool_mode = transaction" \
    "default_pool_size = $POOL_SIZE" "max_client_conn = 1000" \
    "logfile = $dir/pgbouncer.log" "pidfile = $dir/pgbouncer.pid" >"$dir/pgbouncer.ini"
  printf '"%s" ""\n' "$PGUSER" >"$dir/users.txt"
  if [ "$(id -u)" -eq 0 ]; then
    chown -R postgres "$dir"
    runuser -u postgres -- /usr/sbin/pgbouncer -d "$dir/pgbouncer.ini"
  else
    /usr/sbin/pgbouncer -d "$dir/pgbouncer.ini"
  fi
  pooled_url="postgresql://$PGUSER@127.0.0.1:$pgb_port/bench_pooled"
}

# ---------- the tutorial's Flask app

start_flask() {            # start_flask KIND DATABASE_URL ("" for its SQLite default)
  local kind=$1 url=$2 setup
  port[$kind]=$(free_port)
  export PEER_WORKDIR=$out/flaskpeer
  [ "$kind" = flask-sqlite ] && PEER_WORKDIR=$sqlite_flask_dir
  [ "$kind" = flask-link ] && PEER_WORKDIR=$out/flaskpeer-link
  mkdir -p "$PEER_WORKDIR"
  # the trained pipeline, once for both
  for f in pipeline.pickle columns.json dtypes.pickle; do
    [ -f "$out/flaskpeer/$f" ] && [ ! -f "$PEER_WORKDIR/$f" ] && cp "$out/flaskpeer/$f" "$PEER_WORKDIR/"
  done
  # One worker first, to train the pipeline and create the table: several
  # workers racing on CREATE TABLE can fail to boot (the tutorial's own bug).
  "$FLASK_PEER/run.sh" "${port[$kind]}" 1 "$url" >"$out/$kind-setup.log" 2>&1 &
  setup=$!
  wait_http "http://127.0.0.1:${port[$kind]}/predict"
  kill "$setup"; wait "$setup" || true
  mkdir -p "$out/flaskpeer"
  for f in pipeline.pickle columns.json dtypes.pickle; do
    [ -f "$out/flaskpeer/$f" ] || cp "$PEER_WORKDIR/$f" "$out/flaskpeer/"
  done
  "$FLASK_PEER/run.sh" "${port[$kind]}" "$FLASK_WORKERS" "$url" >"$out/$kind.log" 2>&1 &
  pids+=($!)
  wait_http "http://127.0.0.1:${port[$kind]}/predict"
}

# ---------- pgbench

setup_pgbench() {          # setup_pgbench [DATABASE]
  local db=${1:-bench_pgbench}
  psql -qd "$db" -c "CREATE EXTENSION predict"
  psql -qd "$db" -v model="$(cat models/titanic.json)" >/dev/null <<'SQL'
SELECT predict_deploy('titanic', :'model'::jsonb);
SQL
  cat >"$out/insert.sql" <<'SQL'
\set n :n + 1
\set id :base + :client_id * 1000000 + :n
INSERT INTO predictions (observation_id, observation) VALUES (:id, :obs::jsonb);
SQL
}

# ---------- one run: prints "req/s p50_ms p99_ms non2xx errors ok rows"

# percentile P < lines: the line at the P-th percentile (nearest rank) by its
# first field, a number; nothing for no lines. median: the 50th, the lower
# middle one of an even count.
percentile() {
  sort -g | awk -v p="$1" '{ v[NR] = $0 } END { if (NR == 0) exit
    i = int(NR * p / 100 + 0.999999); if (i < 1) i = 1; if (i > NR) i = NR; print v[i] }'
}
median() { percentile 50; }
percentile_ms() {          # percentile_ms P < latencies in microseconds, one per line
  local us
  us=$(percentile "$1")
  awk -v us="$us" 'BEGIN { if (us == "") print "nan"; else printf "%.2f", us / 1000 }'
}

# Wait until a gateway has answered the requests still in flight when wrk
# stopped (they are written and logged after it): rows are counted then.
# The Flask app has no such gauge: a moment's wait.
settle() {
  local i n
  if [ "${1%%-*}" != gateway ]; then sleep 0.5; return; fi
  for i in $(seq 1 100); do
    n=$(curl -s "http://127.0.0.1:${port[$1]}/metrics" |
        awk '$1 == "predict_http_requests_in_flight" {print $2}')
    # the scrape itself is one
    [ -n "$n" ] && [ "${n%.*}" -le 1 ] && return 0
    sleep 0.05
  done
}

# A gateway's batch counters (PostgreSQL): "statements rows".
batch_counters() {
  curl -s "http://127.0.0.1:${port[$1]}/metrics" |
    awk '$1 == "predict_batches_total" {b = $2} $1 == "predict_batched_requests_total" {r = $2}
         END {print b + 0, r + 0}'
}

run_wrk() {                # run_wrk NAME KIND CONNECTIONS > result
  local name=$1 kind=$2 c=$3 before after line t batch0 batch1
  t=$(( c < cores ? c : cores ))
  batch0=$(batch_counters "$kind")
  before=$(count_rows "$kind")
  wrk -t "$t" -c "$c" -d "${DURATION}s" --timeout 10s -s bench/http.lua \
    "http://127.0.0.1:${port[$kind]}/predict" -- "$base" >"$out/wrk-$name-c$c.txt" 2>&1
  settle "$kind"
  after=$(count_rows "$kind")
  batch1=$(batch_counters "$kind")
  line=$(grep '^RESULT ' "$out/wrk-$name-c$c.txt")
  # The gateway's own count of 200s for this run's ids, from its access log:
  # wrk stops counting at the deadline, when up to one request per connection
  # is still in flight (and gets written and answered after wrk stopped).
  server_ok=-
  if [ "${kind%%-*}" = gateway ]; then
    server_ok=$(awk -v lo="$base" -v hi="$((base + 100000000))" '
      / status=200 / { for (i = 1; i <= NF; i++) if ($i ~ /^observation_id=/) {
        id = substr($i, 16) + 0; if (id >= lo && id < hi) n++ } }
      END { print n + 0 }' "$out/$kind.access.log")
  fi
  "$PY" - "$line" "$((after - before))" "$server_ok" "$batch0" "$batch1" <<'PY'
import sys
f = dict(kv.split("=") for kv in sys.argv[1].split()[1:])
rps = int(f["requests"]) / (int(f["duration_us"]) / 1e6)
# the rows stored by batch statements: their share, and the mean batch
(b0, r0), (b1, r1) = (map(float, a.split()) for a in sys.argv[4:6])
rows = int(sys.argv[2])
batched = "%.0f%%/%.1f" % (100 * (r1 - r0) / rows, (r1 - r0) / (b1 - b0)) if b1 > b0 and rows else "-"
print("%.0f %.2f %.2f %s %s %s %s %s %s" % (rps, int(f["p50_us"]) / 1000, int(f["p99_us"]) / 1000,
      f["non2xx"], f["socket_errors"], f["ok"], sys.argv[2], sys.argv[3], batched))
PY
}

run_pgbench() {            # run_pgbench CONNECTIONS [KIND] > result
  local c=$1 kind=${2:-pgbench} before after j tps failed ok p50 p99
  local db=${kind//-/_}
  j=$(( c < cores ? c : cores ))
  before=$(rows "$db" predictions)
  rm -f "$out"/pgbench_log.*
  (cd "$out" && pgbench -n -M prepared -c "$c" -j "$j" -T "$DURATION" -D n=0 -D base="$base" \
    -D obs='{"Pclass": 3, "Sex": "male", "Age": 22, "SibSp": 1, "Parch": 0, "Fare": 7.25, "Embarked": "S"}' \
    -f insert.sql --log --log-prefix=pgbench_log "bench_$db" >"$kind-c$c.txt" 2>&1) || true
  after=$(rows "$db" predictions)
  tps=$(awk '/^tps = / {printf "%.0f", $3}' "$out/$kind-c$c.txt")
  failed=$(awk '/number of failed transactions/ {print $5}' "$out/$kind-c$c.txt")
  ok=$(awk '/number of transactions actually processed/ {print $NF}' "$out/$kind-c$c.txt")
  p50=$(cat "$out"/pgbench_log.* | awk '{print $3}' | percentile_ms 50)
  p99=$(cat "$out"/pgbench_log.* | awk '{print $3}' | percentile_ms 99)
  rm -f "$out"/pgbench_log.*
  echo "${tps:-0} $p50 $p99 ${failed:-?} 0 ${ok:-0} $((after - before)) - -"
}

# ---------- the runs

targets=()
if on postgresql; then
  setup_pgbench
  start_gateway gateway "$server_url/bench_gateway" "${PREDICT_THREADS:-}"
  gw_threads=$(grep -o '[0-9]* workers' "$out/gateway.log" | tail -n 1)
  targets+=(pgbench gateway)
  # the same gateway without batching (PREDICT_BATCH=1): what batching changes
  start_gateway gateway-unbatched "$server_url/bench_unbatched" "${PREDICT_THREADS:-}" 1
  targets+=(gateway-unbatched)
  if [ -z "${SKIP_FLASK:-}" ]; then start_flask flask "$server_url/bench_flask"; targets+=(flask); fi
fi
if on postgresql-link; then link_targets; fi
if on managed; then
  start_gateway gateway-managed "$managed_url" "${PREDICT_THREADS:-}"
  grep -q 'mode: managed' "$out/gateway-managed.log" ||
    { echo "bench/http.sh: the managed gateway is not in managed mode" >&2; exit 1; }
  targets+=(gateway-managed)
fi
if on pooled; then
  start_pgbouncer
  start_gateway gateway-pooled "$pooled_url" "${PREDICT_THREADS:-}"
  targets+=(gateway-pooled)
fi
if on sqlite; then
  start_gateway gateway-sqlite "sqlite:///$sqlite_gateway_db" "${PREDICT_THREADS:-}"
  gw_threads=$(grep -o '[0-9]* workers' "$out/gateway-sqlite.log" | tail -n 1)
  targets+=(gateway-sqlite)
  if [ -z "${SKIP_FLASK:-}" ]; then start_flask flask-sqlite ""; targets+=(flask-sqlite); fi
fi

declare -A result

# round_ratios A B C: A's req/s over B's at C connections, a line per round
# in which both ran (so that a slow stretch of the machine weighs on both).
round_ratios() {
  local r a b
  for ((r = 1; r <= ROUNDS; r++)); do
    [ -n "${result[$1,$3,$r]:-}" ] && [ -n "${result[$2,$3,$r]:-}" ] || continue
    read -r a _ <<<"${result[$1,$3,$r]}"
    read -r b _ <<<"${result[$2,$3,$r]}"
    awk -v a="$a" -v b="$b" 'BEGIN { if (b > 0) printf "%.17g\n", a / b }'
  done
}
# paired A B C: the median of the rounds' ratios of A to B at C connections, or 0
paired() { local m; m=$(round_ratios "$@" | median); echo "${m:-0}"; }

ratio() {                  # ratio A B [FORMAT]: paired A B at each connection count
  local c m
  for c in $CONNECTIONS; do
    m=$(round_ratios "$1" "$2" "$c" | median)
    awk -v m="$m" -v f="${3:-%.1fx}" 'BEGIN { printf " %12s", (m != "" ? sprintf(f, m) : "-") }'
  done
}

# by_round A B: each round's ratio of A to B at each connection count, a/b/c
by_round() {
  local c
  for c in $CONNECTIONS; do
    printf ' %12s' "$(round_ratios "$1" "$2" "$c" | awk '{ printf "%s%.2f", (NR > 1 ? "/" : ""), $1 }')"
  done
}

# After the rounds: result[T,C] is T's round at C connections with the
# median rate (the table's row), link_under_load[T,C] the median of its
# rounds' link beside T.
keep_median_rounds() {
  local t c r m
  for t in "${targets[@]}"; do
    for c in $CONNECTIONS; do
      m=$(for ((r = 1; r <= ROUNDS; r++)); do
            if [ -n "${result[$t,$c,$r]:-}" ]; then echo "${result[$t,$c,$r]%% *} $r"; fi
          done | median)
      if [ -n "$m" ]; then result[$t,$c]=${result[$t,$c,${m##* }]}; fi
      m=$(for ((r = 1; r <= ROUNDS; r++)); do echo "${link_under_load[$t,$c,$r]:-}"; done |
          awk 'NF' | median)
      if [ -n "$m" ]; then link_under_load[$t,$c]=$m; fi
    done
  done
}
# every_round T C CONDITION: CONDITION (awk, over rps p50 p99 non2xx errors ok
# rowsw sok, and c) holds in each of T's rounds at C connections; else the first
# round where it does not, as "round R: its result line"
every_round() {
  local r
  for ((r = 1; r <= ROUNDS; r++)); do
    [ -n "${result[$1,$2,$r]:-}" ] || continue
    awk -v line="${result[$1,$2,$r]}" -v r="$r" -v c="$2" "BEGIN { split(line, f, \" \");
      rps = f[1]; p50 = f[2]; p99 = f[3]; non2xx = f[4]; errors = f[5]; ok = f[6]; rowsw = f[7]; sok = f[8]
      if (!($3)) { print \"round \" r \": \" line; exit 1 } }" || return 1
  done
}
# run KEY COMMAND...: a fresh id range in the database of KEY's contender (the
# sweeps' runs are the gateway's), the command's result line into result[KEY]
run() {
  local key=$1 contender=${1%%,*}
  shift
  case $contender in lanes|sweep) contender=gateway ;; esac
  next_base "$contender"
  "$@" >"$out/result"
  result[$key]=$(tail -n 1 "$out/result")
}
load=$(cut -d' ' -f1 /proc/loadavg)
echo "bench/http.sh: load average before the bench: $load" \
  "$(awk -v l="$load" 'BEGIN { if (l > 0.5) print "(other work is running: figures will be low and noisy)" }')" >&2
echo "bench/http.sh: ${DURATION} s per run, connections: $CONNECTIONS; $cores cores;" \
  "gateway $gw_threads; Flask under gunicorn with $FLASK_WORKERS workers;" \
  "PostgreSQL synchronous_commit = on, autovacuum off; SQLite synchronous = FULL;" \
  "PgBouncer transaction mode, pool size $POOL_SIZE" >&2
for ((round = 1; round <= ROUNDS; round++)); do
  for c in $CONNECTIONS; do
    for t in "${targets[@]}"; do
      k="$t,$c,$round"
      of=""
      if ((ROUNDS > 1)); then of=", round $round of $ROUNDS"; fi
      echo "  $(date -u +%T) $c connection(s): $t$of" >&2
      case $t in
        pgbench) run "$k" run_pgbench "$c" ;;
        pgbench-link) run "$k" with_link_probe "$k" run_pgbench_link "$c" ;;
        gateway*) run "$k" with_link_probe "$k" with_rss_sampling "$t" run_wrk "$t" "$t" "$c" ;;
        flask*) run "$k" with_link_probe "$k" run_wrk "$t" "$t" "$c" ;;
      esac
    done
  done
done
keep_median_rounds
declare -A hwm
for t in gateway gateway-unbatched gateway-managed gateway-pooled gateway-sqlite gateway-link; do
  [ -n "${pid[$t]:-}" ] && hwm[$t]=$(awk '/^VmHWM:/ {print $2}' "/proc/${pid[$t]}/status")
done
load_after=$(cut -d' ' -f1 /proc/loadavg)

# ---------- report

printf '\n%-17s %5s %9s %8s %8s %8s %7s %9s %9s %11s %10s\n' target conns req/s p50_ms p99_ms \
  non-2xx errors 200s rows server-200s batched
for c in $CONNECTIONS; do
  for t in "${targets[@]}"; do
    [ -n "${result[$t,$c]:-}" ] || continue
    read -r rps p50 p99 non2xx errors ok rowsw sok batched <<<"${result[$t,$c]}"
    printf '%-17s %5s %9s %8s %8s %8s %7s %9s %9s %11s %10s\n' "$t" "$c" "$rps" "$p50" "$p99" "$non2xx" \
      "$errors" "$ok" "$rowsw" "$sok" "$batched"
  done
done
echo
echo "pgbench: req/s is TPS, 200s are transactions, non-2xx are failed transactions."
echo "p99_ms: wrk's counts a request held by a stall once more for each request it kept"
echo "its connection from sending (coordinated omission); pgbench's, from its log, does not."
echo "200s are counted by wrk, which stops at the deadline with up to one request per"
echo "connection in flight; server-200s are the gateway's own 200s for the run's ids."
echo "batched: the share of the rows stored by statements of several requests, and their"
echo "mean size (PostgreSQL gateways, PREDICT_BATCH)."
echo "Load average: $load before the bench, $load_after after ($cores cores)."
echo
printf '%-32s' "ratios at connections:"; for c in $CONNECTIONS; do printf ' %12s' "$c"; done; echo
on postgresql && { printf '%-32s' "gateway / pgbench"; ratio gateway pgbench; echo; }
on postgresql && { printf '%-32s' "gateway / gateway-unbatched"; ratio gateway gateway-unbatched; echo; }
on postgresql && { printf '%-32s' "gateway-unbatched / pgbench"; ratio gateway-unbatched pgbench; echo; }
on postgresql && [ -z "${SKIP_FLASK:-}" ] && { printf '%-32s' "gateway / flask"; ratio gateway flask; echo; }
on managed && on postgresql && { printf '%-32s' "gateway-managed / gateway"; ratio gateway-managed gateway; echo; }
on managed && on postgresql && [ -z "${SKIP_FLASK:-}" ] && { printf '%-32s' "gateway-managed / flask"; ratio gateway-managed flask; echo; }
on pooled && on postgresql && { printf '%-32s' "gateway-pooled / gateway"; ratio gateway-pooled gateway; echo; }
on sqlite && [ -z "${SKIP_FLASK:-}" ] && { printf '%-32s' "gateway-sqlite / flask-sqlite"; ratio gateway-sqlite flask-sqlite; echo; }
if on postgresql-link; then link_ratios; fi
if ((ROUNDS > 1)); then
  echo
  printf '%-32s' "each round, at connections:"; for c in $CONNECTIONS; do printf ' %12s' "$c"; done; echo
  on postgresql && { printf '%-32s' "gateway / pgbench"; by_round gateway pgbench; echo; }
  on managed && on postgresql && { printf '%-32s' "gateway-managed / gateway"; by_round gateway-managed gateway; echo; }
  on postgresql-link && { printf '%-32s' "gateway-link / pgbench-link"; by_round gateway-link pgbench-link; echo; }
  echo "Each level's runs were repeated $ROUNDS times, round by round: the table shows each"
  echo "contender's round with the median rate, the ratios are the medians of the rounds' ratios."
fi
echo
mib() { echo "$(($1 / 1024)).$(( ($1 % 1024) * 10 / 1024 ))"; }
for t in gateway gateway-unbatched gateway-managed gateway-pooled gateway-sqlite gateway-link; do
  [ -n "${hwm[$t]:-}" ] || continue
  echo "$t resident memory: max sampled VmRSS $(mib "${rss_max_kib[$t]}") MiB," \
    "VmHWM $(mib "${hwm[$t]}") MiB (target < 30 MiB)"
done

# ---------- targets

echo
miss=0
check() {                  # check DESCRIPTION CONDITION(awk expression) -> PASS/MISS
  if awk "BEGIN { exit !($2) }"; then echo "PASS  $1"; else echo "MISS  $1"; miss=1; fi
}
# check_rounds DESCRIPTION T C CONDITION: as check, in every round of T at C
check_rounds() {
  local bad
  if bad=$(every_round "$2" "$3" "$4"); then echo "PASS  $1"; else echo "MISS  $1 ($bad)"; miss=1; fi
}
# of_rounds RATIO: the description's note of a ratio that is a median of rounds
of_rounds() {
  if ((ROUNDS > 1)); then LC_ALL=C printf '; the median of %d rounds'"'"' ratios: %.2f' "$ROUNDS" "$1"; fi
}
every=""
if ((ROUNDS > 1)); then every=" in every round"; fi
for t in gateway gateway-unbatched gateway-managed gateway-pooled gateway-sqlite gateway-link; do
  [ -n "${pid[$t]:-}" ] || continue
  for c in $CONNECTIONS; do
    read -r g _ _ non2xx errors ok rowsw sok _ <<<"${result[$t,$c]}"
    if [ "$t" = gateway ] && [ "$c" -ge 8 ]; then
      read -r p _ <<<"${result[pgbench,$c]}"
      r=$(paired gateway pgbench "$c")
      check "gateway >= 1.5x pgbench's one-row TPS at $c connections ($g vs $p$(of_rounds "$r"))" "$r >= 1.5"
    elif [ "$t" = gateway ]; then
      read -r u _ <<<"${result[gateway-unbatched,$c]}"
      r=$(paired gateway gateway-unbatched "$c")
      check "gateway no slower than without batching at $c connection(s) ($g vs $u req/s, within 10%$(of_rounds "$r"))" \
        "$r >= 0.9"
    fi
    if [ "$t" = gateway-managed ] && on postgresql && { [ "$c" = 8 ] || [ "$c" = 32 ]; }; then
      read -r e _ <<<"${result[gateway,$c]}"
      r=$(paired gateway-managed gateway "$c")
      check "gateway-managed >= 0.8x the extension's gateway at $c connections ($g vs $e$(of_rounds "$r"))" "$r >= 0.8"
    fi
    check_rounds "$t: zero non-2xx and socket errors at $c connections$every ($non2xx, $errors)" "$t" "$c" \
      "non2xx == 0 && errors == 0"
    check_rounds "$t: rows written = 200s at $c connections$every (rows $rowsw, server 200s $sok, wrk 200s $ok + at most $c in flight)" \
      "$t" "$c" "rowsw == sok && rowsw >= ok && rowsw <= ok + c"
  done
  check "$t resident memory < 30 MiB (VmHWM ${hwm[$t]} KiB)" "${hwm[$t]} < 30 * 1024"
done
if on postgresql && [[ " $CONNECTIONS " == *" 32 "* ]]; then
  # a figure of speed, as the ratios: the median of the rounds' (each shown)
  p99s=$(for ((r = 1; r <= ROUNDS; r++)); do
           if [ -n "${result[gateway,32,$r]:-}" ]; then read -r _ _ p99 _ <<<"${result[gateway,32,$r]}"; echo "$p99"; fi
         done)
  p99=$(median <<<"$p99s")
  each=""
  if ((ROUNDS > 1)); then each="; the median of $ROUNDS rounds' p99s, each: $(paste -sd/ <<<"$p99s")"; fi
  check "gateway p99 < 10 ms at 32 connections ($p99 ms$each)" "${p99:-99999} < 10"
  if [ -n "${result[flask,32]:-}" ]; then
    read -r f _ <<<"${result[flask,32]}"
    r=$(paired gateway flask 32)
    check "gateway >= 20x Flask at 32 connections ($g vs $f req/s$(of_rounds "$r"))" "$r >= 20"
  fi
fi
if on sqlite && [ -n "${result[flask-sqlite,8]:-}" ]; then
  read -r g _ <<<"${result[gateway-sqlite,8]}"
  read -r f _ <<<"${result[flask-sqlite,8]}"
  r=$(paired gateway-sqlite flask-sqlite 8)
  check "gateway-sqlite >= 10x Flask on SQLite at 8 connections ($g vs $f req/s$(of_rounds "$r"))" "$r >= 10"
fi

if on postgresql-link; then link_checks; fi

# ---------- optional: the batches' lanes

if [ -n "${LANES_SWEEP:-}" ] && on postgresql; then
  echo
  echo "PREDICT_BATCH_LANES sweep (PostgreSQL gateway only):"
  printf '%8s %5s %9s %8s %8s %10s\n' lanes conns req/s p50_ms p99_ms batched
  stop_gateway gateway
  for n in $LANES_SWEEP; do
    export PREDICT_BATCH_LANES=$n
    start_gateway gateway "$server_url/bench_gateway" "${PREDICT_THREADS:-}"
    for c in 8 32 64; do
      run "lanes,$n,$c" run_wrk "gateway-l$n" gateway "$c"
      read -r rps p50 p99 _ _ _ _ _ batched <<<"${result[lanes,$n,$c]}"
      printf '%8s %5s %9s %8s %8s %10s\n' "$n" "$c" "$rps" "$p50" "$p99" "$batched"
    done
    stop_gateway gateway
  done
  unset PREDICT_BATCH_LANES
  start_gateway gateway "$server_url/bench_gateway" "${PREDICT_THREADS:-}"
fi

# ---------- optional: the gateway's worker count

if [ -n "${THREADS_SWEEP:-}" ] && on postgresql; then
  echo
  echo "PREDICT_THREADS sweep (PostgreSQL gateway only):"
  printf '%8s %5s %9s %8s %8s\n' threads conns req/s p50_ms p99_ms
  stop_gateway gateway
  for n in $THREADS_SWEEP; do
    start_gateway gateway "$server_url/bench_gateway" "$n"
    for c in 32 64; do
      run "sweep,$n,$c" run_wrk "gateway-t$n" gateway "$c"
      read -r rps p50 p99 _ <<<"${result[sweep,$n,$c]}"
      printf '%8s %5s %9s %8s %8s\n' "$n" "$c" "$rps" "$p50" "$p99"
    done
    stop_gateway gateway
  done
fi
exit 0
