"""Managed mode's inlinable scorers (sql_codegen.c, "the inlinable
scorer"): predict_proba names the active versions' scorers, which the
planner inlines into the query, and they score every row as the PL/pgSQL
scorer does, bit for bit or with the same error, on both sides of their
guard."""

import json
import os

import psycopg2
import pytest

from conftest import REPO, managed_schema_sql
from test_sql_scorer import deploy

TITANIC = os.path.join(REPO, "models", "titanic.json")
BASE = {"Pclass": 3, "Sex": "male", "Age": 22, "SibSp": 1, "Parch": 0, "Fare": 7.25,
        "Cabin": "C85", "Embarked": "S"}
# each value replaces the base row's Age, Fare or Sex: inside the guard, at
# its edges, and outside it (the PL/pgSQL scorer's rows)
EDGES = [("Age", v) for v in (0, -0.0, 1e-200, 1e-201, -1e-250, 2905, 2906, 1e100, 1e300,
                              "1e400", None, "22", "abc", True, [1], {"a": 1})] + \
        [("Fare", v) for v in (1e-300, 5e-324, 1e308, -1e308)] + \
        [("Sex", v) for v in ("female", "other", "", 5, None, False, ["male"])] + \
        [("Cabin", v) for v in ("missing", "Z", None)]


def observations():
    rows = [BASE, {}, {"Age": None}]
    for key, value in EDGES:
        row = dict(BASE)
        row[key] = value
        rows.append(row)
        rows.append({k: v for k, v in row.items() if k != "Age"})
    return [json.dumps(r) for r in rows] + ["[]", "null", "1", '"x"']


@pytest.fixture(scope="module")
def inline_db(managed_db):
    app, admin = managed_db
    conn = psycopg2.connect(admin)
    conn.autocommit = True
    conn.cursor().execute("CREATE DATABASE inline_db OWNER app")
    conn.close()
    dsn = app.replace("dbname=appdb", "dbname=inline_db")
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    conn.cursor().execute(managed_schema_sql())
    conn.close()
    deploy(dsn, "titanic", TITANIC)
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    yield conn.cursor()
    conn.close()


def outcome(cur, query, obs):
    try:
        cur.execute("SAVEPOINT s")
        cur.execute(query, (obs,))
        value = cur.fetchone()[0]
        cur.execute("RELEASE SAVEPOINT s")
        return value.hex() if isinstance(value, float) else value
    except psycopg2.Error as e:
        cur.execute("ROLLBACK TO SAVEPOINT s")
        return (e.pgcode, e.pgerror.splitlines()[0])


def test_predict_proba_is_inlined(inline_db):
    cur = inline_db
    cur.execute("SELECT predict_internal.function_name('titanic', 1)")
    scorer = cur.fetchone()[0]
    cur.execute("CREATE TEMP TABLE rows (obs jsonb)")
    for query in ("SELECT predict_proba(obs) FROM rows", "SELECT predict_proba(obs, 'titanic') FROM rows"):
        cur.execute("EXPLAIN (VERBOSE, COSTS OFF) " + query)
        plan = "\n".join(r[0] for r in cur.fetchall())
        # the expression itself, the PL/pgSQL scorer only in its else branch
        assert "jsonb_typeof" in plan and "predict_proba" not in plan and "_score" not in plan, plan
        assert "predict_internal.%s(" % scorer in plan and "_inline" not in plan, plan


def test_inline_scores_as_the_plpgsql_scorer(inline_db):
    cur = inline_db
    cur.execute("BEGIN")
    cur.execute("SELECT predict_internal.function_name('titanic', 1)")
    scorer = cur.fetchone()[0]
    inline, plpgsql = [], []
    for obs in observations():
        inline.append(outcome(cur, "SELECT predict_proba(%s::jsonb)", obs))
        plpgsql.append(outcome(cur, "SELECT predict_internal.%s(%%s::jsonb)" % scorer, obs))
    cur.execute("COMMIT")
    assert inline == plpgsql
    # both sides of the guard were met: numbers, and errors
    assert sum(isinstance(o, str) for o in inline) > 30 and sum(isinstance(o, tuple) for o in inline) > 5


def test_predict_proba_follows_the_registry(inline_db, tmp_path):
    cur = inline_db
    doc = json.load(open(TITANIC))
    doc["estimator"]["intercept"] = doc["estimator"]["intercept"] + 1
    path = tmp_path / "other.json"
    path.write_text(json.dumps(doc))
    dsn = cur.connection.dsn
    deploy(dsn, "other", str(path))
    obs = json.dumps(BASE)

    def scores():
        cur.execute("SELECT predict_proba(%s::jsonb), predict_proba(%s::jsonb, 'other'), "
                    "predict_proba(%s::jsonb, 'titanic')", (obs, obs, obs))
        return cur.fetchone()

    titanic, other, _ = scores()
    assert titanic != other and scores() == (titanic, other, titanic)
    cur.execute("SELECT predict_set_default('other')")
    assert scores() == (other, other, titanic)
    deploy(dsn, "titanic", TITANIC)           # version 2, active
    cur.execute("SELECT predict_activate('titanic', 1)")
    cur.execute("SELECT predict_set_default('titanic')")
    assert scores() == (titanic, other, titanic)
    cur.execute("SELECT predict_internal.function_name('titanic', 1)")
    active = cur.fetchone()[0]
    cur.execute("SELECT pg_get_functiondef('predict_internal.default_score'::regproc)")
    assert "predict_internal.%s_inline(obs)" % active in cur.fetchone()[0]


TINY = os.path.join(REPO, "test", "pg", "models", "tiny.json")
# x + 2 [c = a] - 2 [c = b]: 1e-17 and -1e-17 give the probability 0.5
# exactly, where the class is the sign of the decision function
TIES = [{"x": x, "c": c} for x in (1e-17, -1e-17, 0, -0.0, 0.25, -0.25, 1e-200, 1e-201, 700, None)
        for c in ("a", "b", "missing", None)] + [{"x": "1"}, {"c": "z"}, {}]


@pytest.mark.parametrize("threshold", [None, 0.5, 0.25])
def test_the_log_scores_as_the_plpgsql_scorer(inline_db, tmp_path, threshold):
    """The log's trigger and predict_class(obs) take the default version's
    scorers by name (refresh_default writes them): each row's probability and class
    are the PL/pgSQL scorer's, or its error, on both sides of the guard and
    at the probability 0.5 of a null threshold."""
    cur = inline_db
    doc = json.load(open(TINY))
    doc["threshold"] = threshold
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(doc))
    version = deploy(cur.connection.dsn, "ties", str(path))
    cur.execute("SELECT predict_set_default('ties')")
    cur.execute("SELECT predict_internal.function_name('ties', %s)", (version,))
    scorer = cur.fetchone()[0]
    cur.execute("SELECT prosrc FROM pg_proc WHERE oid = 'predict_internal.default_score_class'::regproc")
    assert "%s_inline(obs)" % scorer in cur.fetchone()[0]
    cur.execute("SELECT prosrc FROM pg_proc WHERE oid = 'predictions_score'::regproc")
    assert "%s_inline(NEW.observation)" % scorer in cur.fetchone()[0]
    logged, classes, plpgsql = [], [], []
    cur.execute("BEGIN")
    for i, row in enumerate(TIES):
        obs = json.dumps(row)
        logged.append(outcome(cur, "INSERT INTO predictions (observation_id, observation) "
                                   "VALUES (%d, %%s::jsonb) RETURNING (proba, predicted_class, model)::text"
                              % (1000 * version + i), obs))
        classes.append(outcome(cur, "SELECT CASE WHEN predict_class(%s::jsonb) THEN 't' ELSE 'f' END", obs))
        if threshold is None:
            query = "SELECT (c.proba, c.predicted, 'ties')::text FROM predict_internal.%s_class(%%s::jsonb) c"
        else:
            query = ("SELECT (p, p >= %r::float8, 'ties')::text FROM predict_internal.%%s(%%%%s::jsonb) p"
                     % threshold)
        plpgsql.append(outcome(cur, query % scorer, obs))
    cur.execute("COMMIT")
    cur.execute("SELECT predict_set_default('titanic')")
    assert logged == plpgsql
    assert classes == [o if isinstance(o, tuple) else o.split(",")[1] for o in plpgsql]
    # the ties were met: 0.5 with either class where the threshold is null
    if threshold is None:
        assert "(0.5,t,ties)" in logged and "(0.5,f,ties)" in logged
