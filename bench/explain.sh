#!/bin/bash
# Explanations against scoring, and against XGBoost's pred_contribs (bench/explain.py).
set -eu
cd "$(dirname "$0")/.."
make -s bin/predict-score build/bench/explain-rate
exec /usr/bin/python3 bench/explain.py "$@"
