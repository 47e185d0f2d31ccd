"""Managed mode's feature stage at the edges of float8 (issue 18): products of
two variables (PolynomialFeatures) where PostgreSQL's checked arithmetic
raises and C overflows to infinity or underflows to zero, and norms of such
values, must give the scorer's values to the bit.

The model reads two number columns a and b, makes a * b (a polynomial term)
and the l2-normalized pair, and a HistGradientBoosting estimator (which
takes infinity) has, for each probe, trees splitting exactly at the C
product and one float64 step below it: each tree adds a distinct power of
two, so a product one ulp off on either side changes the probability."""

import json
import math
import subprocess

import numpy as np
import pytest

import predict_export as pe
from conftest import PREDICT_SCORE
from test_sql_scorer import cli, deploy, sql_scores
from titanic_data import features_and_target
from variants_features import FEATURE_TREE_VARIANTS, FEATURE_VARIANTS, SQL_REFUSED

PAIRS = [
    (3.0, 7.0), (1e200, 1e200), (-1e200, 1e200), (1e-200, 1e-200), (-1e-200, 1e-200),
    (1e-170, 1e-150), (1e-160, 1e-160), (1e300, 1e-300), (5e-324, 1e10), (5e-324, 0.5),
    (1e160, 1e160), (1.7976931348623157e308, 1.0), (1.7976931348623157e308, 1.0000000000000002),
    (1e155, 1e-155), (2.0 ** 600, 2.0 ** 423.9), (2.0 ** -600, 2.0 ** -475), (0.0, 1e300),
    (-0.0, 5e-324), (1e-151, 3e150), (7e-160, 9e161), (1e-160, 1e10), (3e-155, 7.1),
    (1e155, 3.3), (1e160, 1e-20),
]


def _threshold(t):
    return t if math.isfinite(t) else ("inf" if t > 0 else "-inf")


def _document():
    trees = []
    k = 0
    for a, b in PAIRS:
        with np.errstate(over="ignore"):
            value = np.float64(a) * np.float64(b)
        for feature in (0,):
            for t in (float(value), float(np.nextafter(value, -np.inf))):
                if not math.isfinite(t):
                    continue
                k += 1
                trees.append({"feature": [feature], "threshold": [_threshold(t)],
                              "left": [-1], "right": [-2], "missing_left": [0],
                              "value": [0.0, 2.0 ** -k]})
    # the normalized a: a / sqrt(a * a + b * b), split at its values in C
    for a, b in PAIRS[:8]:
        with np.errstate(over="ignore"):
            sq = np.float64(a) * np.float64(a) + np.float64(b) * np.float64(b)
        norm = np.sqrt(sq)
        if norm < 10 * np.finfo(np.float64).eps:
            norm = 1.0
        v = np.float64(a) / norm
        k += 1
        trees.append({"feature": [1], "threshold": [_threshold(float(v))], "left": [-1],
                      "right": [-2], "missing_left": [0], "value": [0.0, 2.0 ** -k]})
    return {
        "format": "predict-model/1", "name": "stage-edges",
        "columns": [{"name": "a", "type": "number"}, {"name": "b", "type": "number"}],
        "preprocessing": [{"column": "a", "steps": [], "features": ["a"]},
                          {"column": "b", "steps": [], "features": ["b"]}],
        "transforms": [{"type": "union", "weights": None, "features": ["a b", "na", "nb"],
                        "parts": [
                            [{"type": "polynomial", "check": "finite", "terms": [[0, 1]],
                              "features": ["a b"]}],
                            [{"type": "normalize", "check": "finite", "norm": "l2",
                              "zero_below": 2.220446049250313e-15, "features": ["na", "nb"]}]]}],
        "estimator": {"type": "hist_gradient_boosting", "baseline": 0.0, "trees": trees},
        "positive_class": 1,
        "provenance": {"sklearn_version": "1.2.1", "exported_at": "2026-12-05T00:00:00Z",
                       "training_rows": None},
    }


def test_products_and_norms_at_the_edges(managed_db, tmp_path):
    dsn, _ = managed_db
    path = tmp_path / "model.json"
    path.write_text(json.dumps(_document()))
    deploy(dsn, "stage-edges", path)
    lines = []
    for a, b in PAIRS:
        lines.append(json.dumps({"a": a, "b": b}))
        lines.append(json.dumps({"a": b, "b": a}))
    want = cli(path, lines)
    got = sql_scores(dsn, "stage-edges", lines)
    assert all("proba" in w for w in want), want
    # the probes are not vacuous: the trees tell the products apart
    assert len({w["proba"] for w in want}) > len(PAIRS) // 2
    bad = [(line, w, g) for line, w, g in zip(lines, want, got)
           if g.startswith("ERROR") or float(g.split()[0]) != w["proba"] or
           (g.split()[1] == "true") != w["predicted_class"]]
    assert not bad, bad[:5]


@pytest.mark.parametrize("name", sorted(SQL_REFUSED))
def test_sql_scorer_refuses_periodic_splines_by_name(name, tmp_path):
    """A periodic SplineTransformer is not compiled to PL/pgSQL (PostgreSQL has no exact
    float8 remainder): such a model is refused with one line naming the transform (and
    the variant is left out of test_sql_scorer.py)."""
    X, y = features_and_target()
    variants = dict(FEATURE_VARIANTS)
    variants.update(FEATURE_TREE_VARIANTS)
    v = variants[name](X, y)
    doc = pe.export(v.estimator, name=name.replace("_", "-"))
    path = tmp_path / "model.json"
    pe.write_model(doc, str(path))
    proc = subprocess.run([PREDICT_SCORE, "--model", str(path), "--sql"], capture_output=True,
                          text=True)
    assert proc.returncode == 2 and proc.stdout == ""
    assert SQL_REFUSED[name] in proc.stderr, proc.stderr
    assert "use the predict extension for this model" in proc.stderr
