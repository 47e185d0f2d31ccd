#!/usr/bin/env python3
"""Throughput of bin/predict-score against scikit-learn on the same rows.

usage: bench/score.py [--rows N] [--predict-score PATH] [--compare PATH]

Trains the tutorial's Titanic pipeline (models/train_titanic.py), exports it,
samples N rows (default 1,000,000, with replacement, fixed seed) from the
Titanic data (synthetic when the CSV is absent), and times on one core:
  - bin/predict-score reading the rows as JSON lines (parsing included),
  - scikit-learn predict_proba on the same rows as one DataFrame (batch,
    vectorized; the DataFrame is built before the clock starts),
  - scikit-learn predict_proba one row at a time, as the tutorial's Flask
    app does, on a 2,000-row sample.
Prints rows/s for each and the ratios, on wall-clock and on CPU time (the
machine may be shared), and checks the two agree within 1e-12. --compare
times a second predict-score build (say, the one before a change) on the
same rows in the same run, and checks that it prints the same bytes.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"      # one core for everyone

import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path[:0] = [os.path.join(REPO, "tools"), os.path.join(REPO, "models"), os.path.join(REPO, "test")]

import predict_export as pe          # noqa: E402
import train_titanic                 # noqa: E402
from titanic_data import load_titanic  # noqa: E402


def child_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--predict-score", default=os.path.join(REPO, "bin", "predict-score"))
    ap.add_argument("--compare", metavar="PATH", help="another predict-score build to time alongside")
    args = ap.parse_args()

    frame = load_titanic()
    pipeline, X = train_titanic.train(frame)
    doc = pe.export(pipeline, name="titanic")
    work = tempfile.mkdtemp(prefix="predict-bench-")
    model_path = os.path.join(work, "titanic.json")
    pe.write_model(doc, model_path)

    rows = X.sample(n=args.rows, replace=True, random_state=1).reset_index(drop=True)
    obs_path = os.path.join(work, "rows.jsonl")
    with open(obs_path, "w") as fh:
        for rec in rows.to_dict("records"):
            fh.write(json.dumps({k: v for k, v in rec.items() if not (isinstance(v, float) and np.isnan(v))}) + "\n")
    size_mb = os.path.getsize(obs_path) / 1e6

    # predict-score (and the build compared with it), pinned to one core,
    # output parsed afterwards
    builds = [("predict-score", args.predict_score)]
    if args.compare:
        builds.append(("predict-score --compare", args.compare))
    timed = []
    for label, path in builds:
        out_path = os.path.join(work, "out-%d.jsonl" % len(timed))
        cpu0, t0 = child_cpu(), time.perf_counter()
        with open(obs_path, "rb") as inp, open(out_path, "wb") as out:
            subprocess.run(["taskset", "-c", "0", path, "--model", model_path],
                           stdin=inp, stdout=out, check=True)
        timed.append((label, time.perf_counter() - t0, child_cpu() - cpu0, out_path))
    out_path = timed[0][3]
    with open(out_path) as fh:
        c_proba = np.array([json.loads(line)["proba"] for line in fh])
    same_bytes = all(open(t[3], "rb").read() == open(out_path, "rb").read() for t in timed)

    # scikit-learn batch: the frame is typed before the clock starts
    typed = rows.astype({c: "float64" for c in train_titanic.NUMERIC})
    os.sched_setaffinity(0, {0})
    cpu0, t0 = time.process_time(), time.perf_counter()
    sk_proba = pipeline.predict_proba(typed)[:, 1]
    sk_wall, sk_cpu = time.perf_counter() - t0, time.process_time() - cpu0

    # scikit-learn one row at a time, as the Flask app does
    sample = rows.head(2000).to_dict("records")
    columns = list(X.columns)
    dtypes = {c: ("float64" if c in train_titanic.NUMERIC else "object") for c in columns}
    t0 = time.perf_counter()
    for rec in sample:
        pipeline.predict_proba(pd.DataFrame([rec], columns=columns).astype(dtypes))[0, 1]
    row_wall = (time.perf_counter() - t0) / len(sample)

    diff = float(np.max(np.abs(c_proba - sk_proba)))
    n = args.rows
    print("rows: %d (%.0f MB of JSON lines), model: tutorial Titanic pipeline, one core" % (n, size_mb))
    print("%-52s %12s %14s" % ("", "seconds", "rows/s"))
    for label, wall, cpu, _ in timed:
        print("%-52s %12.3f %14.0f   (cpu %.3f s)" % (label + " (JSON parse + score + print)", wall, n / wall, cpu))
    print("%-52s %12.3f %14.0f   (cpu %.3f s)" % ("scikit-learn predict_proba, batch", sk_wall, n / sk_wall, sk_cpu))
    print("%-52s %12.6f %14.0f   (per row, 2,000-row sample)" % ("scikit-learn predict_proba, one row", row_wall, 1 / row_wall))
    for label, wall, cpu, _ in timed:
        print("ratio %s / scikit-learn batch:   %.2fx wall, %.2fx cpu" % (label, sk_wall / wall, sk_cpu / cpu))
    c_wall = timed[0][1]
    print("ratio predict-score / scikit-learn per row: %.0fx" % (row_wall * n / c_wall))
    print("max |predict-score - scikit-learn|: %.3g (%d rows differ bitwise)" % (diff, int(np.sum(c_proba != sk_proba))))
    if args.compare:
        print("predict-score and --compare print the same bytes: %s" % ("yes" if same_bytes else "NO"))
    for f in [obs_path, model_path] + [t[3] for t in timed]:
        os.unlink(f)
    os.rmdir(work)
    return 0 if diff <= 1e-12 and same_bytes else 1


if __name__ == "__main__":
    sys.exit(main())
