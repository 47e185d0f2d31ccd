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
        return None if value is None else value.hex()
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
