#!/bin/bash
# predict-score against scikit-learn on the same 1,000,000 rows (bench/score.py).
set -eu
cd "$(dirname "$0")/.."
make -s bin/predict-score
exec /usr/bin/python3 bench/score.py "$@"
