#!/usr/bin/env python3
"""Tree models: bin/predict-score against scikit-learn on the same rows, one core.

usage: bench/trees.py [--rows N] [--predict-score PATH] [--no-complete-forest] [--only NAME]

Fits on the Titanic data (synthetic when the CSV is absent), exports with
tools/predict_export.py, samples N rows (default 1,000,000, with replacement,
fixed seed) and times, pinned to CPU 0 with OPENBLAS/OMP/MKL threads at 1:
  - a 100-tree RandomForestClassifier on the tutorial's preprocessing
    (constant imputer + sparse one-hot, mean imputer);
  - a 100-iteration HistGradientBoostingClassifier (OrdinalEncoder categories
    as categorical features, numbers with their missing values);
  - a 100-tree XGBoost XGBClassifier (n_jobs=1) on the tutorial's preprocessing
    (sparse: its zeros are missing values for XGBoost);
for each: predict-score reading the rows as JSON lines (parse + score + print)
and scikit-learn predict_proba on the same rows as one DataFrame (batch; the
frame is built before the clock starts), and checks they agree bit for bit.
Both wall and CPU time are printed: on a shared machine the CPU time is the
fairer measure (one thread each: scikit-learn's OpenMP is limited to one).
Then the load time of 500-tree forests of depth 12: fitted on the Titanic
pipeline, and a synthetic one whose trees are complete (4,095 splits each),
loaded with predict-score on no input (best of 3).
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings

for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"      # one core for everyone

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path[:0] = [os.path.join(REPO, "tools"), os.path.join(REPO, "test")]

import predict_export as pe          # noqa: E402
from titanic_data import features_and_target, load_titanic  # noqa: E402

CAT = ["Sex", "Cabin", "Embarked"]
NUM = ["Pclass", "Age", "SibSp", "Parch", "Fare"]


def forest(X, y, n_estimators=100, max_depth=None):
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder
    pre = ColumnTransformer([
        ("cat", make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                              OneHotEncoder(handle_unknown="ignore")), CAT),
        ("num", SimpleImputer(strategy="mean"), NUM),
    ])
    return make_pipeline(pre, RandomForestClassifier(
        n_estimators=n_estimators, max_depth=max_depth, random_state=0)).fit(X, y)


def hist_gradient_boosting(X, y):
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OrdinalEncoder
    pre = ColumnTransformer([
        ("cat", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), CAT),
        ("num", "passthrough", NUM),
    ])
    return make_pipeline(pre, HistGradientBoostingClassifier(
        max_iter=100, early_stopping=False, categorical_features=[0, 1, 2],
        random_state=0)).fit(X, y)


def xgboost_classifier(X, y):
    import xgboost
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder
    pre = ColumnTransformer([
        ("cat", make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                              OneHotEncoder(handle_unknown="ignore")), CAT),
        ("num", SimpleImputer(strategy="mean"), NUM),
    ])
    return make_pipeline(pre, xgboost.XGBClassifier(
        n_estimators=100, n_jobs=1, random_state=0)).fit(X, y)


def child_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_cli(args, obs_path, out_path):
    cpu0, t0 = child_cpu(), time.perf_counter()
    with open(obs_path, "rb") as inp, open(out_path, "wb") as out:
        subprocess.run(["taskset", "-c", "0"] + args, stdin=inp, stdout=out, check=True)
    return time.perf_counter() - t0, child_cpu() - cpu0


def bench_model(label, pipeline, rows, typed, obs_path, work, predict_score):
    doc = pe.export(pipeline, name="bench")
    model_path = os.path.join(work, "model.json")
    pe.write_model(doc, model_path)
    out_path = os.path.join(work, "out.jsonl")
    c_wall, c_cpu = run_cli([predict_score, "--model", model_path], obs_path, out_path)
    with open(out_path) as fh:
        c_proba = np.array([json.loads(line)["proba"] for line in fh])
    os.sched_setaffinity(0, {0})
    cpu0, t0 = time.process_time(), time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk_proba = pipeline.predict_proba(typed)[:, 1]
    sk_wall, sk_cpu = time.perf_counter() - t0, time.process_time() - cpu0
    n = len(rows)
    nodes = sum(len(t["value"]) * 2 - 1 for t in doc["estimator"]["trees"])
    print("%s (%d trees, %d nodes, %.1f MB of JSON)" % (
        label, len(doc["estimator"]["trees"]), nodes, os.path.getsize(model_path) / 1e6))
    print("  %-42s %9.3f s %12.0f rows/s   (cpu %.3f s)" % (
        "predict-score (JSON parse + score + print)", c_wall, n / c_wall, c_cpu))
    print("  %-42s %9.3f s %12.0f rows/s   (cpu %.3f s)" % (
        "scikit-learn predict_proba, batch", sk_wall, n / sk_wall, sk_cpu))
    print("  ratio predict-score / scikit-learn batch: %.2fx wall, %.2fx cpu"
          % (sk_wall / c_wall, sk_cpu / c_cpu))
    diff = float(np.max(np.abs(c_proba - sk_proba)))
    print("  max |predict-score - scikit-learn|: %.3g (%d rows differ bitwise)"
          % (diff, int(np.sum(c_proba != sk_proba))))
    os.unlink(out_path)
    os.unlink(model_path)
    return diff == 0.0


def load_time(predict_score, model_path, extra=()):
    best = None
    for _ in range(3):
        t0 = time.perf_counter()
        subprocess.run(["taskset", "-c", "0", predict_score, "--model", model_path] + list(extra),
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, check=True)
        t = time.perf_counter() - t0
        best = t if best is None else min(best, t)
    return best


def complete_forest_doc(template, n_trees=500, depth=12, seed=0):
    """template's document with n_trees complete trees of the given depth (random
    features and scikit-learn-like float64 thresholds, leaves in [0, 1])."""
    rng = np.random.RandomState(seed)
    nfeat = sum(len(b["features"]) for b in template["preprocessing"])
    nsplit = 2 ** depth - 1
    # preorder numbering of a complete tree: split i's left child is i + 1
    left, right, leaf = [0] * nsplit, [0] * nsplit, [0]

    def build(d):
        if d == depth:
            leaf[0] += 1
            return -leaf[0]
        i = build.next
        build.next += 1
        left[i] = build(d + 1)
        right[i] = build(d + 1)
        return i
    build.next = 0
    build(0)
    trees = []
    for _ in range(n_trees):
        trees.append({
            "feature": rng.randint(0, nfeat, nsplit).tolist(),
            "threshold": (np.float32(rng.rand(nsplit) * 80).astype(np.float64) / 2 +
                          np.float32(rng.rand(nsplit) * 80).astype(np.float64) / 2).tolist(),
            "left": left, "right": right,
            "value": rng.rand(nsplit + 1).tolist(),
        })
    doc = dict(template)
    doc["estimator"] = {"type": "random_forest", "trees": trees}
    return doc


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--predict-score", default=os.path.join(REPO, "bin", "predict-score"))
    ap.add_argument("--no-complete-forest", action="store_true",
                    help="skip the 110 MB synthetic forest of complete trees")
    ap.add_argument("--only", choices=["forest", "hist", "xgboost"],
                    help="time this model only (no load times)")
    args = ap.parse_args()

    X, y = features_and_target(load_titanic())
    work = tempfile.mkdtemp(prefix="predict-bench-trees-")
    rows = X.sample(n=args.rows, replace=True, random_state=1).reset_index(drop=True)
    obs_path = os.path.join(work, "rows.jsonl")
    with open(obs_path, "w") as fh:
        for rec in rows.to_dict("records"):
            fh.write(json.dumps({k: v for k, v in rec.items()
                                 if not (isinstance(v, float) and np.isnan(v))}) + "\n")
    typed = rows.astype({c: "float64" for c in NUM})
    print("rows: %d (%.0f MB of JSON lines), one core (taskset -c 0, BLAS/OpenMP threads 1)"
          % (args.rows, os.path.getsize(obs_path) / 1e6))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        builders = [
            ("forest", "RandomForestClassifier(n_estimators=100), tutorial preprocessing", forest),
            ("hist", "HistGradientBoostingClassifier(max_iter=100), categorical + missing values",
             hist_gradient_boosting),
            ("xgboost", "XGBClassifier(n_estimators=100, n_jobs=1), tutorial preprocessing",
             xgboost_classifier)]
        models = [(label, build(X, y)) for key, label, build in builders
                  if args.only in (None, key)]
    ok = True
    for label, pipeline in models:
        ok &= bench_model(label, pipeline, rows, typed, obs_path, work, args.predict_score)
    os.unlink(obs_path)
    if args.only:
        os.rmdir(work)
        return 0 if ok else 1

    print("load time, 500 trees of depth 12 (predict-score on no input, best of 3):")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        doc = pe.export(forest(X, y, n_estimators=500, max_depth=12), name="forest500")
    path = os.path.join(work, "forest500.json")
    pe.write_model(doc, path)
    nodes = sum(len(t["value"]) * 2 - 1 for t in doc["estimator"]["trees"])
    print("  fitted on the Titanic pipeline: %d nodes, %.1f MB: %.3f s"
          % (nodes, os.path.getsize(path) / 1e6, load_time(args.predict_score, path)))
    os.unlink(path)
    if not args.no_complete_forest:
        full = complete_forest_doc(doc)
        pe.write_model(full, path)
        size = os.path.getsize(path)
        print("  complete trees (synthetic): %d nodes, %.1f MB (--max-model-bytes %d): %.3f s"
              % (500 * (2 ** 13 - 1), size / 1e6, size,
                 load_time(args.predict_score, path, ["--max-model-bytes", str(size)])))
        os.unlink(path)
    os.rmdir(work)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
