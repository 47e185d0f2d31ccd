"""Managed mode's inlinable scorers (sql_codegen.c, "the inlinable
scorer"): predict_proba names the active versions' scorers, which the
planner inlines into the query, and they score every row as the PL/pgSQL
scorer does, bit for bit or with the same error, on both sides of their
guard."""

import json
import math
import os
import re

import psycopg2
import pytest

from conftest import REPO, managed_schema_sql
from test_sql_scorer import deploy

TITANIC = os.path.join(REPO, "models", "titanic.json")
BASE = {"Pclass": 3, "Sex": "male", "Age": 22, "SibSp": 1, "Parch": 0, "Fare": 7.25,
        "Cabin": "C85", "Embarked": "S"}


class Raw(str):
    """A JSON number as written (json.dumps would read it as a float first)."""


DROP = object()     # the key left out


def dumps(row):
    text = json.dumps({k: "\x00" + v if isinstance(v, Raw) else v for k, v in row.items() if v is not DROP})
    return re.sub(r'"\\u0000([^"]*)"', r"\1", text)


# ->> gives numeric_out's text, without exponent: 1e-198 is "0.", 197 zeros
# and "1", 200 bytes, the longest that the guard lets through
LONG = [1e-198, -1e-197, 1e-199, -1e-198, 1e199, -1e199, 1e200, Raw("0e-300"), Raw("0.000"),
        Raw("-0"), Raw("1." + "0" * 198), Raw("1." + "0" * 199), Raw("2" * 200), Raw("2" * 201),
        Raw("0." + "0" * 196 + "25"), Raw("-0." + "0" * 196 + "25")]
# each value replaces the base row's: inside the guard, at its edges, and
# outside it (the PL/pgSQL scorer's rows)
EDGES = [("Age", v) for v in [0, -0.0, 1e-200, 1e-201, -1e-250, 2905, 2906, 1e100, 1e300,
                              "1e400", None, "22", "abc", True, [1], {"a": 1}] + LONG] + \
        [("Fare", v) for v in (1e-300, 5e-324, 1e308, -1e308, DROP, Raw("7.2500"))] + \
        [("Pclass", v) for v in ("3", "3.0", " 3", "0x3", False, DROP, None, [])] + \
        [("Parch", v) for v in (DROP, None, -1, 1e-5)] + \
        [("Sex", v) for v in ("female", "other", "", 5, None, False, ["male"], [], {}, "5", DROP)] + \
        [("Cabin", v) for v in ("missing", "Z", None, 85, "", [], DROP)] + \
        [("Embarked", v) for v in ("missing", "C", None, 1, "1", "Z", True, {}, DROP)]


def observations(base=BASE, edges=EDGES):
    rows = [base, {}, {"Age": None}]
    for key, value in edges:
        row = dict(base)
        row[key] = value
        rows.append(row)
        rows.append({k: v for k, v in row.items() if k != "Age"})
    return [dumps(r) for r in rows] + ["[]", "null", "1", '"x"', "{}"]


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
    assert list(zip(observations(), inline)) == list(zip(observations(), plpgsql))
    # both sides of the guard were met: numbers, and errors
    assert sum(isinstance(o, str) for o in inline) > 30 and sum(isinstance(o, tuple) for o in inline) > 5


def same_outcomes(cur, name, rows):
    """Each row's outcome from predict_proba(obs, name) and from the PL/pgSQL scorer."""
    cur.execute("SELECT predict_internal.function_name(%s, 1)", (name,))
    scorer = cur.fetchone()[0]
    cur.execute("BEGIN")
    inline = [outcome(cur, "SELECT predict_proba(%%s::jsonb, '%s')" % name, r) for r in rows]
    plpgsql = [outcome(cur, "SELECT predict_internal.%s(%%s::jsonb)" % scorer, r) for r in rows]
    cur.execute("COMMIT")
    assert list(zip(rows, inline)) == list(zip(rows, plpgsql))
    return inline


def test_inline_at_the_bounds_of_expit(inline_db):
    """The expression lets through a decision function within expit's
    plain formula only, [-709.78, 700]: found here by bisection on Age
    (its coefficient is negative), where the scorer's result turns 0."""
    cur = inline_db
    cur.execute("SELECT predict_internal.function_name('titanic', 1)")
    scorer = cur.fetchone()[0]

    def zero(age):
        cur.execute("SELECT predict_internal.%s(%%s::jsonb) = 0" % scorer, (dumps(dict(BASE, Age=age)),))
        return cur.fetchone()[0]

    lo, hi = 0.0, 1e6
    assert not zero(lo) and zero(hi)
    while math.nextafter(lo, hi) < hi:
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if zero(mid) else (mid, hi)
    ages = [math.nextafter(lo, 0), lo, hi, math.nextafter(hi, math.inf), -lo, -lo * 2, -1e6]
    outcomes = same_outcomes(cur, "titanic", [dumps(dict(BASE, Age=a)) for a in ages])
    assert outcomes[1] != float.hex(0.0) and outcomes[2] == float.hex(0.0)


def variant(doc, tmp_path, name, fare_coef=None):
    """Titanic with Age not imputed, SibSp standardized, Embarked's "missing"
    category a "1" (a text that a number has: the guard checks the type),
    and Fare's coefficient scaled (the expression then bounds every
    number, not only the decision function)."""
    doc = json.loads(json.dumps(doc))
    doc["name"] = name
    blocks = {b["column"]: b for b in doc["preprocessing"]}
    blocks["Age"]["steps"] = []
    blocks["SibSp"]["steps"].append({"type": "standardize", "center": 0.5, "scale": 1.1})
    blocks["Embarked"]["steps"][1]["categories"][3] = "1"
    if fare_coef is not None:
        doc["estimator"]["coef"][-1] = fare_coef
        blocks["Fare"]["steps"][0]["value"] = 0.0     # its term within the bounds
    path = tmp_path / (name + ".json")
    path.write_text(json.dumps(doc))
    return path, doc


def number_bounds(doc):
    """The bound on each number column, as inline_bounds computes it."""
    coef, fixed, numbers, at = doc["estimator"]["coef"], abs(doc["estimator"]["intercept"]), [], 0
    for b in doc["preprocessing"]:
        width = len(b["features"])
        if width > 1:
            fixed += max([0.0] + [abs(c) for c in coef[at:at + width]])
        else:
            numbers.append((b["column"], b["steps"], coef[at]))
        at += width
    share = (600.0 - fixed) / len(numbers)
    bounds = {}
    for column, steps, c in numbers:
        scale = [s for s in steps if s["type"] == "standardize"]
        center, spread = (abs(scale[0]["center"]), abs(scale[0]["scale"])) if scale else (0.0, 1.0)
        bounds[column] = min(1e100, share * 0.99 * spread / abs(c) - center)
    return bounds


@pytest.mark.parametrize("fare_coef", [None, 1e95])
def test_inline_variants(inline_db, tmp_path, fare_coef):
    cur = inline_db
    doc = json.load(open(TITANIC))
    name = "variant-%s" % ("wide" if fare_coef is None else "bounded")
    path, doc = variant(doc, tmp_path, name, fare_coef)
    deploy(cur.connection.dsn, name, str(path))
    edges = [("SibSp", v) for v in (0.5, -1, 1e-198, 1e199, None, DROP, "1")] + \
            [("Embarked", v) for v in (1, "1", 1.0, True, None, "missing", "S", DROP)]
    if fare_coef is not None:
        bounds = number_bounds(doc)
        for column, b in bounds.items():
            for x in (b, -b, math.nextafter(b, math.inf), math.nextafter(-b, -math.inf),
                      b * (1 - 2 ** -40), b * (1 + 2 ** -40)):
                edges.append((column, x))
        edges += [("Fare", v) for v in (0, 1e-200, 1e-199, 1e-93, 7.25)]
    rows = observations(BASE, edges)
    outcomes = same_outcomes(cur, name, rows)
    assert sum(isinstance(o, str) for o in outcomes) > 10 and sum(isinstance(o, tuple) for o in outcomes) > 5


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
