"""predicted_class in every host is the pipeline's predict() (issue 18).

Models exported with no --threshold ("threshold": null): an unlimited-depth
tree (leaves with a 50/50 split score exactly 0.5, where predict() answers
classes_[0]), a forest (class 0's fractions summed on their own) and
gradient boosting.  For the Titanic rows and the adversarial rows, the CLI's
predicted_class must be scikit-learn's predict(), and SQLite's and
PostgreSQL's predict_class() and their predictions triggers must give the
CLI's class.
"""

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import warnings

import joblib
import pytest

from conftest import EXPORTER, PREDICT_SCORE, SQLITE_EXTENSION, pg_connect

import predict_export as pe  # noqa: E402  (tools/)
import titanic_data  # noqa: E402  (test/)
import tree_variants  # noqa: E402  (test/parity/)
from adversarial import adversarial_lines  # noqa: E402  (test/parity/)
from variants_front import decision_tree_unlimited  # noqa: E402  (test/parity/)

MODELS = {
    "tie_tree": decision_tree_unlimited,
    "tie_forest": tree_variants.random_forest_deep_scaled,
    "tie_boosting": tree_variants.gradient_boosting_default,
}

# issue 18's composites: a voting's forest reads "value0", a calibrated
# estimator compares its folds' mean columns, in every host through the core
import variants_estimators  # noqa: E402  (test/parity/)
MODELS.update({name: variants_estimators.ESTIMATOR_VARIANTS[name] for name in [
    "voting_soft_forest_boosting", "calibrated_sigmoid_logistic", "sgd_modified_huber",
    "gradient_boosting_exponential_logistic_init",
]})

_DONE = {}


@pytest.fixture(scope="module")
def workdir():
    # readable by the cluster's postgres user, for pg_read_file
    path = tempfile.mkdtemp(prefix="predict-class-")
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def exported(workdir):
    """name -> (model path, lines, CLI probabilities, CLI classes, predict() classes)."""
    frame = titanic_data.load_titanic()
    X, y = titanic_data.features_and_target(frame)

    def get(name):
        if name in _DONE:
            return _DONE[name]
        v = MODELS[name](X, y)
        pkl = os.path.join(workdir, name + ".pkl")
        joblib.dump(v.estimator, pkl)
        model = os.path.join(workdir, name + ".json")
        proc = subprocess.run([sys.executable, EXPORTER, pkl, "-o", model, "--name", name],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.returncode == 0, proc.stderr
        os.chmod(model, 0o644)
        with open(model) as fh:
            doc = json.load(fh)
        assert doc["threshold"] is None
        rows = pe.frame_to_observations(v.X, list(v.X.columns))
        pairs = [(o, pe.observation_line(o)) for o in rows]
        pairs += [(json.loads(t), t) for _, t in adversarial_lines(doc, max(rows, key=len))]
        # jsonb refuses \u0000 (so does the core): those rows cannot be stored in PostgreSQL
        pairs = [(o, t) for o, t in pairs if "\\u0000" not in t]
        obs = [o for o, _ in pairs]
        lines = [t for _, t in pairs]
        classes = []
        proba = pe.c_scores(model, lines, PREDICT_SCORE, classes)
        scored = [i for i, p in enumerate(proba) if isinstance(p, float)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = pe.sklearn_classes(v.estimator, doc, [obs[i] for i in scored])
        wrong = [(lines[i], classes[i], e) for i, e in zip(scored, expected) if classes[i] is not e]
        assert not wrong, "%s: the CLI's predicted_class is not predict(): %s" % (name, wrong[:3])
        _DONE[name] = (model, [lines[i] for i in scored], [proba[i] for i in scored],
                       [classes[i] for i in scored])
        return _DONE[name]
    return get


def test_the_tree_ties(exported):
    _, _, proba, classes = exported("tie_tree")
    ties = [c for p, c in zip(proba, classes) if p == 0.5]
    assert len(ties) >= 5 and not any(ties), ties


@pytest.mark.parametrize("name", list(MODELS))
def test_sqlite_predicted_class(name, exported, workdir):
    model, lines, _, classes = exported(name)
    conn = sqlite3.connect(os.path.join(workdir, "class_%s.db" % name), isolation_level=None)
    conn.enable_load_extension(True)
    conn.load_extension(SQLITE_EXTENSION)
    conn.execute("SELECT predict_install()")
    with open(model) as fh:
        conn.execute("SELECT predict_deploy(?, ?)", (name, fh.read()))
    conn.execute("SELECT predict_set_default(?)", (name,))
    got = [bool(conn.execute("SELECT predict_class(?, ?)", (line, name)).fetchone()[0])
           for line in lines]
    assert got == classes
    conn.executemany("INSERT INTO predictions (observation_id, observation) VALUES (?, ?)",
                     list(enumerate(lines)))
    logged = [bool(c) for (c,) in conn.execute(
        "SELECT predicted_class FROM predictions ORDER BY observation_id")]
    assert logged == classes
    conn.close()


@pytest.mark.parametrize("name", list(MODELS))
def test_postgresql_predicted_class(name, exported, database):
    model, lines, _, classes = exported(name)
    conn = pg_connect(database)
    cur = conn.cursor()
    # test_tree_adapters.py deploys some of these names in this database too
    deployed = "class_" + name
    cur.execute("SELECT predict_deploy(%s, pg_read_file(%s)::jsonb)", (deployed, model))
    cur.execute("SELECT predict_set_default(%s)", (deployed,))
    cur.execute("CREATE TEMP TABLE cls_%s (n int PRIMARY KEY, obs jsonb NOT NULL)" % name)
    cur.executemany("INSERT INTO cls_%s VALUES (%%s, %%s::jsonb)" % name, list(enumerate(lines)))
    cur.execute("SELECT predict_class(obs, %%s) FROM cls_%s ORDER BY n" % name, (deployed,))
    assert [c for (c,) in cur.fetchall()] == classes
    offset = 1000000 * (1 + list(MODELS).index(name))     # observation_id is unique
    cur.execute("INSERT INTO predictions (observation_id, observation) "
                "SELECT n + %%s, obs FROM cls_%s" % name, (offset,))
    cur.execute("SELECT predicted_class FROM predictions WHERE model = %s "
                "ORDER BY observation_id", (deployed,))
    assert [c for (c,) in cur.fetchall()] == classes
    conn.close()
