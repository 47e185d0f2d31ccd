"""One tree model, three adapters, the same numbers (issue 8, acceptance 3).

Each tree estimator is fitted on the Titanic pipeline (the variants of
test/parity/tree_variants.py, plus a 500-tree forest of depth 12), exported
with tools/predict-export and then:
  - scored by bin/predict-score, the reference here;
  - deployed in PostgreSQL with predict_deploy(name, pg_read_file(path)::jsonb)
    and scored with predict_proba(obs, name) from a jsonb column;
  - deployed in SQLite (predict_sqlite.so) with predict_deploy(name, model)
    and scored with predict_proba(obs, name).
Observations are the 891 Titanic rows and the adversarial rows of
test/parity/adversarial.py (rows at every probed split threshold, float32
steps around them, category codes, rejected values).  Every probability must
equal the CLI's to the last bit, and every rejected row must be rejected with
the CLI's message.
"""

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import warnings

import joblib
import pytest

from conftest import EXPORTER, PREDICT_SCORE, SQLITE_EXTENSION, pg_connect

import predict_export as pe  # noqa: E402  (tools/)
import titanic_data  # noqa: E402  (test/)
import tree_variants  # noqa: E402  (test/parity/)
import variants_features  # noqa: E402  (test/parity/)
from adversarial import adversarial_lines  # noqa: E402  (test/parity/)


def forest_500_depth_12(X, y):
    """A 500-tree RandomForestClassifier of depth 12 on the tutorial's preprocessing."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    est = make_pipeline(tree_variants._tutorial_pre(), RandomForestClassifier(
        n_estimators=500, max_depth=12, random_state=12))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
    return tree_variants.Variant(est, X, y, True)


MODELS = {
    "decision_tree": tree_variants.decision_tree_deep_entropy_balanced,
    "extra_tree": tree_variants.extra_tree_single,
    "random_forest": tree_variants.random_forest_depth6_sqrt,
    "extra_trees": tree_variants.extra_trees_weighted,
    "gradient_boosting": tree_variants.gradient_boosting_zero_init_subsample,
    "hist_categorical": tree_variants.hist_gradient_boosting_categorical,
    "hist_missing": tree_variants.hist_gradient_boosting_missing,
    "forest_500": forest_500_depth_12,
    # the feature stage (issue 18): the same core in every adapter
    "stage_poly_boosting": variants_features.feat_poly_boosting,
    "stage_spline_tree": variants_features.feat_spline_continue_tree,
    "stage_union_pca_lr": variants_features.feat_pca_normalizer,
    "stage_kbest_sparse_lr": variants_features.feat_select_kbest_sparse,
}
# issue 18: the boosted trees of test/parity/variants_boosting.py
MODELS.update({
    "xgboost_sparse": tree_variants.BOOSTING_VARIANTS["xgboost_tutorial_sparse"],
    "xgboost_dense_missing": tree_variants.BOOSTING_VARIANTS["xgboost_dense_missing"],
    "adaboost_samme_r": tree_variants.BOOSTING_VARIANTS["adaboost_samme_r_stumps"],
    "adaboost_samme": tree_variants.BOOSTING_VARIANTS["adaboost_samme_depth3"],
    "gradient_boosting_exponential":
        tree_variants.BOOSTING_VARIANTS["gradient_boosting_exponential_constant_init"],
})

# issue 18's final estimators go through the same core in every adapter
import variants_estimators  # noqa: E402  (test/parity/)
MODELS.update({name: variants_estimators.ESTIMATOR_VARIANTS[name] for name in [
    "sgd_modified_huber", "gaussian_nb_wide", "voting_soft_weighted",
    "calibrated_isotonic_boosting_single", "calibrated_linear_svc",
    # GradientBoosting's init estimator on the float32 features
    "gradient_boosting_logistic_init", "gradient_boosting_forest_init",
]})


@pytest.fixture(scope="session")
def workdir():
    # readable by the cluster's postgres user, for pg_read_file
    path = tempfile.mkdtemp(prefix="predict-trees-")
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


_EXPORTED = {}


@pytest.fixture(scope="session")
def exported(workdir):
    """name -> (model path, observation lines, CLI results), built once per model."""
    frame = titanic_data.load_titanic()
    X, y = titanic_data.features_and_target(frame)

    def get(name):
        if name in _EXPORTED:
            return _EXPORTED[name]
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
        rows = pe.frame_to_observations(v.X, list(v.X.columns))
        lines = [pe.observation_line(o) for o in rows]
        lines += [text for _, text in adversarial_lines(doc, max(rows, key=len))]
        cli = pe.c_scores(model, lines, PREDICT_SCORE)
        _EXPORTED[name] = (model, lines, cli)
        return _EXPORTED[name]
    return get


def _check(name, lines, cli, got, adapter):
    """got: per line a float or an error message (str); must equal the CLI's bit for bit."""
    assert len(got) == len(cli)
    bad = [(lines[i][:120], cli[i], got[i]) for i in range(len(cli))
           if type(cli[i]) is not type(got[i]) or cli[i] != got[i]]
    assert not bad, "%s: %s differs from predict-score on %d of %d rows, e.g. %s" % (
        name, adapter, len(bad), len(cli), bad[:5])
    scored = sum(1 for g in got if isinstance(g, float))
    assert scored > 891 and scored < len(got), (scored, len(got))


@pytest.mark.parametrize("name", list(MODELS))
def test_sqlite_equals_cli(name, exported, workdir):
    model, lines, cli = exported(name)
    conn = sqlite3.connect(os.path.join(workdir, "%s.db" % name), isolation_level=None)
    conn.enable_load_extension(True)
    conn.load_extension(SQLITE_EXTENSION)
    with open(model) as fh:
        text = fh.read()
    t0 = time.perf_counter()
    assert conn.execute("SELECT predict_deploy(?, ?)", (name, text)).fetchone()[0] == 1
    got = []
    for line in lines:
        try:
            got.append(conn.execute("SELECT predict_proba(?, ?)", (line, name)).fetchone()[0])
        except (sqlite3.OperationalError, sqlite3.DataError) as e:
            # the core's message; its DETAIL line names the version, as PostgreSQL's
            message, _, detail = str(e).partition("\nDETAIL:  ")
            assert detail in ("", 'The observation was scored with model "%s" version 1.' % name), str(e)
            got.append(message)
    elapsed = time.perf_counter() - t0
    conn.close()
    print("%s: SQLite deployed and scored %d rows in %.2f s" % (name, len(lines), elapsed))
    _check(name, lines, cli, got, "SQLite")


@pytest.mark.parametrize("name", list(MODELS))
def test_postgresql_equals_cli(name, exported, database):
    import psycopg2
    model, lines, cli = exported(name)
    conn = pg_connect(database)
    cur = conn.cursor()
    t0 = time.perf_counter()
    cur.execute("SELECT predict_deploy(%s, pg_read_file(%s)::jsonb)", (name, model))
    assert cur.fetchone()[0] == 1
    deployed = time.perf_counter() - t0
    # jsonb refuses \u0000 (so does the core, docs "Columns and input values"): those
    # rows cannot be stored, and are not compared here
    keep = [i for i, line in enumerate(lines) if "\\u0000" not in line]
    cur.execute("CREATE TEMP TABLE obs_%s (n int PRIMARY KEY, obs jsonb NOT NULL)" % name)
    cur.executemany("INSERT INTO obs_%s VALUES (%%s, %%s::jsonb)" % name,
                    [(i, lines[i]) for i in keep])
    got = {}
    for i in keep:
        if isinstance(cli[i], float):
            continue
        try:
            cur.execute("SELECT predict_proba(obs, %%s) FROM obs_%s WHERE n = %%s" % name, (name, i))
            got[i] = cur.fetchone()[0]
        except psycopg2.Error as e:
            got[i] = e.diag.message_primary
    # the rows the CLI scores, in one query
    cur.execute("SELECT n, predict_proba(obs, %%s) FROM obs_%s WHERE n = ANY(%%s) ORDER BY n" % name,
                (name, [i for i in keep if isinstance(cli[i], float)]))
    got.update(dict(cur.fetchall()))
    conn.close()
    print("%s: PostgreSQL deployed in %.2f s, scored %d rows" % (name, deployed, len(keep)))
    _check(name, [lines[i] for i in keep], [cli[i] for i in keep], [got[i] for i in keep],
           "PostgreSQL")


def test_the_500_tree_forest_is_large_and_deep(exported):
    model, _, _ = exported("forest_500")
    with open(model) as fh:
        doc = json.load(fh)
    trees = doc["estimator"]["trees"]
    assert len(trees) == 500

    def depth(tree, i=0):
        if i < 0:
            return 0
        return 1 + max(depth(tree, tree["left"][i]), depth(tree, tree["right"][i]))
    assert max(depth(t) for t in trees) == 12
