"""predict_proba in SQL against scikit-learn and bin/predict-score.

The tutorial's pipeline is trained on the Titanic data (test/titanic_data.py:
the real CSV, or its synthetic stand-in), pickled, and exported with
tools/predict-export; the model is deployed, every row is scored with one
`SELECT predict_proba(obs) FROM t`, and the results must equal scikit-learn's
predict_proba within 1e-12 and bin/predict-score's to the last bit. The
committed models/titanic.json is checked against the CLI the same way.
"""

import json
import os
import subprocess
import sys

import joblib
import pytest

from conftest import PREDICT_SCORE, REPO, TITANIC_MODEL, connect, read

import predict_export as pe  # noqa: E402  (tools/)
import titanic_data  # noqa: E402  (test/)
import train_titanic  # noqa: E402  (models/)

TOLERANCE = 1e-12
EXPORTER = os.path.join(REPO, "tools", "predict-export")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(pipeline, X, model document path) exported by tools/predict-export."""
    frame = titanic_data.load_titanic()
    pipeline, X = train_titanic.train(frame)
    work = tmp_path_factory.mktemp("export")
    pickle = work / "pipeline.pickle"
    joblib.dump(pipeline, pickle)
    columns = work / "columns.json"
    columns.write_text(json.dumps(X.columns.tolist()))
    model = work / "exported.json"
    run = subprocess.run([sys.executable, EXPORTER, "-o", str(model), "--columns", str(columns),
                          "--name", "exported", str(pickle)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert run.returncode == 0, run.stderr
    return pipeline, X, str(model)


@pytest.fixture(scope="module")
def observations(trained):
    _, X, _ = trained
    return pe.frame_to_observations(X, X.columns.tolist())


def cli_scores(model_path, observations):
    lines = "".join(pe.observation_line(o) + "\n" for o in observations)
    run = subprocess.run([PREDICT_SCORE, "--model", model_path], input=lines,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert run.returncode in (0, 1), run.stderr
    return [json.loads(line) for line in run.stdout.splitlines()]


def sql_scores(database, name, model_path, observations):
    """Deploy the model as name and score every observation in one query."""
    conn = connect(database)
    cur = conn.cursor()
    cur.execute("SELECT predict_deploy(%s, %s::jsonb)", (name, read(model_path)))
    cur.execute("CREATE TEMP TABLE t (n int PRIMARY KEY, obs jsonb NOT NULL)")
    cur.executemany("INSERT INTO t VALUES (%s, %s::jsonb)",
                    [(i, pe.observation_line(o)) for i, o in enumerate(observations)])
    cur.execute("SELECT n, predict_proba(obs, %s), predict_class(obs, %s) FROM t ORDER BY n",
                (name, name))
    rows = cur.fetchall()
    conn.close()
    assert [r[0] for r in rows] == list(range(len(observations)))
    return [(r[1], r[2]) for r in rows]


def test_exported_model_equals_scikit_learn_and_cli(database, trained, observations):
    pipeline, X, model_path = trained
    reference = pipeline.predict_proba(X)[:, 1]
    sql = sql_scores(database, "exported", model_path, observations)
    cli = cli_scores(model_path, observations)
    assert len(sql) == len(cli) == len(reference) == len(X) > 0
    worst = 0.0
    for i, ((p, cls), c, r) in enumerate(zip(sql, cli, reference)):
        assert "proba" in c, "row %d: the CLI failed: %s" % (i, c)
        assert p == c["proba"], "row %d: SQL %r, predict-score %r" % (i, p, c["proba"])
        assert cls == c["predicted_class"], "row %d" % i
        worst = max(worst, abs(p - float(r)))
    assert worst <= TOLERANCE, "max |SQL - scikit-learn| = %g" % worst
    print("\n%d rows (%s): max |predict_proba - scikit-learn| = %.3g; bit-identical to predict-score"
          % (len(sql), titanic_data.load_titanic().attrs["source"], worst))


def test_committed_model_equals_cli(database, observations):
    sql = sql_scores(database, "titanic", TITANIC_MODEL, observations)
    cli = cli_scores(TITANIC_MODEL, observations)
    assert len(sql) == len(cli) == len(observations)
    for i, ((p, cls), c) in enumerate(zip(sql, cli)):
        assert "proba" in c, "row %d: the CLI failed: %s" % (i, c)
        assert (p, cls) == (c["proba"], c["predicted_class"]), "row %d" % i


@pytest.mark.skipif(not titanic_data.is_real(), reason="the committed model was trained on the real CSV")
def test_committed_model_equals_scikit_learn(database, trained, observations):
    pipeline, X, _ = trained
    reference = pipeline.predict_proba(X)[:, 1]
    sql = sql_scores(database, "titanic_committed", TITANIC_MODEL, observations)
    worst = max(abs(p - float(r)) for (p, _), r in zip(sql, reference))
    assert worst <= TOLERANCE, "max |SQL - scikit-learn| = %g" % worst


def test_trigger_scores_like_the_function(database, observations):
    """INSERT ... SELECT into predictions scores each row as predict_proba does."""
    conn = connect(database)
    cur = conn.cursor()
    cur.execute("SELECT predict_deploy('titanic', %s::jsonb)", (read(TITANIC_MODEL),))
    cur.execute("SELECT predict_set_default('titanic')")
    cur.execute("CREATE TEMP TABLE src (n int, obs jsonb)")
    cur.executemany("INSERT INTO src VALUES (%s, %s::jsonb)",
                    [(i, pe.observation_line(o)) for i, o in enumerate(observations)])
    cur.execute("INSERT INTO predictions (observation_id, observation) SELECT n, obs FROM src")
    cur.execute("SELECT count(*), count(*) FILTER (WHERE proba = predict_proba(observation, 'titanic')"
                " AND predicted_class = predict_class(observation, 'titanic')"
                " AND model = 'titanic') FROM predictions")
    total, same = cur.fetchone()
    assert total == len(observations) and same == total
    conn.close()
