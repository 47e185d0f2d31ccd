# shellcheck shell=bash disable=SC2154  # out, result, PGPORT...: http.sh's
# bench/link.sh: sourced by bench/http.sh for its postgresql-link backend.
#
# The gateway, the Flask app and pgbench reach the postgresql backend's
# cluster through a link with LINK_RTT_MS of round trip, as an app server
# reaches a hosted database over a network (Heroku's dynos and Heroku
# Postgres) rather than over loopback. Targets gateway-link, flask-link and
# pgbench-link, each with a fresh database of its own (bench_gateway_link,
# bench_flask_link, bench_pgbench_link), run after the loopback ones at each
# connection count; the report adds their ratios next to the loopback ones.
#
# The link is bench/latency-proxy.c (LINK_RTT_MS / 2 each way), not tc netem
# on a veth pair in a network namespace: the development machine's kernel has
# no queueing disciplines at all (netem is an unknown qdisc there, and there
# are no modules to load), and the proxy needs no root and no namespace. It
# adds a loopback hop of its own, and its timers wake late on a busy machine,
# so link_probe measures what the link really adds: SELECT 1 at one client,
# direct and over the link, LINK_PROBE seconds each.

LINK_RTT_MS=${LINK_RTT_MS:-1}
LINK_PROBE=${LINK_PROBE:-2}

# After the cluster is up: the databases and the proxy; sets link_port, link_url.
link_start() {
  local delay_us db _
  make -s build/bench/latency-proxy >/dev/null
  delay_us=$(awk -v ms="$LINK_RTT_MS" 'BEGIN { printf "%d", ms * 500 }')
  for db in gateway_link flask_link pgbench_link; do psql -qc "CREATE DATABASE bench_$db"; done
  build/bench/latency-proxy 0 "$PGPORT" "$delay_us" >"$out/link.port" 2>"$out/link.log" &
  pids+=($!)
  for _ in $(seq 1 100); do
    [ -s "$out/link.port" ] && break
    sleep 0.05
  done
  link_port=$(awk '$1 == "listening" {print $2}' "$out/link.port")
  [ -n "$link_port" ] || { echo "bench/http.sh: the latency proxy did not start: $(cat "$out/link.log")" >&2; exit 1; }
  link_url="postgresql://$PGUSER@127.0.0.1:$link_port"
}

# Median latency in ms of SELECT 1 at one client on a port (the median: on a
# shared machine a few late wake-ups would move the mean); pgbench's own
# report in probe-PORT.txt.
probe_ms() {
  rm -f "$out"/probe_log.*
  (cd "$out" && pgbench -n -M prepared -c 1 -T "$LINK_PROBE" -f select1.sql -p "$1" \
    --log --log-prefix=probe_log bench_pgbench_link >"probe-$1.txt" 2>&1) || true
  # Under a load average of 9 to 10 the log was sometimes missing or read
  # empty: then the report's mean.
  local median=0 us
  if compgen -G "$out/probe_log.*" >/dev/null; then
    us=$(cat "$out"/probe_log.* | awk '{print $3}' | median)
    median=$(awk -v us="${us:-0}" 'BEGIN { printf "%.3f", us / 1000 }')
  fi
  if awk -v m="$median" 'BEGIN { exit !(m > 0) }'; then
    echo "$median"
  else
    awk '/^latency average/ {printf "%.3f", $4}' "$out/probe-$1.txt"
  fi
  rm -f "$out"/probe_log.*
}

# What the link adds to a round trip; sets link_probe_line.
link_probe() {
  local direct linked
  echo 'SELECT 1;' >"$out/select1.sql"
  direct=$(probe_ms "$PGPORT")
  linked=$(probe_ms "$link_port")
  link_probe_line=$(awk -v d="$direct" -v l="$linked" -v rtt="$LINK_RTT_MS" -v out="$out" 'BEGIN {
    if (d <= 0 || l <= 0) printf "link: the SELECT 1 probe failed (%s/probe-*.txt)", out
    else printf "link: SELECT 1 at 1 client, median %.3f ms direct, %.3f ms over the link: +%.3f ms per round trip (%s ms asked)", d, l, l - d, rtt }')
  echo "bench/http.sh: $link_probe_line" >&2
}

# The link beside each contender's run: SELECT 1 at one more client over it
# for most of the run, so that the report shows whether every contender had
# the same link (the relay's first form gave pgbench's many clients a slower
# one than the gateway's few connections: docs/http-api.md).
declare -A link_under_load
with_link_probe() {        # with_link_probe KEY COMMAND...: as with_rss_sampling, KEY target,...
  local key=$1 seconds=$((DURATION - 2)) prober
  shift
  if [[ ${key%%,*} != *-link ]] || [ "$seconds" -lt 2 ]; then "$@"; return; fi
  (sleep 1; LINK_PROBE=$seconds probe_ms "$link_port" >"$out/under-load.ms") &
  prober=$!
  "$@"
  wait "$prober" || true
  link_under_load[$key]=$(cat "$out/under-load.ms" 2>/dev/null || true)
}

link_targets() {
  setup_pgbench bench_pgbench_link
  link_probe
  start_gateway gateway-link "$link_url/bench_gateway_link" "${PREDICT_THREADS:-}"
  gw_threads=${gw_threads:-$(grep -o '[0-9]* workers' "$out/gateway-link.log" | tail -n 1)}
  targets+=(pgbench-link gateway-link)
  if [ -z "${SKIP_FLASK:-}" ]; then start_flask flask-link "$link_url/bench_flask_link"; targets+=(flask-link); fi
}

run_pgbench_link() {       # run_pgbench_link CONNECTIONS > result
  PGPORT=$link_port run_pgbench "$1" pgbench-link
}

# The report's lines, to two decimals: each contender on the link against its
# peers there, the same on loopback, and each against itself on loopback.
link_ratio() {             # link_ratio LABEL A B
  printf '%-32s' "$1"
  ratio "$2" "$3" "%.2f"
  echo
}

link_ratios() {
  local t
  echo
  printf '%-32s' "link of ${LINK_RTT_MS} ms, at connections:"; for c in $CONNECTIONS; do printf ' %12s' "$c"; done; echo
  link_ratio "gateway-link / pgbench-link" gateway-link pgbench-link
  on postgresql && link_ratio "gateway / pgbench (loopback)" gateway pgbench
  if [ -z "${SKIP_FLASK:-}" ]; then
    link_ratio "gateway-link / flask-link" gateway-link flask-link
    on postgresql && link_ratio "gateway / flask (loopback)" gateway flask
  fi
  if on postgresql; then
    for t in pgbench gateway flask; do
      [ "$t" = flask ] && [ -n "${SKIP_FLASK:-}" ] && continue
      link_ratio "$t-link / $t" "$t-link" "$t"
    done
  fi
  for t in pgbench-link gateway-link flask-link; do
    [ -n "${link_under_load[$t,${CONNECTIONS%% *}]:-}" ] || continue
    printf '%-32s' "link beside $t, ms"
    for c in $CONNECTIONS; do printf ' %12s' "${link_under_load[$t,$c]:--}"; done
    echo
  done
  echo "$link_probe_line"
  echo "link beside X: the median of SELECT 1 at one more client over the link during X's run"
}

# The issue's target: batching saves round trips, so on the link the
# gateway's rate should come nearer pgbench's one-row rate than on loopback.
# Counted only where both had the same link: the relay shares the two cores,
# and its cost grows with the messages it carries, pgbench's one per row
# against the gateway's one per batch (beside pgbench-link's 64 clients the
# link measured 1.8-1.9 ms, beside the gateway 1.2; docs/http-api.md). Same:
# the median beside pgbench-link within 10% of the one beside gateway-link.
link_checks() {
  local c g p gl pl bp bg r rl
  on postgresql || return 0
  for c in $CONNECTIONS; do
    read -r g _ <<<"${result[gateway,$c]}"
    read -r p _ <<<"${result[pgbench,$c]}"
    read -r gl _ <<<"${result[gateway-link,$c]}"
    read -r pl _ <<<"${result[pgbench-link,$c]}"
    r=$(paired gateway pgbench "$c") rl=$(paired gateway-link pgbench-link "$c")
    bp=${link_under_load[pgbench-link,$c]:-0} bg=${link_under_load[gateway-link,$c]:-0}
    check "gateway / pgbench grows on the ${LINK_RTT_MS} ms link at $c connections ($gl / $pl against $g / $p on loopback$(of_rounds "$rl"); link beside them $bp and $bg ms)" \
      "$r > 0 && $rl > $r && ($bp == 0 || $bg == 0 || $bp <= 1.1 * $bg)"
  done
}
