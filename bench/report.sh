#!/bin/bash
# predict_report() over a million labelled predictions (issue 9: "under 5
# seconds on this machine").
#
#   bench/report.sh [--rows N] [--runs N] [--days N] [--explain]
#
# Trains the tutorial's Titanic pipeline (models/train_titanic.py on the
# Titanic CSV, or its synthetic stand-in when $TITANIC_CSV is absent),
# exports it with tools/predict-export --reference, deploys it in a
# throwaway cluster (shared_buffers=1GB, everything else PostgreSQL's
# defaults: 2 parallel workers per query) and logs N predictions (default
# 1,000,000) through the predictions trigger: Titanic rows drawn in turn,
# Age and Fare jittered so that nearly every probability is distinct (the
# ranking metrics' worst case), every row labelled (Survived, one in ten
# flipped), spread over --days days (default 30); with --explain, the
# version is deployed with explain, so that every row carries its
# explanation and the report computes the global importance of every
# column (issue 20). Then times, best and median of --runs (default 5)
# calls in one session:
#   SELECT predict_report()                  the whole report (jsonb)
#   each companion function                  once each
# Not part of `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-/usr/bin/python3}
rows=1000000 runs=5 days=30 explain=false
while [ $# -gt 0 ]; do
  case $1 in
    --explain) explain=true; shift ;;
    --rows) rows=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --days) days=$2; shift 2 ;;
    *) sed -n '2,20p' "$0" >&2; exit 2 ;;
  esac
done
echo "== build, and install into the tree's temporary install (make temp-install)"
make --no-print-directory -s temp-install

dir=$(mktemp -d /tmp/predict-bench-report.XXXXXX)
eval "$(test/pg-cluster start "$dir" shared_buffers=1GB)" >/dev/null
trap 'test/pg-cluster stop "$dir"' EXIT
data=$dir/data-files
mkdir -p "$data" && chmod 755 "$data"

echo "== model: the tutorial's pipeline, exported with its training reference"
"$PYTHON" - "$data" <<'EOF'
import json, os, sys
sys.path[:0] = ["tools", "models", "test"]
import predict_export as pe
import train_titanic
from titanic_data import load_titanic

out = sys.argv[1]
frame = load_titanic()
pipeline, X = train_titanic.train(frame)
doc = pe.export(pipeline, columns=list(X.columns), dtypes=dict(X.dtypes.items()), name="titanic",
                training_rows=len(X))
observations = pe.frame_to_observations(X, list(X.columns))
doc["reference"] = pe.reference(doc, observations, pe.sklearn_scores(pipeline, doc, observations),
                              pipeline=pipeline)
pe.write_model(doc, os.path.join(out, "titanic.json"))
with open(os.path.join(out, "titanic.jsonl"), "w") as fh:
    for obs, y in zip(observations, frame["Survived"]):
        fh.write(json.dumps({"obs": obs, "y": int(y)}) + "\n")
print("   %s, %d training rows" % (frame.attrs["source"], len(X)))
EOF
chmod 644 "$data"/*

psql() { command psql -X -v ON_ERROR_STOP=1 -q "$@"; }
echo "== data: $rows labelled predictions over $days days, scored by the trigger"
t0=$SECONDS
psql <<EOF
CREATE EXTENSION predict;
\set model \`cat $data/titanic.json\`
SELECT predict_deploy('titanic', :'model', explain => $explain) \g /dev/null
CREATE TEMP TABLE src (line jsonb);
\copy src FROM '$data/titanic.jsonl' WITH (FORMAT csv, QUOTE E'\x01', DELIMITER E'\x02')
CREATE TEMP TABLE titanic AS SELECT row_number() OVER () AS i, line->'obs' AS obs, (line->>'y')::smallint AS y FROM src;
SELECT setseed(0.25) \g /dev/null
INSERT INTO predictions (observation_id, observation, true_class, created_at)
SELECT g,
       CASE WHEN s.obs ? 'Age'
            THEN s.obs || jsonb_build_object('Age', greatest(0.5, (s.obs->>'Age')::float8 + round((random() * 6 - 3)::numeric, 1)::float8))
            ELSE s.obs END
       || jsonb_build_object('Fare', round(((s.obs->>'Fare')::float8 * (0.8 + random() * 0.4))::numeric, 4)),
       CASE WHEN random() < 0.9 THEN s.y ELSE 1 - s.y END,
       timestamptz '2026-11-01 00:00+00' + (g::float8 / $rows) * interval '$days days'
FROM generate_series(1, $rows::bigint) AS g
JOIN titanic s ON s.i = 1 + (g * 7919) % (SELECT count(*) FROM titanic);
VACUUM ANALYZE predictions;
EOF
echo "   $(psql -At -c "SELECT count(*) || ' rows (' || count(true_class) || ' labelled, ' || count(DISTINCT proba)
                       || ' distinct probabilities, ' || count(explanation) || ' explained), '
                       || pg_size_pretty(pg_total_relation_size('predictions'))
                       FROM predictions") in $((SECONDS - t0)) s"

# Wall-clock seconds of each of n runs of a query in one session, one per line.
times() {
  local query=$1 n=$2
  { echo '\timing on'; for _ in $(seq "$n"); do echo "$query"; done; } |
    psql -At | awk '/^Time: / { printf "%.3f\n", $2 / 1000 }'
}
summary() { sort -n | awk '{ t[NR] = $1 } END { printf "best %.3f s, median %.3f s, worst %.3f s (%d runs)", t[1], t[int((NR + 1) / 2)], t[NR], NR }'; }

echo "== timing (load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(getconf _NPROCESSORS_ONLN) cores)"
psql -At -c "SELECT count(*) FROM predictions" >/dev/null      # warm the cache
echo "   SELECT predict_report():                 $(times "SELECT length(predict_report()::text);" "$runs" | summary)"
for f in predict_report_metrics predict_report_calibration predict_report_psi predict_report_bins predict_report_daily \
         predict_report_importance; do
  printf '   SELECT * FROM %-27s %s\n' "$f():" "$(times "SELECT count(*) FROM $f();" 1 | awk '{ printf "%.3f s", $1 }')"
done
echo "   (load average after: $(cut -d' ' -f1-3 /proc/loadavg))"

echo "== the report's headline"
psql -At -F ' ' <<'EOF'
SELECT '   ' || metric || ' = ' || value FROM predict_report_metrics()
WHERE metric IN ('rows', 'labelled_rows', 'roc_auc', 'average_precision', 'log_loss', 'brier_score', 'accuracy');
SELECT '   PSI ' || feature || ' = ' || round(psi::numeric, 4) || ' (' || reading || ')' FROM predict_report_psi();
EOF
