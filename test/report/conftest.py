"""Fixtures of the report tests (issue 9): a throwaway cluster with two
databases holding the same predictions, one with the predict extension and
one with the managed schema (src/managed/sql/managed.sql, models compiled to PL/pgSQL),
so that every check runs in both PostgreSQL modes.

The predictions are the Titanic rows (the real CSV when it is there, else
the synthetic stand-in of test/titanic_data.py), scored by the database's
trigger and labelled with Survived: version 1 of "titanic" is the tutorial's
logistic regression, version 2 a depth-4 decision tree (few distinct
probabilities: ties everywhere), both exported with tools/predict_export.py
and a reference of the training rows.
"""

import datetime
import json
import math
import os
import subprocess
import sys
import tempfile
import warnings

import psycopg2
import psycopg2.extras
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TEST = os.path.dirname(HERE)
REPO = os.path.dirname(TEST)
for path in (os.path.join(REPO, "tools"), os.path.join(REPO, "models"), TEST):
    if path not in sys.path:
        sys.path.insert(0, path)

import predict_export as pe  # noqa: E402
from titanic_data import features_and_target, load_titanic  # noqa: E402
from managed_sql import compiled_sql, managed_schema_sql  # noqa: E402

PREDICT_SCORE = os.environ.get("PREDICT_SCORE", os.path.join(REPO, "bin", "predict-score"))
MODES = ("extension", "managed")
DAY0 = datetime.datetime(2026, 11, 1, tzinfo=datetime.timezone.utc)


def connect(dsn):
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SET extra_float_digits = 3; SET TimeZone = 'UTC'")
    return conn


@pytest.fixture(scope="session")
def cluster():
    """Connection settings (host, port, user) of a throwaway cluster."""
    if not os.access(PREDICT_SCORE, os.X_OK):
        pytest.fail("%s not found: run make first" % PREDICT_SCORE, pytrace=False)
    tmp = tempfile.mkdtemp(prefix="predict-report-")
    os.chmod(tmp, 0o755)   # the cluster belongs to postgres when we are root
    where = os.path.join(tmp, "pg")
    env = subprocess.run([os.path.join(TEST, "pg-cluster"), "start", where],
                         capture_output=True, text=True, check=True).stdout
    settings = dict(part.split("=", 1) for line in env.splitlines()
                    for part in line.replace("export ", "").split() if "=" in part)
    yield "host=127.0.0.1 port=%s user=%s" % (settings["PGPORT"], settings["PGUSER"])
    subprocess.run([os.path.join(TEST, "pg-cluster"), "stop", where], check=False)
    if os.path.isdir(tmp):
        os.rmdir(tmp)


def new_database(cluster, name, mode):
    """A database with the extension (mode "extension") or the managed schema."""
    admin = connect(cluster + " dbname=postgres")
    with admin.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)
        cur.execute("CREATE DATABASE %s" % name)
    admin.close()
    dsn = cluster + " dbname=" + name
    conn = connect(dsn)
    with conn.cursor() as cur:
        if mode == "extension":
            cur.execute("CREATE EXTENSION predict")
        else:
            cur.execute(managed_schema_sql())
    conn.close()
    return dsn


def deploy(conn, mode, name, doc, tmp_path, explain=False):
    """Deploy a model document (with explain: its rows explained in the
    log); returns its version."""
    text = json.dumps(doc)
    with conn.cursor() as cur:
        if mode == "extension":
            cur.execute("SELECT predict_deploy(%s, %s::jsonb, explain => %s)", (name, text, explain))
        else:
            path = os.path.join(str(tmp_path), "%s.json" % name)
            pe.write_model(doc, path)
            cur.execute("SELECT predict_internal.deploy_compiled(%s, %s::jsonb, %s, %s)",
                        (name, text, compiled_sql(path), explain))
        return cur.fetchone()[0]


def insert(conn, rows):
    """rows: (observation_id, observation dict, true_class or None, created_at)."""
    with conn.cursor() as cur:
        psycopg2.extras.execute_values(
            cur, "INSERT INTO predictions (observation_id, observation, true_class, created_at) VALUES %s",
            [(i, json.dumps(o), y, t) for i, o, y, t in rows], page_size=1000)


def fit(kind):
    """(pipeline, X, y): the tutorial's pipeline with a logistic regression or a tree."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder
    from sklearn.tree import DecisionTreeClassifier
    X, y = features_and_target(load_titanic())
    pre = ColumnTransformer([
        ("cat", make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                              OneHotEncoder(handle_unknown="ignore")), ["Sex", "Cabin", "Embarked"]),
        ("num", SimpleImputer(strategy="mean"), ["Pclass", "Age", "SibSp", "Parch", "Fare"]),
    ])
    est = LogisticRegression(max_iter=1000) if kind == "lr" else \
        DecisionTreeClassifier(max_depth=4, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipeline = make_pipeline(pre, est).fit(X, y)
    return pipeline, X, y


def export_with_reference(pipeline, X, name):
    doc = pe.export(pipeline, columns=list(X.columns), dtypes=dict(X.dtypes.items()), name=name,
                    training_rows=len(X))
    observations = pe.frame_to_observations(X, list(X.columns))
    doc["reference"] = pe.reference(doc, observations, pe.sklearn_scores(pipeline, doc, observations))
    return doc


def drifted(observations):
    """Production-like rows that differ from training: unseen categories,
    missing values sent as null, numbers sent as strings (Python's syntax
    included: the report reads them like the scorer), older passengers."""
    out = []
    for i, obs in enumerate(observations):
        o = dict(obs)
        if i % 7 == 0:
            o["Embarked"] = "X"                          # unseen
        if i % 11 == 0:
            o["Cabin"] = "Z%d" % (i % 5)                 # unseen
        if i % 5 == 0:
            o["Age"] = None                              # missing, as JSON null
        elif "Age" in o:
            o["Age"] = o["Age"] + 15
        if i % 13 == 0:
            o["Fare"] = "1_000.5" if i % 2 else " 12.5 "   # strings in a number column
        if i % 17 == 0:
            o["SibSp"] = True                            # 1
        out.append(o)
    return out


@pytest.fixture(scope="session")
def scenario(cluster, tmp_path_factory):
    """The two databases, filled the same way; returns a dict with their dsns
    and the documents."""
    tmp = tmp_path_factory.mktemp("models")
    lr, X, y = fit("lr")
    tree, _, _ = fit("tree")
    doc1 = export_with_reference(lr, X, "titanic")
    doc2 = export_with_reference(tree, X, "titanic")
    observations = pe.frame_to_observations(X, list(X.columns))
    labels = [int(v) for v in y]
    dsns = {}
    for mode in MODES:
        dsn = new_database(cluster, "report_" + mode, mode)
        conn = connect(dsn)
        assert deploy(conn, mode, "titanic", doc1, tmp) == 1
        # version 1: every training row, labelled, over three days; then 300
        # drifted rows without labels on the fourth day
        insert(conn, [(i, o, labels[i], DAY0 + datetime.timedelta(hours=i % 72, minutes=i % 60))
                      for i, o in enumerate(observations)])
        insert(conn, [(10000 + i, o, None, DAY0 + datetime.timedelta(days=3, minutes=i))
                      for i, o in enumerate(drifted(observations[:300]))])
        # version 2: the tree, every row labelled, on the fifth day
        assert deploy(conn, mode, "titanic", doc2, tmp) == 2
        insert(conn, [(20000 + i, o, labels[i], DAY0 + datetime.timedelta(days=4, seconds=i))
                      for i, o in enumerate(observations)])
        conn.close()
        dsns[mode] = dsn
    return {"dsn": dsns, "docs": {1: doc1, 2: doc2}}


@pytest.fixture(scope="session")
def agreement():
    """Max |difference| per metric against scikit-learn (or numpy), written to
    test/output/report-parity.json at the end of the session."""
    seen = {}
    yield seen
    out = os.path.join(TEST, "output")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "report-parity.json"), "w") as fh:
        json.dump({k: seen[k] for k in sorted(seen)}, fh, indent=1)


def record(agreement, name, got, want):
    """Track |got - want| for name; both finite numbers."""
    assert got is not None and want is not None and math.isfinite(got) and math.isfinite(want), (name, got, want)
    d = abs(got - want)
    agreement[name] = max(agreement.get(name, 0.0), d)
    return d
