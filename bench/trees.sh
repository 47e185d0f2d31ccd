#!/bin/bash
# Tree models: predict-score against scikit-learn on the same 1,000,000 rows,
# one core, and the load time of 500-tree forests of depth 12 (bench/trees.py).
set -eu
cd "$(dirname "$0")/.."
make -s bin/predict-score
exec /usr/bin/python3 bench/trees.py "$@"
