"""Per-split missing values of scikit-learn >= 1.3's standard trees
("missing": "learned", missing_left; docs/model-format.md, "Trees"),
end to end on hand-made documents (scikit-learn 1.2 cannot fit them): the
CLI and managed mode's PL/pgSQL send NaN the way each split says, and agree
bit for bit."""

import json
import math

from conftest import compiled_sql  # noqa: F401  (deploy uses it)
from test_sql_scorer import cli, deploy, sql_scores

# root: a missing x goes right; split 1: a missing y left; split 2: a missing y right
TREE = {"feature": [0, 1, 1], "threshold": [0.5, 0.5, 0.5], "missing_left": [0, 1, 0],
        "left": [1, -1, -3], "right": [2, -2, -4]}
FRACTIONS = [0.1, 0.2, 0.3, 0.4]
RAW = [-2.0, -1.0, 1.0, 2.0]
ROWS = [({}, 3), ({"x": 0}, 0), ({"y": 0}, 2), ({"y": 1}, 3), ({"x": 0, "y": 1}, 1),
        ({"x": 1}, 3), ({"x": None, "y": None}, 3), ({"x": 1, "y": 0}, 2)]


def _doc(name, estimator):
    return {"format": "predict-model/1", "name": name,
            "columns": [{"name": "x", "type": "number"}, {"name": "y", "type": "number"}],
            "preprocessing": [{"column": "x", "steps": [], "features": ["x"]},
                              {"column": "y", "steps": [], "features": ["y"]}],
            "estimator": estimator, "positive_class": 1, "threshold": None,
            "provenance": {"sklearn_version": "1.3.0", "exported_at": "2026-12-05T00:00:00Z",
                           "training_rows": None}}


def _expit(d):
    return 1.0 / (1.0 + math.exp(-d))


CASES = {
    "routed-tree": (dict(TREE, value=FRACTIONS, value0=[1 - f for f in FRACTIONS]),
                    "decision_tree", lambda leaf: FRACTIONS[leaf]),
    "routed-boosting": (dict(TREE, value=RAW), "gradient_boosting",
                        lambda leaf: _expit(0.5 + 0.1 * RAW[leaf])),
}


def _estimator(kind, tree):
    if kind == "decision_tree":
        return {"type": kind, "missing": "learned", "tree": tree}
    return {"type": kind, "missing": "learned", "init": 0.5, "learning_rate": 0.1, "trees": [tree]}


def test_missing_values_follow_each_split(managed_db, tmp_path):
    dsn, _ = managed_db
    for name, (tree, kind, expected) in CASES.items():
        path = tmp_path / ("%s.json" % name)
        path.write_text(json.dumps(_doc(name, _estimator(kind, tree))))
        deploy(dsn, name, path)
        lines = [json.dumps(obs) for obs, _ in ROWS]
        want = cli(path, lines)
        got = sql_scores(dsn, name, lines)
        for (obs, leaf), w, g in zip(ROWS, want, got):
            assert w["proba"] == expected(leaf), (name, obs, w)
            assert not g.startswith("ERROR") and float(g) == w["proba"], (name, obs, w, g)
